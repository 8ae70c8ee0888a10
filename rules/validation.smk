# validation_tool on the ShuffleMergeSpectral outputs -> validation/pvalues.json, histograms.root, pdf/, png/.

rule validation:
    input:
        tuples=expand(f"{SHUFFLED_DIR}/ShuffleMergeSpectral_{{idx}}.root", idx=SPECTRAL_JOBS),
        id_json=f"{SHUFFLED_DIR}/dataset_hash.json",
        group_id_json=f"{SHUFFLED_DIR}/datagroup_hash.json",
    output:
        pvalues=f"{VALIDATION_DIR}/pvalues.json",
        histograms=f"{VALIDATION_DIR}/histograms.root",
        pdf=directory(f"{VALIDATION_DIR}/pdf"),
        png=directory(f"{VALIDATION_DIR}/png"),
    params:
        regex=validation_regex,
        input_dir=lambda w, input: os.path.dirname(input.id_json),
        out_dir=output_dir,
        flags=validation_flags(),
    log:
        f"{OUT}/logs/validation/validation.log",
    conda:
        "../envs/validation.yaml"
    threads: VALIDATION.get("threads", 2)
    resources:
        mem_mb=lambda w, threads: 1000 + 500 * threads,
        disk_mb=1000,
        runtime=VALIDATION.get("runtime", 60),
    shell:
        "validation_tool --input {params.input_dir} --regex {params.regex:q} --id_json {input.id_json}"
        " --group_id_json {input.group_id_json} --output {params.out_dir} --n_threads {threads} --legend"
        " {params.flags} > {log} 2>&1"


ALL_TARGETS.append(f"{VALIDATION_DIR}/pvalues.json")
