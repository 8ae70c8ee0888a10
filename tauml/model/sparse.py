"""Sparse cell batches -> dense grids inside the model (one scatter per cell block).

The loader ships, per grid, only the filled cells: ``<grid>_cells_index`` (N, 3) = (tau row in the batch, eta
cell, phi cell) and the features of each block (N, F); padding rows are all-zero at (0, 0, 0), so adding them
changes nothing. The batch size is taken from ``input_tau``.
"""
from __future__ import annotations

import keras
from keras import ops


def cells_index_name(location: str) -> str:
    return f"{location}_cells_index"


@keras.saving.register_keras_serializable(package="tauml")
class DensifyCells(keras.layers.Layer):
    """[input_tau (B, n), index (N, 3), block_1 (N, F1), ...] -> [grid_1 (B, c, c, F1), ...]."""

    def __init__(self, n_cells: int, **kwargs):
        super().__init__(**kwargs)
        self.n_cells = int(n_cells)

    def call(self, inputs):
        tau, index, *blocks = inputs
        batch = ops.shape(tau)[0]
        index = ops.cast(index, "int32")
        return [ops.scatter(index, block, (batch, self.n_cells, self.n_cells, ops.shape(block)[-1]))
                for block in blocks]

    def compute_output_shape(self, input_shapes):
        tau, _, *blocks = input_shapes
        return [(tau[0], self.n_cells, self.n_cells, block[-1]) for block in blocks]

    def get_config(self):
        return {**super().get_config(), "n_cells": self.n_cells}
