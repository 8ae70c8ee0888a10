# Tuple production: raw/{dataset}/eventTuple_{job}.root (see docs/architecture.md).
# Embedded mode runs TauTupleProducer (Pythia 8 + parametrised detector); cmssw mode runs cmsRun on MiniAOD.
import re

PRODUCTION = config["production"]
CMSSW = PRODUCTION.get("cmssw", {})


def production_pileup(wildcards):
    return DATASETS[wildcards.dataset].get("pileup_mu", PRODUCTION.get("pileup_mu", 0))


def production_command(wildcards, output):
    """The command of one job; job j of a dataset uses seed + j (embedded) or every n-th input file (cmssw)."""
    dataset = DATASETS[wildcards.dataset]
    job = int(wildcards.job)
    if PRODUCTION["mode"] == "cmssw":
        files = CMSSW.get("input_files", {}).get(wildcards.dataset, [])[job :: dataset["jobs"]]
        return (
            f"cmsRun {CMSSW.get('cfg', 'Production.py')} sampleType={CMSSW.get('sample_type', 'MC')} "
            f"inputFiles={','.join(files)} maxEvents={dataset['events_per_job']} outputFile={output}"
        )
    return (
        f"TauTupleProducer --process {dataset['process']} --n-events {dataset['events_per_job']} "
        f"--seed {dataset['seed'] + job} --pileup {production_pileup(wildcards)} --output {output}"
    )


def production_runtime(wildcards):
    """Minutes: ~50 ms per event without pile-up on one core, plus ~2 ms per pile-up interaction, with margin."""
    dataset = DATASETS[wildcards.dataset]
    seconds = dataset["events_per_job"] * (0.05 + 0.002 * production_pileup(wildcards))
    return max(10, int(3 * seconds / 60))


rule produce:
    output:
        f"{OUT}/raw/{{dataset}}/eventTuple_{{job}}.root",
    log:
        f"{OUT}/logs/produce/{{dataset}}_{{job}}.log",
    wildcard_constraints:
        dataset="|".join(re.escape(name) for name in DATASETS),
        job=r"\d+",
    params:
        command=production_command,
    conda:
        "../envs/production.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: 1500 + 40 * int(production_pileup(wc)),
        disk_mb=lambda wc: max(100, DATASETS[wc.dataset]["events_per_job"] // 20),
        runtime=production_runtime,
    shell:
        "{params.command} > {log} 2>&1"


ALL_TARGETS.extend(path for dataset in DATASETS for path in raw_tuples(dataset))
