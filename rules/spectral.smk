# Spectral path: CreateSpectralHists per dataset (tauml.cli.spectral -> tauml.spectral.create_hists), the mixed
# file list and the union of the per-job hash JSONs (python -m tauml.cli.spectral_tools -> tauml.spectral.inputs,
# tauml.core.hashing), one ShuffleMergeSpectral job per --job-idx (tauml.cli.spectral -> tauml.spectral.merge).

rule spectral_hists:
    input:
        lambda w: raw_tuples(w.dataset),
    output:
        root=f"{SPECTRUM_DIR}/{{dataset}}.root",
        txt=f"{SPECTRUM_DIR}/{{dataset}}.txt",
    wildcard_constraints:
        dataset=DATASET_PATTERN,
    params:
        dir=lambda w, input: os.path.dirname(input[0]),
        pattern=raw_tuple_pattern,
        pt=SPECTRAL["pt_hist"],
        eta=SPECTRAL["eta_hist"],
    log:
        f"{OUT}/logs/spectral_hists/{{dataset}}.log",
    benchmark:
        f"{OUT}/benchmarks/spectral_hists/{{dataset}}.tsv"
    conda:
        "../envs/preprocessing.yaml"
    threads: SPECTRAL["hist_threads"]
    resources:
        mem_mb=lambda w, threads: 800 + 400 * threads,
        disk_mb=100,
        runtime=60,
    shell:
        "CreateSpectralHists --output {output.root:q} --output_entries {output.txt:q} --input-dir {params.dir:q}"
        " --file-name-pattern {params.pattern:q} --pt-hist {params.pt:q} --eta-hist {params.eta:q}"
        " --n-threads {threads} > {log:q} 2>&1 && tail -n 1 {log:q}"


rule spectral_filelist:
    input:
        expand(f"{SPECTRUM_DIR}/{{dataset}}.txt", dataset=DATASETS),
    output:
        f"{SPECTRUM_DIR}/filelist_mix.txt",
    params:
        seed=SPECTRAL["seed"],
    log:
        f"{OUT}/logs/spectral_filelist/filelist_mix.log",
    benchmark:
        f"{OUT}/benchmarks/spectral_filelist/filelist_mix.tsv"
    conda:
        "../envs/preprocessing.yaml"
    threads: 1
    resources:
        mem_mb=500,
        disk_mb=10,
        runtime=5,
    shell:
        "python -m tauml.cli.spectral_tools filelist {input:q} --output {output:q} --seed {params.seed}"
        " > {log:q} 2>&1 && tail -n 1 {log:q}"


rule shuffle_merge_spectral:
    input:
        filelist=f"{SPECTRUM_DIR}/filelist_mix.txt",
        spectra=expand(f"{SPECTRUM_DIR}/{{dataset}}.root", dataset=DATASETS),
        cfg=SPECTRAL["cfg"],
    output:
        root=f"{SHUFFLED_DIR}/ShuffleMergeSpectral_{{idx}}.root",
        hashes=[f"{spectral_job_dir('{idx}')}/{name}" for name in HASH_FILES],
        diagnostics=[f"{spectral_job_dir('{idx}')}/{g}{suffix}.root" for g in SPECTRAL_GROUPS for suffix in ("", "_n")],
    wildcard_constraints:
        idx=r"\d+",
    params:
        out_dir=lambda w, output: os.path.dirname(output.hashes[0]),
        spectrum_dir=lambda w, input: os.path.dirname(input.filelist),
        flags=spectral_flags(),
    log:
        f"{OUT}/logs/shuffle_merge_spectral/{{idx}}.log",
    benchmark:
        f"{OUT}/benchmarks/shuffle_merge_spectral/{{idx}}.tsv"
    conda:
        "../envs/preprocessing.yaml"
    threads: SPECTRAL["n_threads"]
    resources:
        mem_mb=SPECTRAL["resources"]["mem_mb"],
        disk_mb=SPECTRAL["resources"]["disk_mb"],
        runtime=SPECTRAL["resources"]["runtime"],
    shell:
        "ShuffleMergeSpectral --cfg {input.cfg:q} --input {input.filelist:q} --input-spec {params.spectrum_dir:q}"
        " --output {output.root:q} --out-dir {params.out_dir:q} --job-idx {wildcards.idx} --n-threads {threads}"
        " {params.flags} > {log:q} 2>&1 && tail -n 1 {log:q}"


rule spectral_hashes:
    input:
        dataset=expand(f"{spectral_job_dir('{idx}')}/dataset_hash.json", idx=SPECTRAL_JOBS),
        group=expand(f"{spectral_job_dir('{idx}')}/datagroup_hash.json", idx=SPECTRAL_JOBS),
    output:
        dataset=f"{SHUFFLED_DIR}/dataset_hash.json",
        group=f"{SHUFFLED_DIR}/datagroup_hash.json",
    log:
        f"{OUT}/logs/spectral_hashes/hashes.log",
    benchmark:
        f"{OUT}/benchmarks/spectral_hashes/hashes.tsv"
    conda:
        "../envs/preprocessing.yaml"
    threads: 1
    resources:
        mem_mb=500,
        disk_mb=10,
        runtime=5,
    shell:
        "(python -m tauml.cli.spectral_tools merge-hashes {input.dataset:q} --output {output.dataset:q}"
        " && python -m tauml.cli.spectral_tools merge-hashes {input.group:q} --output {output.group:q})"
        " > {log:q} 2>&1 && tail -n 1 {log:q}"


ALL_TARGETS.extend(expand(f"{SHUFFLED_DIR}/ShuffleMergeSpectral_{{idx}}.root", idx=SPECTRAL_JOBS))
ALL_TARGETS.extend([f"{SHUFFLED_DIR}/{name}" for name in HASH_FILES])
