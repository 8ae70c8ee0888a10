"""Unscaled training inputs of a set of taus: TauFlat rows, labels, and the non-empty cells of both grids.

Both sources (TauTuples through the kernels, flat TrainingTuples as stored) produce this form; the scaling
and batch assembly (``assemble``) never see where it came from.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import GRIDS


@dataclass
class Cells:
    """Non-empty cells of one grid, ordered by tau row: tau row, signed (eta, phi) indices, cell columns."""
    tau_row: np.ndarray  # int32 (N,)
    eta_index: np.ndarray  # int32 (N,)
    phi_index: np.ndarray  # int32 (N,)
    values: np.ndarray  # float32 (N, N_COLUMNS)

    def row_ranges(self, n_tau: int) -> tuple[np.ndarray, np.ndarray]:
        begin = np.searchsorted(self.tau_row, np.arange(n_tau), side="left")
        end = np.searchsorted(self.tau_row, np.arange(n_tau), side="right")
        return begin, end

    def take(self, taus: np.ndarray, n_tau: int) -> "Cells":
        """The cells of ``taus`` (row numbers 0..n_tau-1), renumbered 0..len(taus)-1 in that order."""
        begin, end = self.row_ranges(n_tau)
        counts = (end - begin)[taus]
        total = int(counts.sum())
        starts = np.repeat(begin[taus] - (np.cumsum(counts) - counts), counts)
        rows = starts + np.arange(total)
        new_tau = np.repeat(np.arange(len(taus), dtype=np.int32), counts)
        return Cells(new_tau, self.eta_index[rows], self.phi_index[rows], self.values[rows])

    @staticmethod
    def concat(parts: list["Cells"], sizes: list[int]) -> "Cells":
        shift = np.cumsum([0] + sizes[:-1])
        return Cells(np.concatenate([p.tau_row + s for p, s in zip(parts, shift)]).astype(np.int32),
                     np.concatenate([p.eta_index for p in parts]), np.concatenate([p.phi_index for p in parts]),
                     np.concatenate([p.values for p in parts]))


@dataclass
class RawTaus:
    tau: np.ndarray  # float32 (n, len(TAU_FLAT)), NaN = undefined
    tau_type: np.ndarray  # int32 (n,), -1 = no type
    has_reco_tau: np.ndarray  # bool (n,)
    cells: dict[str, Cells]  # "inner", "outer"

    def __len__(self) -> int:
        return len(self.tau)

    def take(self, taus: np.ndarray) -> "RawTaus":
        n = len(self)
        return RawTaus(self.tau[taus], self.tau_type[taus], self.has_reco_tau[taus],
                       {g: c.take(taus, n) for g, c in self.cells.items()})

    @staticmethod
    def concat(parts: list["RawTaus"]) -> "RawTaus":
        if len(parts) == 1:
            return parts[0]
        sizes = [len(p) for p in parts]
        return RawTaus(np.concatenate([p.tau for p in parts]), np.concatenate([p.tau_type for p in parts]),
                       np.concatenate([p.has_reco_tau for p in parts]),
                       {g: Cells.concat([p.cells[g] for p in parts], sizes) for g in GRIDS})
