"""Embedded TauTuple production: Pythia 8 events, a parametrised detector, FastJet jets and HPS-like taus."""
from .generator import PROCESSES
from .producer import ProductionStats, produce

__all__ = ["PROCESSES", "ProductionStats", "produce"]
