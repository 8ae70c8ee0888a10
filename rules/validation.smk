# Rules of the validation stage (see docs/architecture.md): validation_tool on the ShuffleMergeSpectral
# outputs -> validation/pvalues.json, histograms.root, pdf/ and png/ plots.
import re

VALIDATION = config.get("validation", {})
VALIDATION_DIR = f"{OUT}/validation"
VALIDATION_INPUT_DIR = f"{OUT}/shuffled"
VALIDATION_JOBS = range(config.get("spectral", {}).get("n_jobs", 1))


def validation_regex():
    """Exactly this run's job outputs: neither stale files of a larger n_jobs nor files in sub-directories."""
    jobs = "|".join(map(str, VALIDATION_JOBS))
    return f"{re.escape(VALIDATION_INPUT_DIR)}/ShuffleMergeSpectral_({jobs})\\.root$"


def validation_flags():
    v = VALIDATION
    flags = [
        f"--nsplit {v.get('nsplit', 100)}", f"--test {v.get('test', 'Chi2')}",
        f"--pvthreshold {v.get('pvthreshold', 0.05)}", f"--correction {v.get('correction', 'bonferroni')}",
        f"--reference {v.get('reference', 'first')}",
    ]
    flags += ["--use_dataset_id"] * v.get("use_dataset_id", False) + ["--strict"] * v.get("strict", False)
    return " ".join(flags)


rule validation:
    input:
        tuples=[f"{VALIDATION_INPUT_DIR}/ShuffleMergeSpectral_{idx}.root" for idx in VALIDATION_JOBS],
        id_json=f"{VALIDATION_INPUT_DIR}/dataset_hash.json",
        group_id_json=f"{VALIDATION_INPUT_DIR}/datagroup_hash.json",
    output:
        pvalues=f"{VALIDATION_DIR}/pvalues.json",
        histograms=f"{VALIDATION_DIR}/histograms.root",
        pdf=directory(f"{VALIDATION_DIR}/pdf"),
        png=directory(f"{VALIDATION_DIR}/png"),
    params:
        regex=validation_regex(),
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
        "validation_tool --input {VALIDATION_INPUT_DIR} --regex {params.regex:q} --id_json {input.id_json}"
        " --group_id_json {input.group_id_json} --output {VALIDATION_DIR} --n_threads {threads} --legend"
        " {params.flags} > {log} 2>&1"


ALL_TARGETS.append(f"{VALIDATION_DIR}/pvalues.json")
