"""Evaluation stage: predictions of a trained model (apply_training), DeepTau discriminators, weighted ROC
curves and working points per pt bin against legacy and baseline IDs (evaluate_performance), and the
MVA-like baseline (baseline_bdt)."""
