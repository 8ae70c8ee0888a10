"""Building blocks of the DeepTau network: sub-network settings and layer -> BatchNorm -> activation -> dropout.

Layer names follow the original (``{block}_{dense|conv|norm|activation|dropout}_{n}``), so weights, TensorBoard
graphs and the frozen graph read the same as the original's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from ..core.errors import TaumlError
from .widths import layer_sizes, layer_width

ACTIVATIONS = ("PReLU", "relu", "tanh", "selu")
# keys of a SetupNN sub-network (tau_net, comp_net, comp_merge_net, dense_net; conv_2d_net has window_size)
NET_KEYS = {"activation", "dropout_rate", "reduction_rate", "first_layer_width", "last_layer_width",
            "min_n_layers", "max_n_layers", "window_size"}


@dataclass(frozen=True)
class NetSetup:
    """One sub-network of SetupNN (``tau_net``: {activation, dropout_rate, reduction_rate, ...})."""

    name: str
    activation: str
    dropout_rate: float = 0.0
    reduction_rate: float | None = 1.0
    first_layer_width: int | str | None = None
    last_layer_width: int | str | None = None
    min_n_layers: int | None = None
    max_n_layers: int | None = None
    window_size: int = 3

    @classmethod
    def from_config(cls, name: str, cfg) -> NetSetup:
        cfg = dict(cfg or {})
        unknown = set(cfg) - NET_KEYS
        if unknown:
            raise TaumlError(f"SetupNN.{name}: unknown key(s) {sorted(unknown)} (known: {sorted(NET_KEYS)})")
        if cfg.get("activation") not in ACTIVATIONS:
            raise TaumlError(f"SetupNN.{name}.activation: '{cfg.get('activation')}' is not one of {ACTIVATIONS}")
        if not 0 <= float(cfg.get("dropout_rate", 0)) < 1:
            raise TaumlError(f"SetupNN.{name}.dropout_rate: {cfg['dropout_rate']} is not in [0, 1)")
        if int(cfg.get("window_size", 3)) < 2:
            raise TaumlError(f"SetupNN.{name}.window_size: {cfg['window_size']} is below 2")
        return cls(name=name, **cfg)

    @property
    def selu(self) -> bool:
        return self.activation == "selu"

    @property
    def kernel_initializer(self) -> str:
        return "lecun_normal" if self.selu else "he_uniform"

    def sizes(self, n_inputs: int) -> list[int]:
        """Widths of the layers of a dense or 1x1-convolution sub-network with ``n_inputs`` inputs."""
        if self.first_layer_width is None or self.last_layer_width is None:
            raise TaumlError(f"SetupNN.{self.name}: needs first_layer_width and last_layer_width")
        first = layer_width(self.first_layer_width, n_inputs, self.dropout_rate)
        last = layer_width(self.last_layer_width, n_inputs, self.dropout_rate)
        try:
            return layer_sizes(first, last, self.reduction_rate, self.min_n_layers, self.max_n_layers)
        except TaumlError as err:
            raise TaumlError(f"SetupNN.{self.name}: {err}") from None


def block_ending(x, setup: NetSetup, name: str, n: int, spatial: bool):
    """BatchNorm (not with selu) -> activation (PReLU per unit, or per channel shared over eta and phi) -> dropout."""
    if not setup.selu:
        x = keras.layers.BatchNormalization(name=f"{name}_norm_{n}")(x)
    if setup.activation == "PReLU":
        x = keras.layers.PReLU(shared_axes=[1, 2] if spatial else None, name=f"{name}_activation_{n}")(x)
    else:
        x = keras.layers.Activation(setup.activation, name=f"{name}_activation_{n}")(x)
    if setup.dropout_rate > 0:
        dropout = keras.layers.AlphaDropout if setup.selu else keras.layers.Dropout
        x = dropout(setup.dropout_rate, name=f"{name}_dropout_{n}")(x)
    return x


def dense_block(x, units: int, setup: NetSetup, name: str, n: int):
    x = keras.layers.Dense(units, kernel_initializer=setup.kernel_initializer, name=f"{name}_dense_{n}")(x)
    return block_ending(x, setup, name, n, spatial=False)


def conv_block(x, filters: int, window: int, setup: NetSetup, name: str, n: int):
    x = keras.layers.Conv2D(filters, (window, window), kernel_initializer=setup.kernel_initializer,
                            name=f"{name}_conv_{n}")(x)
    return block_ending(x, setup, name, n, spatial=True)


def reduce_features_1d(x, setup: NetSetup, name: str):
    """Dense blocks of decreasing width."""
    for n, units in enumerate(setup.sizes(x.shape[-1]), start=1):
        x = dense_block(x, units, setup, name, n)
    return x


def reduce_features_2d(x, setup: NetSetup, name: str):
    """1x1-convolution blocks of decreasing width, cell by cell."""
    for n, filters in enumerate(setup.sizes(x.shape[-1]), start=1):
        x = conv_block(x, filters, 1, setup, name, n)
    return x


def conv2d_filters(n_inputs: int, grid: int, window: int, reduction_rate: float | None) -> int:
    """Filters of the next valid convolution: as many as inputs, or ceil((g/(g-k+1))^2 * n / r)."""
    if reduction_rate is None:
        return n_inputs
    return math.ceil((grid / (grid - window + 1)) ** 2 * n_inputs / reduction_rate)


def reduce_grid(x, setup: NetSetup, location: str):
    """Valid window x window convolutions until the grid is 1x1 (11 -> 9 -> ... -> 1)."""
    grid, n = x.shape[1], 1
    while grid > 1:
        window = min(grid, setup.window_size)
        filters = conv2d_filters(x.shape[-1], grid, window, setup.reduction_rate)
        x = conv_block(x, filters, window, setup, f"{location}_all_{window}x{window}", n)
        grid -= window - 1
        n += 1
    return x
