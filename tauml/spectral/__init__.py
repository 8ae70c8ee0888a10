"""CreateSpectralHists and ShuffleMergeSpectral (spec §5): spectrum histograms and the spectrum-flattening mix."""
from .acceptance import bin_acceptance, parse_tau_ratio, type_acceptance
from .create_hists import (FINE_ETA, FINE_PT, HIST_PREFIX, create_dataset_spectra, create_spectral_hists,
                           parse_hist_axis)
from .histograms import Axis, Hist2D, read_hist2d
from .inputs import job_range, job_segments, read_file_list, read_groups, write_mixed_file_list
from .merge import MergeResult, SpectralOptions, shuffle_merge_spectral

__all__ = [
    "Axis", "FINE_ETA", "FINE_PT", "HIST_PREFIX", "Hist2D", "MergeResult", "SpectralOptions", "bin_acceptance",
    "create_dataset_spectra", "create_spectral_hists", "job_range", "job_segments",
    "parse_hist_axis", "parse_tau_ratio", "read_file_list", "read_groups", "read_hist2d", "shuffle_merge_spectral",
    "type_acceptance", "write_mixed_file_list",
]
