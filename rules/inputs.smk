# Training inputs: TrainingTupleProducer per part of each shuffled file and per testing item, root_to_hdf per
# tuple (tauml.cli.inputs -> tauml.inputs.tuples, tauml.inputs.hdf) and feature_scaling over the training
# TauTuples (tauml.cli.inputs -> tauml.inputs.scaling) -> training_tuples/{training,testing}/, scaling/.


rule training_tuple:
    input:
        f"{SHUFFLED_DIR}/ShuffleMergeSpectral_{{idx}}.root",
    output:
        f"{INPUTS_DIR}/training/ShuffleMergeSpectral_{{idx}}_part{{part}}.root",
    wildcard_constraints:
        idx="[0-9]+",
        part="[0-9]+",
    params:
        cells=cell_flags(),
        n_parts=TRAINING_INPUTS["n_parts"],
    log:
        f"{OUT}/logs/training_tuple/{{idx}}_part{{part}}.log",
    benchmark:
        f"{OUT}/benchmarks/training_tuple/{{idx}}_part{{part}}.tsv"
    conda:
        "../envs/inputs.yaml"
    threads: TRAINING_INPUTS["threads"]
    resources:
        mem_mb=lambda w, threads: 1000 + 600 * threads,
        disk_mb=2000,
        runtime=TRAINING_INPUTS["runtime"],
    shell:
        "TrainingTupleProducer --input {input:q} --output {output:q} --n-parts {params.n_parts} --part {wildcards.part}"
        " {params.cells} --n-threads {threads} > {log:q} 2>&1"


rule testing_tuple:
    input:
        f"{PREP_DIR}/testing",
    output:
        f"{INPUTS_DIR}/testing/{{item}}.root",
    params:
        cells=cell_flags(),
        tuple=lambda w, input: f"{input}/{w.item}.root",
    log:
        f"{OUT}/logs/testing_tuple/{{item}}.log",
    benchmark:
        f"{OUT}/benchmarks/testing_tuple/{{item}}.tsv"
    conda:
        "../envs/inputs.yaml"
    threads: TRAINING_INPUTS["threads"]
    resources:
        mem_mb=lambda w, threads: 1000 + 600 * threads,
        disk_mb=2000,
        runtime=TRAINING_INPUTS["runtime"],
    shell:
        "TrainingTupleProducer --input {params.tuple:q} --output {output:q} {params.cells} --n-threads {threads}"
        " > {log:q} 2>&1"


rule training_tuple_hdf:
    input:
        f"{INPUTS_DIR}/{{kind}}/{{name}}.root",
    output:
        f"{INPUTS_DIR}/{{kind}}/{{name}}.h5",
    wildcard_constraints:
        kind="training|testing",
    params:
        chunk_size=TRAINING_INPUTS["hdf_chunk_size"],
    log:
        f"{OUT}/logs/training_tuple_hdf/{{kind}}/{{name}}.log",
    benchmark:
        f"{OUT}/benchmarks/training_tuple_hdf/{{kind}}/{{name}}.tsv"
    conda:
        "../envs/inputs.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        disk_mb=2000,
        runtime=TRAINING_INPUTS["runtime"],
    shell:
        "root_to_hdf --input {input:q} --output {output:q} --trees taus,inner_cells,outer_cells"
        " --chunk-size {params.chunk_size} > {log:q} 2>&1"


rule feature_scaling:
    input:
        tuples=expand(f"{SHUFFLED_DIR}/ShuffleMergeSpectral_{{idx}}.root", idx=SPECTRAL_JOBS),
        cfg=TRAINING_CFG_PATH,
    output:
        json=SCALING_JSON,
        quantiles=f"{SCALING_DIR}/quantile_params_v{SCALING_VERSION}.json",
    params:
        out_dir=output_dir,
    log:
        f"{OUT}/logs/feature_scaling/feature_scaling.log",
    benchmark:
        f"{OUT}/benchmarks/feature_scaling/feature_scaling.tsv"
    conda:
        "../envs/inputs.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        disk_mb=100,
        runtime=TRAINING_INPUTS["runtime"],
    shell:
        "feature_scaling --cfg {input.cfg:q} --file-path {input.tuples:q} --output-json-folder {params.out_dir:q}"
        " > {log:q} 2>&1"


ALL_TARGETS.extend(training_tuples("h5") + testing_tuples("h5") + [SCALING_JSON])
