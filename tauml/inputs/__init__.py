"""Training inputs stage: TrainingTupleProducer (flat tuples), root_to_hdf, feature_scaling."""
