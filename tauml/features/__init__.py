"""Training inputs as a library: the training_v1.yaml reader, numba cell-grid kernels, scaling and the DataLoader.

numpy and numba only: no deep-learning framework is imported here (framework adapters belong to training).
"""
