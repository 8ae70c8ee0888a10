"""tauml: the TauMLTools chain (tuple production to ROC curves) as one reproducible Snakemake workflow."""
import contextlib
import sys

# The XRootD client crashes (segfault) when it is loaded into a process that has loaded TensorFlow (bundled
# libraries clash: xrootd/xrootd#2682, root-project/root#20782); loaded first, both work. Every tauml module
# passes through here, so tauml's commands read root:// inputs in training and evaluation too. A program that
# imported TensorFlow before tauml cannot load XRootD any more: it is left alone, so only root:// fails there.
if "tensorflow" not in sys.modules:
    with contextlib.suppress(ImportError):
        import XRootD.client  # noqa: F401

__version__ = "0.1.0"
