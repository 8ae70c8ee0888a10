# validation_tool (tauml.cli.validation -> tauml.validation.compare, .output, .summary, .plots) on the
# ShuffleMergeSpectral outputs -> validation/summary.txt, summary.json, pvalues.json, histograms.root, pdf/, png/.

rule validation:
    input:
        tuples=expand(f"{SHUFFLED_DIR}/ShuffleMergeSpectral_{{idx}}.root", idx=SPECTRAL_JOBS),
        id_json=f"{SHUFFLED_DIR}/dataset_hash.json",
        group_id_json=f"{SHUFFLED_DIR}/datagroup_hash.json",
    output:
        summary=f"{VALIDATION_DIR}/summary.txt",
        summary_json=f"{VALIDATION_DIR}/summary.json",
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
    benchmark:
        f"{OUT}/benchmarks/validation/validation.tsv"
    conda:
        "../envs/validation.yaml"
    threads: VALIDATION["threads"]
    resources:
        mem_mb=lambda w, threads: 1000 + 500 * threads,
        disk_mb=1000,
        runtime=VALIDATION["runtime"],
    shell:
        "validation_tool --input {params.input_dir:q} --regex {params.regex:q} --id_json {input.id_json:q}"
        " --group_id_json {input.group_id_json:q} --output {params.out_dir:q} --n_threads {threads} --legend"
        " {params.flags} > {log:q} 2>&1 && tail -n 1 {log:q}"


ALL_TARGETS.append(f"{VALIDATION_DIR}/pvalues.json")
