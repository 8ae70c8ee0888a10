"""tauml: the TauMLTools chain (tuple production to ROC curves) as one reproducible Snakemake workflow."""

__version__ = "0.1.0"
