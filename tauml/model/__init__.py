"""The DeepTau v2 network (Keras 3, keras.ops only), its loss and metrics, and the saved model forms."""
from __future__ import annotations

from collections.abc import Mapping

from .compiled import compile_model, set_precision
from .forms import load_predictor, save_model_forms
from .network import build_network, dense_part


def build_model(training_cfg: Mapping, sparse: bool = False, shapes: Mapping[str, tuple] | None = None):
    """The network of a training_v1.yaml configuration; input shapes follow its enabled features."""
    if shapes is None:
        from ..features.config import input_shapes

        shapes = input_shapes(training_cfg)
    return build_network(training_cfg["SetupNN"], shapes, sparse=sparse)


__all__ = ["build_model", "build_network", "compile_model", "dense_part", "load_predictor", "save_model_forms",
           "set_precision"]
