# tauml: the TauMLTools chain as one Snakemake workflow.
#   snakemake --cores 2                        run the default chain (config/config.yaml)
#   snakemake --profile profiles/htcondor -n   plan it for HTCondor
from snakemake.utils import min_version, validate

min_version("9.0")


# A --configfile replaces the default configuration instead of being merged into it (dataset lists differ).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"



validate(config, "config/schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/production.smk"
include: "rules/binning.smk"
include: "rules/shuffle.smk"
include: "rules/spectral.smk"
include: "rules/validation.smk"
include: "rules/inputs.smk"
include: "rules/training.smk"
include: "rules/evaluation.smk"
include: "rules/batch.smk"  # last: derives batch-system requests from every rule's resources


rule all:
    input:
        ALL_TARGETS,
    default_target: True
