"""tauml: the TauMLTools chain (tuple production to ROC curves) as one reproducible Snakemake workflow."""
import contextlib

# The XRootD client segfaults on its first request in a process that loaded TensorFlow before it (bundled
# libraries clash: xrootd/xrootd#2682, root-project/root#20782); loaded first, both work. Every tauml module,
# Keras-using or not, passes through here, so root:// inputs stay readable in training and evaluation.
with contextlib.suppress(ImportError):
    import XRootD.client  # noqa: F401

__version__ = "0.1.0"
