# ShuffleMerge (tauml.cli.shufflemerge -> tauml.shufflemerge.merge, .plan, .stream) in the README's flow, and
# CreateTupleSizeList (tauml.cli.binning -> tauml.binning.size_list) between its two steps:
#   step 1, one job per tau type: tuples/ -> training_preparation/all/<type>_pt_20_eta_0.000.root (+trainingWeight)
#   its size list, then step 2: all/ -> training_preparation/training_tauTuple.root
#   testing (MergePerEntry): tuples/ -> training_preparation/testing/<item>.root

rule shufflemerge_step1:
    input:
        size_list=f"{BINNED_DIR}/{SIZE_LIST}",
        cfg=lambda w: SHUFFLE["step1"]["cfgs"][w.tauType],
    output:
        f"{PREP_DIR}/all/{{tauType}}_{STEP1_NAME}.root",
    wildcard_constraints:
        tauType="|".join(STEP1_TYPES),
    params:
        input=size_list_dir,
        flags=shufflemerge_flags("step1"),
    log:
        f"{OUT}/logs/shufflemerge_step1/{{tauType}}.log",
    benchmark:
        f"{OUT}/benchmarks/shufflemerge_step1/{{tauType}}.tsv"
    conda:
        "../envs/preprocessing.yaml"
    threads: SHUFFLE["n_threads"]
    resources:
        disk_mb=inputs_disk_mb,
        **SHUFFLE_RESOURCES,
    shell:
        "ShuffleMerge --cfg {input.cfg:q} --input {params.input:q} --output {output:q} --mode MergeAll"
        " {params.flags} --n-threads {threads} > {log:q} 2>&1 && tail -n 1 {log:q}"


# Relative to training_preparation/, step 2's --input (cfg items dir=all); --filter keeps testing/ out of it.
rule shufflemerge_step1_size_list:
    input:
        expand(f"{PREP_DIR}/all/{{tauType}}_{STEP1_NAME}.root", tauType=STEP1_TYPES),
    output:
        f"{PREP_DIR}/{SIZE_LIST}",
    params:
        dir=output_dir,
    log:
        f"{OUT}/logs/shufflemerge_step1_size_list/size_list.log",
    benchmark:
        f"{OUT}/benchmarks/shufflemerge_step1_size_list/size_list.tsv"
    conda:
        "../envs/preprocessing.yaml"
    threads: 1
    resources:
        mem_mb=500,
        disk_mb=10,
        runtime=10,
    shell:
        "CreateTupleSizeList --input {params.dir:q} --filter '^all$' > {output:q} 2> {log:q} && tail -n 1 {log:q}"


rule shufflemerge_step2:
    input:
        size_list=f"{PREP_DIR}/{SIZE_LIST}",
        cfg=SHUFFLE["step2"]["cfg"],
    output:
        f"{PREP_DIR}/training_tauTuple.root",
    params:
        input=size_list_dir,
        flags=shufflemerge_flags("step2"),
    log:
        f"{OUT}/logs/shufflemerge_step2/training_tauTuple.log",
    benchmark:
        f"{OUT}/benchmarks/shufflemerge_step2/training_tauTuple.tsv"
    conda:
        "../envs/preprocessing.yaml"
    threads: SHUFFLE["n_threads"]
    resources:
        disk_mb=inputs_disk_mb,
        **SHUFFLE_RESOURCES,
    shell:
        "ShuffleMerge --cfg {input.cfg:q} --input {params.input:q} --output {output:q} --mode MergeAll"
        " {params.flags} --n-threads {threads} > {log:q} 2>&1 && tail -n 1 {log:q}"


rule shufflemerge_testing:
    input:
        size_list=f"{BINNED_DIR}/{SIZE_LIST}",
        cfg=SHUFFLE["testing"]["cfg"],
    output:
        directory(f"{PREP_DIR}/testing"),
    params:
        input=size_list_dir,
        flags=shufflemerge_flags("testing"),
    log:
        f"{OUT}/logs/shufflemerge_testing/testing.log",
    benchmark:
        f"{OUT}/benchmarks/shufflemerge_testing/testing.tsv"
    conda:
        "../envs/preprocessing.yaml"
    threads: SHUFFLE["n_threads"]
    resources:
        disk_mb=inputs_disk_mb,
        **SHUFFLE_RESOURCES,
    shell:
        "ShuffleMerge --cfg {input.cfg:q} --input {params.input:q} --output {output:q} --mode MergePerEntry"
        " {params.flags} --n-threads {threads} > {log:q} 2>&1 && tail -n 1 {log:q}"


ALL_TARGETS.extend([f"{PREP_DIR}/training_tauTuple.root", f"{PREP_DIR}/testing"])
