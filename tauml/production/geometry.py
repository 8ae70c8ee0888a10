"""The parametrised detector's geometry, resolutions and PF candidate types (GeV, cm)."""
from __future__ import annotations

import numpy as np

TRACKER_ETA = 2.5
CALO_ETA = 3.0
MUON_ETA = 2.4
BARREL_ETA = 1.479
BEAM_SPOT = (0.0010, 0.0010, 3.5)  # sigma x, y, z of the luminous region
PV_RESOLUTION = (0.0012, 0.0012, 0.0015)
LOWEST = float(np.finfo(np.float32).min)  # the TauTuple default of a float that does not apply
PIXEL_LAYER_RADII = np.array([2.9, 6.8, 10.9, 16.0])
B_FIELD_RADIUS_PER_GEV = 1.0 / (0.3 * 3.8)  # curvature radius in m per GeV of pt


class PFType:
    undefined, h, e, mu, gamma, h0 = 0, 1, 2, 3, 4, 5


def track_resolution(pt, abseta):
    sigma_pt = np.hypot(0.008, 1.5e-4 * pt) * (1 + 0.5 * (abseta > 1.5))
    sigma_dxy = np.hypot(0.0012, 0.009 / pt) * (1 + 0.3 * abseta)
    sigma_dz = np.hypot(0.0015, 0.012 / pt) * np.cosh(abseta) ** 0.5 * (1 + 0.3 * abseta)
    return sigma_pt, sigma_dxy, sigma_dz
