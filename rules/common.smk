# Constants, paths and input functions of all rule files; the rule files hold rules only, the logic lives
# in the tauml package.
import os
import re
from pathlib import Path

from tauml.binning.split import DEFAULT_COMPRESSION, DEFAULT_ETA_BINS, DEFAULT_PT_BINS
from tauml.core.cfgfile import read_cfg
from tauml.shufflemerge.plan import cell_name

OUT = config["output_dir"]
DATASETS = config["datasets"]
DATASET_PATTERN = "|".join(re.escape(name) for name in DATASETS)
RAW_DIR = f"{OUT}/raw"

# Each stage's rule file appends the files that `rule all` builds.
ALL_TARGETS = []


def raw_tuples(dataset):
    n = DATASETS[dataset]["jobs"]
    return [f"{RAW_DIR}/{dataset}/eventTuple_{job}.root" for job in range(n)]


def raw_tuple_pattern(wildcards):
    """--file-name-pattern selecting exactly this configuration's jobs of a dataset."""
    jobs = "|".join(map(str, range(DATASETS[wildcards.dataset]["jobs"])))
    return rf".*/eventTuple_({jobs})\.root"


def edges_flag(edges):
    return ", ".join(f"{e:g}" for e in edges)


def output_dir(wildcards, output):
    return os.path.dirname(output[0])


# --- production ---------------------------------------------------------------------------------------
PRODUCTION = config["production"]
CMSSW = PRODUCTION.get("cmssw", {})


def production_pileup(wildcards):
    return DATASETS[wildcards.dataset].get("pileup_mu", PRODUCTION.get("pileup_mu", 0))


def production_command(wildcards, output):
    """The command of one job; job j of a dataset uses seed + j (embedded) or every n-th input file (cmssw)."""
    dataset = DATASETS[wildcards.dataset]
    job = int(wildcards.job)
    if PRODUCTION["mode"] == "cmssw":
        files = CMSSW.get("input_files", {}).get(wildcards.dataset, [])[job :: dataset["jobs"]]
        return (
            f"cmsRun {CMSSW.get('cfg', 'Production.py')} sampleType={CMSSW.get('sample_type', 'MC')} "
            f"inputFiles={','.join(files)} maxEvents={dataset['events_per_job']} outputFile={output}"
        )
    return (
        f"TauTupleProducer --process {dataset['process']} --n-events {dataset['events_per_job']} "
        f"--seed {dataset['seed'] + job} --pileup {production_pileup(wildcards)} --output {output}"
    )


def production_runtime(wildcards):
    """Minutes: ~50 ms per event without pile-up on one core, plus ~2 ms per pile-up interaction, with margin."""
    dataset = DATASETS[wildcards.dataset]
    seconds = dataset["events_per_job"] * (0.05 + 0.002 * production_pileup(wildcards))
    return max(10, int(3 * seconds / 60))


# --- binning --------------------------------------------------------------------------------------------
BINNING = config.get("binning") or {}
BINNED_DIR = f"{OUT}/tuples"
BIN_FILE_PATTERN = "{tauType,[a-z_]+}_pt_{pt,[0-9]+}_eta_{eta,[0-9]+\\.[0-9]+}.root"


def binned_tuples(dataset):
    """The `{tauType}_pt_{pt}_eta_{eta}.root` files of one dataset (not other.root or summary.root), known once
    its bin_dataset checkpoint has run. Use it inside an input function, e.g.
    `input: lambda w: binned_tuples(w.dataset)`."""
    directory = checkpoints.bin_dataset.get(dataset=dataset).output[0]
    found = glob_wildcards(os.path.join(directory, BIN_FILE_PATTERN))
    return sorted(expand(os.path.join(directory, "{tauType}_pt_{pt}_eta_{eta}.root"), zip, **found._asdict()))


# --- shufflemerge ---------------------------------------------------------------------------------------
SHUFFLE = config["shufflemerge"]
PREP_DIR = f"{OUT}/training_preparation"
STEP1_TYPES = list(SHUFFLE["step1"]["cfgs"])
# step-1 outputs are named after the one bin per type that step 2 sees: <type>_pt_20_eta_0.000.root
STEP1_NAME = cell_name(SHUFFLE["step2"]["pt_bins"][0], SHUFFLE["step2"]["eta_bins"][0])
SHUFFLE_RESOURCES = dict(
    mem_mb=SHUFFLE["buffer_mb"] * 2 + 800,  # pieces + block buffers, one copy in flight, interpreter
    runtime=SHUFFLE["runtime"],
)


