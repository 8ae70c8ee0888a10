# Rules of the shuffle stage (see docs/architecture.md), the README's ShuffleMerge flow:
#   step 1, one job per tau type: tuples/ -> training_preparation/all/<type>_pt_20_eta_0.000.root (+trainingWeight)
#   its size list, then step 2: all/ -> training_preparation/training_tauTuple.root
#   testing (MergePerEntry): tuples/ -> training_preparation/testing/<item>.root
from pathlib import Path

from tauml.binning import DEFAULT_ETA_BINS, DEFAULT_PT_BINS
from tauml.shufflemerge import cell_name

SHUFFLE = config["shufflemerge"]
TUPLES_DIR = f"{OUT}/tuples"  # binned tuples and their size_list.txt (rules/binning.smk)
PREP_DIR = f"{OUT}/training_preparation"
STEP1_TYPES = list(SHUFFLE["step1"]["cfgs"])
# step-1 outputs are named after the one bin per type that step 2 sees: <type>_pt_20_eta_0.000.root
STEP1_NAME = cell_name(SHUFFLE["step2"]["pt_bins"][0], SHUFFLE["step2"]["eta_bins"][0])


def _edges(step, key):
    """Bin edges of a step as a flag value; null means the binning stage's bins."""
    binning = config.get("binning") or {}
    default = binning.get(key, DEFAULT_PT_BINS if key == "pt_bins" else DEFAULT_ETA_BINS)
    edges = SHUFFLE[step][key] if SHUFFLE[step][key] is not None else default
    return ", ".join(f"{e:g}" for e in edges)


def shufflemerge_flags(step):
    """ShuffleMerge options of a step, from config["shufflemerge"][step] and the shared settings."""
    s = SHUFFLE[step]
    return (
        f"--pt-bins '{_edges(step, 'pt_bins')}' --eta-bins '{_edges(step, 'eta_bins')}'"
        f" --calc-weights {str(s['calc_weights']).lower()} --ensure-uniformity {str(s['ensure_uniformity']).lower()}"
        f" --max-bin-occupancy {s['max_bin_occupancy']} --disabled-branches '{s['disabled_branches']}'"
        f" --seed {SHUFFLE['seed']} --buffer-mb {SHUFFLE['buffer_mb']}"
    )


def _disk_mb(directory):
    """Room for an output as large as the inputs under `directory` (known once they exist)."""
    total = sum(f.stat().st_size for f in Path(directory).rglob("*.root")) if Path(directory).is_dir() else 0
    return max(1000, int(1.2 * total / 2**20))


SHUFFLE_RESOURCES = dict(
    mem_mb=SHUFFLE["buffer_mb"] * 2 + 800,  # pieces + block buffers, one copy in flight, interpreter
    runtime=SHUFFLE["runtime"],
)


rule shufflemerge_step1:
    input:
        size_list=f"{TUPLES_DIR}/size_list.txt",
        cfg=lambda w: SHUFFLE["step1"]["cfgs"][w.tauType],
    output:
        f"{PREP_DIR}/all/{{tauType}}_{STEP1_NAME}.root",
    wildcard_constraints:
        tauType="|".join(STEP1_TYPES),
    params:
        input=TUPLES_DIR,
        flags=shufflemerge_flags("step1"),
    log:
        f"{OUT}/logs/shufflemerge_step1/{{tauType}}.log",
    conda:
        "../envs/preprocessing.yaml"
    threads: SHUFFLE["n_threads"]
    resources:
        disk_mb=lambda w: _disk_mb(TUPLES_DIR),
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
        dir=f"{PREP_DIR}/all",
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
        input=PREP_DIR,
        flags=shufflemerge_flags("step2"),
    log:
        f"{OUT}/logs/shufflemerge_step2/training_tauTuple.log",
    conda:
        "../envs/preprocessing.yaml"
    threads: SHUFFLE["n_threads"]
    resources:
        disk_mb=lambda w: _disk_mb(f"{PREP_DIR}/all"),
        **SHUFFLE_RESOURCES,
    shell:
        "ShuffleMerge --cfg {input.cfg} --input {params.input} --output {output} --mode MergeAll"
        " {params.flags} --n-threads {threads} > {log} 2>&1"


rule shufflemerge_testing:
    input:
        size_list=f"{TUPLES_DIR}/size_list.txt",
        cfg=SHUFFLE["testing"]["cfg"],
    output:
        directory(f"{PREP_DIR}/testing"),
    params:
        input=TUPLES_DIR,
        flags=shufflemerge_flags("testing"),
    log:
        f"{OUT}/logs/shufflemerge_testing/testing.log",
    conda:
        "../envs/preprocessing.yaml"
    threads: SHUFFLE["n_threads"]
    resources:
        disk_mb=lambda w: _disk_mb(TUPLES_DIR),
        **SHUFFLE_RESOURCES,
    shell:
        "ShuffleMerge --cfg {input.cfg} --input {params.input} --output {output} --mode MergePerEntry"
        " {params.flags} --n-threads {threads} > {log} 2>&1"


ALL_TARGETS.extend([f"{PREP_DIR}/training_tauTuple.root", f"{PREP_DIR}/testing"])
