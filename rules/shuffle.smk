# The README's ShuffleMerge flow:
#   step 1, one job per tau type: tuples/ -> training_preparation/all/<type>_pt_20_eta_0.000.root (+trainingWeight)
#   its size list, then step 2: all/ -> training_preparation/training_tauTuple.root
#   testing (MergePerEntry): tuples/ -> training_preparation/testing/<item>.root

rule shufflemerge_step1:
    input:
        size_list=f"{BINNED_DIR}/size_list.txt",
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
    conda:
        "../envs/preprocessing.yaml"
    threads: SHUFFLE["n_threads"]
    resources:
        disk_mb=inputs_disk_mb,
        **SHUFFLE_RESOURCES,
    shell:
        "ShuffleMerge --cfg {input.cfg} --input {params.input} --output {output} --mode MergeAll"
        " {params.flags} --n-threads {threads} > {log} 2>&1"


# CreateTupleSizeList names files relative to all/; step 2 reads them as all/<file> (cfg items dir=all).
rule shufflemerge_step1_size_list:
    input:
        expand(f"{PREP_DIR}/all/{{tauType}}_{STEP1_NAME}.root", tauType=STEP1_TYPES),
    output:
        f"{PREP_DIR}/size_list.txt",
    params:
        dir=lambda w, input: os.path.dirname(input[0]),
    log:
        f"{OUT}/logs/shufflemerge_step1_size_list/size_list.log",
    conda:
        "../envs/preprocessing.yaml"
    threads: 1
    resources:
        mem_mb=500,
        disk_mb=10,
        runtime=10,
    shell:
        "CreateTupleSizeList --input {params.dir} 2> {log} | sed 's|^|all/|' > {output}.tmp && mv {output}.tmp {output}"


rule shufflemerge_step2:
    input:
        size_list=f"{PREP_DIR}/size_list.txt",
        cfg=SHUFFLE["step2"]["cfg"],
    output:
        f"{PREP_DIR}/training_tauTuple.root",
    params:
        input=size_list_dir,
        flags=shufflemerge_flags("step2"),
    log:
        f"{OUT}/logs/shufflemerge_step2/training_tauTuple.log",
    conda:
        "../envs/preprocessing.yaml"
    threads: SHUFFLE["n_threads"]
    resources:
        disk_mb=inputs_disk_mb,
        **SHUFFLE_RESOURCES,
    shell:
        "ShuffleMerge --cfg {input.cfg} --input {params.input} --output {output} --mode MergeAll"
        " {params.flags} --n-threads {threads} > {log} 2>&1"


rule shufflemerge_testing:
    input:
        size_list=f"{BINNED_DIR}/size_list.txt",
        cfg=SHUFFLE["testing"]["cfg"],
    output:
        directory(f"{PREP_DIR}/testing"),
    params:
        input=size_list_dir,
        flags=shufflemerge_flags("testing"),
    log:
        f"{OUT}/logs/shufflemerge_testing/testing.log",
    conda:
        "../envs/preprocessing.yaml"
    threads: SHUFFLE["n_threads"]
    resources:
        disk_mb=inputs_disk_mb,
        **SHUFFLE_RESOURCES,
    shell:
        "ShuffleMerge --cfg {input.cfg} --input {params.input} --output {output} --mode MergePerEntry"
        " {params.flags} --n-threads {threads} > {log} 2>&1"


ALL_TARGETS.extend([f"{PREP_DIR}/training_tauTuple.root", f"{PREP_DIR}/testing"])
