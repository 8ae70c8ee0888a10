# Binning: CreateBinnedTuples (tauml.cli.binning -> tauml.binning.split) splits each dataset into the directory
# tuples/<dataset>/ of <tauType>_pt_<ptLow>_eta_<etaLow>.root bin files; CreateTupleSizeList
# (tauml.cli.binning -> tauml.binning.size_list) lists them in tuples/size_list.txt, which the ShuffleMerge
# rules consume (the bin directories are whole outputs, so no checkpoint is needed).

rule bin_dataset:
    input:
        lambda w: raw_tuples(w.dataset),
    output:
        directory(f"{BINNED_DIR}/{{dataset}}"),
    wildcard_constraints:
        dataset=DATASET_PATTERN,
    params:
        dir=lambda w, input: os.path.dirname(input[0]),
        pattern=raw_tuple_pattern,
        pt=edges_flag(BINNING_PT_BINS),
        eta=edges_flag(BINNING_ETA_BINS),
        algo=BINNING["compression"]["algo"],
        level=BINNING["compression"]["level"],
    log:
        f"{OUT}/logs/bin_dataset/{{dataset}}.log",
    benchmark:
        f"{OUT}/benchmarks/bin_dataset/{{dataset}}.tsv"
    conda:
        "../envs/preprocessing.yaml"
    threads: BINNING["n_threads"]
    resources:
        # reader ~0.5 GB + ~0.6 GB per writer process; bin files ~ input size (LZ4) plus a key spill
        mem_mb=lambda w, threads: 600 + 600 * max(1, threads - 1),
        disk_mb=lambda w, input: max(500, int(2 * input.size_mb)),
        runtime=lambda w, input: 30 + int(input.size_mb / 60),
    shell:
        "CreateBinnedTuples --output {output:q} --input-dir {params.dir:q} --file-name-pattern {params.pattern:q}"
        " --pt-bins {params.pt:q} --eta-bins {params.eta:q} --n-threads {threads}"
        " --compression-algo {params.algo} --compression-level {params.level} > {log:q} 2>&1 && tail -n 1 {log:q}"


rule size_list:
    input:
        expand(f"{BINNED_DIR}/{{dataset}}", dataset=DATASETS),
    output:
        f"{BINNED_DIR}/{SIZE_LIST}",
    params:
        dir=output_dir,
    log:
        f"{OUT}/logs/size_list/size_list.log",
    benchmark:
        f"{OUT}/benchmarks/size_list/size_list.tsv"
    conda:
        "../envs/preprocessing.yaml"
    threads: 1
    resources:
        mem_mb=500,
        disk_mb=10,
        runtime=30,
    shell:
        "CreateTupleSizeList --input {params.dir:q} > {output:q} 2> {log:q} && tail -n 1 {log:q}"


ALL_TARGETS.append(f"{BINNED_DIR}/{SIZE_LIST}")
