"""ShuffleMerge (spec §3): mix bin files into uniformly populated training and testing tuples."""
