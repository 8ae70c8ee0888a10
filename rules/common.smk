# Paths and input functions shared by all rule files; logic lives in the tauml package.

OUT = config["output_dir"]
DATASETS = config["datasets"]

# Each stage's rule file appends the files (or input functions) that `rule all` builds.
ALL_TARGETS = []


def raw_tuples(dataset):
    n = DATASETS[dataset]["jobs"]
    return [f"{OUT}/raw/{dataset}/eventTuple_{job}.root" for job in range(n)]
