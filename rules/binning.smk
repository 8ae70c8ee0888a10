# Binning: CreateBinnedTuples per dataset (a checkpoint, so that later rules see the bin files, see
# binned_tuples() in rules/common.smk), and CreateTupleSizeList over all datasets.

checkpoint bin_dataset:
    input:
        lambda w: raw_tuples(w.dataset),
    output:
        directory(f"{BINNED_DIR}/{{dataset}}"),
    wildcard_constraints:
        dataset=DATASET_PATTERN,
    params:
        dir=lambda w, input: os.path.dirname(input[0]),
        pattern=raw_tuple_pattern,
        pt=edges_flag(BINNING.get("pt_bins", DEFAULT_PT_BINS)),
        eta=edges_flag(BINNING.get("eta_bins", DEFAULT_ETA_BINS)),
        algo=BINNING.get("compression", {}).get("algo", DEFAULT_COMPRESSION[0]),
        level=BINNING.get("compression", {}).get("level", DEFAULT_COMPRESSION[1]),
    log:
        f"{OUT}/logs/bin_dataset/{{dataset}}.log",
    conda:
        "../envs/preprocessing.yaml"
    threads: BINNING.get("n_threads", 2)
    resources:
        # reader ~0.5 GB + ~0.6 GB per writer process; bin files ~ input size (LZ4) plus a key spill
        mem_mb=lambda w, threads: 600 + 600 * max(1, threads - 1),
        disk_mb=lambda w, input: max(500, int(2 * input.size_mb)),
        runtime=lambda w, input: 30 + int(input.size_mb / 60),
    shell:
        "CreateBinnedTuples --output {output} --input-dir {params.dir} --file-name-pattern '{params.pattern}'"
        " --pt-bins '{params.pt}' --eta-bins '{params.eta}' --n-threads {threads}"
        " --compression-algo {params.algo} --compression-level {params.level} > {log} 2>&1"


rule size_list:
    input:
        expand(f"{BINNED_DIR}/{{dataset}}", dataset=DATASETS),
    output:
        f"{BINNED_DIR}/size_list.txt",
    params:
        dir=output_dir,
    log:
        f"{OUT}/logs/size_list/size_list.log",
    conda:
        "../envs/preprocessing.yaml"
    threads: 1
    resources:
        mem_mb=500,
        disk_mb=10,
        runtime=30,
    shell:
        "CreateTupleSizeList --input {params.dir} > {output}.tmp 2> {log} && mv {output}.tmp {output}"


ALL_TARGETS.append(f"{BINNED_DIR}/size_list.txt")
