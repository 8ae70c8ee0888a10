"""The DeepTau v2 network (Keras 3, backend-agnostic).

Tau features -> dense net; per grid (inner 11x11, outer 21x21) and cell block (e-gamma, muon, hadrons) a 1x1
convolution net, the blocks concatenated and merged by another 1x1 net, then valid convolutions down to one
cell; tau and both grids concatenated -> dense head -> ``final_dense_last`` -> softmax ``main_output`` over
[e, mu, tau, jet]. With ``sparse=True`` the inputs are the loader's sparse cells, densified in the first layer.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import keras

from ..core.errors import TaumlError
from .blocks import NetSetup, reduce_features_1d, reduce_features_2d, reduce_grid
from .sparse import DensifyCells, cells_index_name

SUB_NETS = ("tau_net", "comp_net", "comp_merge_net", "conv_2d_net", "dense_net")
TAU_INPUT = "input_tau"
CELL_INPUT = re.compile(r"^input_(?P<location>[a-z]+)_(?P<block>[a-z]+)$")
N_OUTPUTS = 4  # e, mu, tau, jet


def net_setups(setup_nn: Mapping) -> dict[str, NetSetup]:
    """The five sub-network settings of a SetupNN section."""
    missing = [name for name in SUB_NETS if name not in setup_nn]
    if missing:
        raise TaumlError(f"SetupNN: missing {', '.join(missing)}")
    return {name: NetSetup.from_config(name, setup_nn[name]) for name in SUB_NETS}


def grid_layout(shapes: Mapping[str, tuple]) -> dict[str, list[str]]:
    """{location: [cell input names]} in input order, from the dense input shapes."""
    layout: dict[str, list[str]] = {}
    for name, shape in shapes.items():
        if name == TAU_INPUT:
            continue
        if not CELL_INPUT.match(name) or len(shape) != 3:
            raise TaumlError(f"model input '{name}' {shape}: expected input_<grid>_<block> of shape (n, n, F)")
        layout.setdefault(CELL_INPUT.match(name)["location"], []).append(name)
    return layout


def build_dense_network(setup_nn: Mapping, shapes: Mapping[str, tuple], name: str | None = None) -> keras.Model:
    """The network on dense inputs ``{name: shape without batch}`` (input_tau first, then the cell grids)."""
    nets = net_setups(setup_nn)
    inputs = {key: keras.Input(shape=tuple(shape), name=key) for key, shape in shapes.items()}
    features = []
    if TAU_INPUT in inputs:
        features.append(reduce_features_1d(inputs[TAU_INPUT], nets["tau_net"], "tau"))
    for location, names in grid_layout(shapes).items():
        reduced = [reduce_features_2d(inputs[key], nets["comp_net"], key.removeprefix("input_")) for key in names]
        if len(reduced) > 1:
            merged = keras.layers.Concatenate(axis=3, name=f"{location}_cell_concat")(reduced)
            grid = reduce_features_2d(merged, nets["comp_merge_net"], f"{location}_all")
        else:
            grid = reduced[0]
        grid = reduce_grid(grid, nets["conv_2d_net"], location)
        features.append(keras.layers.Flatten(name=f"{location}_cells_flatten")(grid))
    if not features:
        raise TaumlError("model: no inputs")
    x = keras.layers.Concatenate(axis=1, name="features_concat")(features) if len(features) > 1 else features[0]
    x = reduce_features_1d(x, nets["dense_net"], "final")
    x = keras.layers.Dense(N_OUTPUTS, kernel_initializer=nets["dense_net"].kernel_initializer,
                           name="final_dense_last")(x)
    output = keras.layers.Activation("softmax", dtype="float32", name="main_output")(x)
    return keras.Model(inputs=list(inputs.values()), outputs=output,
                       name=name or str(setup_nn.get("model_name", "DeepTau")))


def build_network(setup_nn: Mapping, shapes: Mapping[str, tuple], sparse: bool = False) -> keras.Model:
    """The dense network, or with ``sparse`` the same network (nested, same weights) behind sparse-cell inputs:
    ``input_tau`` (B, n), per grid ``<grid>_cells_index`` (N, 3) int32 and ``input_<grid>_<block>`` (N, F)."""
    dense = build_dense_network(setup_nn, shapes)
    if not sparse:
        return dense
    inputs, dense_inputs = {}, []
    tau = keras.Input(shape=tuple(shapes[TAU_INPUT]), name=TAU_INPUT)
    inputs[TAU_INPUT] = tau
    for location, names in grid_layout(shapes).items():
        index = keras.Input(shape=(3,), dtype="int32", name=cells_index_name(location))
        blocks = [keras.Input(shape=(shapes[key][-1],), name=key) for key in names]
        n_cells = shapes[names[0]][0]
        grids = DensifyCells(n_cells, name=f"{location}_densify")([tau, index, *blocks])
        inputs[index.name] = index
        inputs.update(zip(names, blocks))
        dense_inputs.extend(grids)
    output = dense([tau, *dense_inputs])
    return keras.Model(inputs=inputs, outputs=output, name=f"{dense.name}_sparse")


def dense_part(model: keras.Model) -> keras.Model:
    """The dense-input network of a model built by :func:`build_network` (itself when not sparse)."""
    if any(isinstance(layer, DensifyCells) for layer in model.layers):
        (nested,) = [layer for layer in model.layers if isinstance(layer, keras.Model)]
        return nested
    return model
