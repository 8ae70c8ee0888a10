"""CreateBinnedTuples and CreateTupleSizeList (spec §1-§2): split TauTuples into (tau type, pt, eta) bin files."""
