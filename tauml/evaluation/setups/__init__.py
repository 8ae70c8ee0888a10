"""Plot setups of evaluate_performance as data: ``run2.yaml``, ``phase2.yaml`` (``--setup NAME``)."""
