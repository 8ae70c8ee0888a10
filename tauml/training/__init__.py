"""Training stage: the Hydra-composed configuration, fit from the DataLoader, callbacks, mlflow tracking, and the
mlruns helpers (set_mlflow_paths, print_results, run_tensorboard)."""
