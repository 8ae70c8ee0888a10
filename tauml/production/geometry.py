"""The parametrised detector's geometry, resolutions and PF candidate types (GeV, cm).

Resolutions follow CMS performance papers (see docs/physics.md):
- tracker: CMS, "Description and performance of track and primary-vertex reconstruction with the CMS tracker",
  JINST 9 (2014) P10009 (pt resolution ~1 % at a few GeV rising to ~2 % at 100 GeV in the barrel and about twice
  that in the endcaps; transverse impact parameter ~90 um at 1 GeV, 20-30 um at 5 GeV, ~10 um at 100 GeV);
- ECAL: CMS, JINST 3 (2008) S08004 and JINST 8 (2013) P09009: sigma/E = 2.8 %/sqrt(E) + 12 % / E + 0.3 % in the
  test beam; in situ a constant term of ~0.7 % and ~150 MeV of noise and pile-up;
- HCAL: CMS, Eur. Phys. J. C 60 (2009) 359 and the particle-flow paper JINST 12 (2017) P10003: ~100 %/sqrt(E) +
  5 % for calibrated neutral hadrons.
"""
from __future__ import annotations

import numpy as np

TRACKER_ETA = 2.5
CALO_ETA = 3.0
MUON_ETA = 2.4
BARREL_ETA = 1.479
BEAM_SPOT = (0.0010, 0.0010, 3.5)  # sigma x, y, z of the luminous region (2018)
PV_RESOLUTION = (0.0012, 0.0012, 0.0015)
PV_MERGE_DZ = 0.05  # pile-up vertices closer than this in z merge with the primary vertex
# Pythia 8 (SaS) at 13 TeV: sigma_ND ~ 56 mb of sigma_inel ~ 79 mb; most non-diffractive interactions have a
# reconstructed vertex, so npv ~ 0.65 mu as in 2018 data
NON_DIFFRACTIVE_FRACTION = 0.71
PU_VERTEX_EFFICIENCY = 0.9
LOWEST = float(np.finfo(np.float32).min)  # the TauTuple default of a float that does not apply
PIXEL_LAYER_RADII = np.array([2.9, 6.8, 10.9, 16.0])  # Phase-1 pixel barrel (2017+)
PIXEL_OVERLAP = 0.15  # fraction of crossed pixel layers with a second hit in an overlapping module
ECAL_RADIUS_M = 1.29
B_FIELD_RADIUS_PER_GEV = 1.0 / (0.3 * 3.8)  # curvature radius in m per GeV of pt


class PFType:
    undefined, h, e, mu, gamma, h0 = 0, 1, 2, 3, 4, 5


def tracker_material(abseta):
    """Tracker material in radiation lengths: ~0.4 X0 at eta = 0, ~1.8 X0 around |eta| = 1.5 (JINST 9 P10009)."""
    return 0.4 + 1.4 * np.exp(-((abseta - 1.5) / 0.55) ** 2)


def track_resolution(pt, abseta):
    """(sigma_pt / pt, sigma_dxy, sigma_dz) of a track; the impact-parameter terms add linearly, as the measured
    resolutions fall more slowly than 1/pt between 1 and 10 GeV."""
    pt = np.maximum(pt, 0.1)
    endcap = 1 + 0.8 * np.maximum(abseta - 0.9, 0.0)
    sigma_pt = np.hypot(0.007, 1.5e-4 * pt) * endcap
    path = np.sqrt(np.cosh(abseta))
    sigma_dxy = 0.0009 + 0.0080 / pt * path
    sigma_dz = (0.0020 + 0.0100 / pt * path) * np.cosh(abseta) ** 0.7
    return sigma_pt, sigma_dxy, sigma_dz


def ecal_resolution(energy):
    """sigma_E / E of an electromagnetic shower."""
    energy = np.maximum(energy, 0.05)
    return np.sqrt((0.03 / np.sqrt(energy)) ** 2 + (0.15 / energy) ** 2 + 0.007**2)


def hcal_resolution(energy):
    """sigma_E / E of a calibrated hadron shower."""
    energy = np.maximum(energy, 0.1)
    return np.sqrt(1.0 / energy + 0.05**2)