def shufflemerge_edges(step, key):
    """Bin edges of a step as a flag value; null means the binning stage's bins."""
    default = BINNING.get(key, DEFAULT_PT_BINS if key == "pt_bins" else DEFAULT_ETA_BINS)
    edges = SHUFFLE[step][key] if SHUFFLE[step][key] is not None else default
    return edges_flag(edges)


def shufflemerge_flags(step):
    """ShuffleMerge options of a step, from config["shufflemerge"][step] and the shared settings."""
    s = SHUFFLE[step]
    return (
        f"--pt-bins '{shufflemerge_edges(step, 'pt_bins')}' --eta-bins '{shufflemerge_edges(step, 'eta_bins')}'"
        f" --calc-weights {str(s['calc_weights']).lower()} --ensure-uniformity {str(s['ensure_uniformity']).lower()}"
        f" --max-bin-occupancy {s['max_bin_occupancy']} --disabled-branches '{s['disabled_branches']}'"
        f" --seed {SHUFFLE['seed']} --buffer-mb {SHUFFLE['buffer_mb']}"
    )


def size_list_dir(wildcards, input):
    """The directory a size list describes: ShuffleMerge's --input."""
    return os.path.dirname(input.size_list)


def inputs_disk_mb(wildcards, input):
    """Room for an output as large as the ROOT files under the size list's directory."""
    directory = Path(input.size_list).parent
    total = sum(f.stat().st_size for f in directory.rglob("*.root")) if directory.is_dir() else 0
    return max(1000, int(1.2 * total / 2**20))


# --- spectral -------------------------------------------------------------------------------------------
SPECTRAL = config["spectral"]
SPECTRUM_DIR = f"{OUT}/spectrum"
SHUFFLED_DIR = f"{OUT}/shuffled"
SPECTRAL_JOBS = list(range(SPECTRAL["n_jobs"]))
SPECTRAL_GROUPS = list(read_cfg(SPECTRAL["cfg"]))
HASH_FILES = ("dataset_hash.json", "datagroup_hash.json")


def spectral_job_dir(idx):
    """The original's ./out of job idx: hash JSONs and per-group diagnostics."""
    return f"{SHUFFLED_DIR}/hashes/out_{idx}"


def spectral_flags():
    """ShuffleMergeSpectral options shared by all jobs, from config["spectral"]."""
    s = SPECTRAL
    flags = [
        f"--pt-bins '{s['pt_bins']}'", f"--eta-bins '{s['eta_bins']}'", f"--tau-ratio '{s['tau_ratio']}'",
        f"--n-jobs {s['n_jobs']}", f"--seed {s['seed']}", f"--parity {s['parity']}", f"--mode {s['mode']}",
        f"--lastbin-disbalance {s['lastbin_disbalance']}", f"--lastbin-takeall {str(s['lastbin_takeall']).lower()}",
        f"--enable-emptybin {str(s['enable_emptybin']).lower()}",
        f"--refill-spectrum {str(s['refill_spectrum']).lower()}",
        f"--compression-algo {s['compression_algo']}", f"--compression-level {s['compression_level']}",
        f"--prefix '{s['prefix'] or RAW_DIR}'",
    ]
    if s["disabled_branches"]:
        flags.append(f"--disabled-branches '{s['disabled_branches']}'")
    if s["max_entries"] is not None:
        flags.append(f"--max-entries {s['max_entries']}")
    return " ".join(flags)


# --- validation -----------------------------------------------------------------------------------------
VALIDATION = config.get("validation", {})
VALIDATION_DIR = f"{OUT}/validation"


def validation_regex(wildcards, input):
    """Exactly this run's job outputs: neither stale files of a larger n_jobs nor files in sub-directories."""
    return "|".join(f"^{re.escape(path)}$" for path in input.tuples)


def validation_flags():
    v = VALIDATION
    flags = [
        f"--nsplit {v.get('nsplit', 100)}", f"--test {v.get('test', 'Chi2')}",
        f"--pvthreshold {v.get('pvthreshold', 0.05)}", f"--correction {v.get('correction', 'bonferroni')}",
        f"--reference {v.get('reference', 'first')}",
    ]
    flags += ["--use_dataset_id"] * v.get("use_dataset_id", False) + ["--strict"] * v.get("strict", False)
    return " ".join(flags)
