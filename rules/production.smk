# Tuple production: raw/{dataset}/eventTuple_{job}.root. Embedded mode runs TauTupleProducer
# (tauml.cli.production -> tauml.production.producer: Pythia 8 + parametrised detector); cmssw mode runs
# cmsRun on MiniAOD. The command line is built by production_command() in rules/common.smk.

rule produce:
    output:
        f"{OUT}/raw/{{dataset}}/eventTuple_{{job}}.root",
    log:
        f"{OUT}/logs/produce/{{dataset}}_{{job}}.log",
    benchmark:
        f"{OUT}/benchmarks/produce/{{dataset}}_{{job}}.tsv"
    wildcard_constraints:
        dataset=DATASET_PATTERN,
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
        "{params.command} > {log:q} 2>&1 && tail -n 1 {log:q}"


ALL_TARGETS.extend(path for dataset in DATASETS for path in raw_tuples(dataset))
