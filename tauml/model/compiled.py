"""Compiling the network for training: loss, the original's metrics (plain and sample-weighted), optimizer."""
from __future__ import annotations

from collections.abc import Mapping

import keras

from ..core.errors import TaumlError
from .losses import DEFAULT_SFS, TauCrossentropyV2, metrics

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def set_precision(precision: str) -> None:
    """``float32`` or ``bfloat16`` (mixed: bf16 compute, fp32 weights and softmax); call before building."""
    if precision not in PRECISIONS:
        raise TaumlError(f"precision '{precision}': expected one of {sorted(PRECISIONS)}")
    keras.config.set_dtype_policy(PRECISIONS[precision])


def make_optimizer(setup_nn: Mapping):
    name = str(setup_nn.get("optimizer_name", "Nadam"))
    optimizer = getattr(keras.optimizers, name, None)
    if not (isinstance(optimizer, type) and issubclass(optimizer, keras.optimizers.Optimizer)):
        raise TaumlError(f"SetupNN.optimizer_name: '{name}' is not a keras.optimizers optimizer")
    return optimizer(learning_rate=float(setup_nn.get("learning_rate", 1e-3)))


def compile_model(model: keras.Model, setup_nn: Mapping, jit_compile: bool = False) -> keras.Model:
    """Nadam (SetupNN.optimizer_name) at SetupNN.learning_rate, tau_crossentropy_v2 with SetupNN.TauLossesSFs,
    and the original's metrics, also as weighted metrics (named ``weighted_<metric>``)."""
    sfs = tuple(setup_nn.get("TauLossesSFs", DEFAULT_SFS))
    model.compile(optimizer=make_optimizer(setup_nn), loss=TauCrossentropyV2(sfs), metrics=metrics(sfs),
                  weighted_metrics=metrics(sfs, prefix="weighted_"), jit_compile=bool(jit_compile))
    return model
