"""The default random seed of the mixing tools (ShuffleMerge, ShuffleMergeSpectral and its tools), the original's.
config/schema.yaml repeats it as the workflow default; tests/test_facts.py checks that the two agree."""
DEFAULT_SEED = 1234567
