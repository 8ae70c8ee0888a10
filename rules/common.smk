# Constants, paths and input functions of all rule files; the rule files hold rules only, the logic lives
# in the tauml package. `config` is validated against config/schema.yaml with its defaults filled in (Snakefile),
# so every key the schema gives a default is read here without a fallback.
import os
import re
import sys
import shlex
from pathlib import Path

from tauml.binning.split import DEFAULT_ETA_BINS, DEFAULT_PT_BINS
from tauml.core.binfiles import SIZE_LIST, cell_name
from tauml.core.cfgfile import read_cfg

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
CMSSW = PRODUCTION["cmssw"]


def production_pileup(wildcards):
    return DATASETS[wildcards.dataset].get("pileup_mu", PRODUCTION["pileup_mu"])  # per-dataset override


def production_command(wildcards, output):
    """The command of one job; job j of a dataset uses seed + j (embedded) or every n-th input file (cmssw).
    Paths are shell-quoted, as `:q` quotes them in the rules' own shell commands."""
    dataset = DATASETS[wildcards.dataset]
    job = int(wildcards.job)
    out = shlex.quote(output[0])
    if PRODUCTION["mode"] == "cmssw":
        files = CMSSW["input_files"].get(wildcards.dataset, [])[job :: dataset["jobs"]]
        return (
            f"cmsRun {shlex.quote(CMSSW['cfg'])} sampleType={CMSSW['sample_type']} "
            f"inputFiles={shlex.quote(','.join(files))} maxEvents={dataset['events_per_job']} outputFile={out}"
        )
    return (
        f"TauTupleProducer --process {dataset['process']} --n-events {dataset['events_per_job']} "
        f"--seed {dataset['seed'] + job} --pileup {production_pileup(wildcards)} --output {out}"
    )


def production_runtime(wildcards):
    """Minutes: ~50 ms per event without pile-up on one core, plus ~2 ms per pile-up interaction, with margin."""
    dataset = DATASETS[wildcards.dataset]
    seconds = dataset["events_per_job"] * (0.05 + 0.002 * production_pileup(wildcards))
    return max(10, int(3 * seconds / 60))


# --- binning --------------------------------------------------------------------------------------------
BINNING = config["binning"]
BINNED_DIR = f"{OUT}/tuples"
# null in the config: CreateBinnedTuples' own default bins, the README's
BINNING_PT_BINS = BINNING["pt_bins"] or DEFAULT_PT_BINS
BINNING_ETA_BINS = BINNING["eta_bins"] or DEFAULT_ETA_BINS


# --- shufflemerge ---------------------------------------------------------------------------------------
SHUFFLE = config["shufflemerge"]
PREP_DIR = f"{OUT}/training_preparation"
STEP1_TYPES = list(SHUFFLE["step1"]["cfgs"])
# step-1 outputs are named after the one bin per type that step 2 sees: <type>_pt_20_eta_0.000.root
STEP1_NAME = cell_name(SHUFFLE["step2"]["pt_bins"][0], SHUFFLE["step2"]["eta_bins"][0])
SHUFFLE_RESOURCES = dict(
    mem_mb=SHUFFLE["buffer_mb"] * 2 + 800,  # shard + read chunks + output block (<= buffer_mb), copies, interpreter
    runtime=SHUFFLE["runtime"],
)


def shufflemerge_bin_flags(step):
    """--pt-bins/--eta-bins of a step (null: the binning stage's bins); left out where those are the README's
    bins, ShuffleMerge's default, so that the command is the README's."""
    flags = []
    for key, flag, binning_edges, readme in (("pt_bins", "--pt-bins", BINNING_PT_BINS, DEFAULT_PT_BINS),
                                             ("eta_bins", "--eta-bins", BINNING_ETA_BINS, DEFAULT_ETA_BINS)):
        edges = SHUFFLE[step][key] if SHUFFLE[step][key] is not None else binning_edges
        if [float(e) for e in edges] != [float(e) for e in readme]:
            flags.append(f"{flag} '{edges_flag(edges)}'")
    return " ".join(flags)


def shufflemerge_flags(step):
    """ShuffleMerge options of a step, from config["shufflemerge"][step] and the shared settings."""
    s = SHUFFLE[step]
    return (
        f"{shufflemerge_bin_flags(step)}"
        f" --calc-weights {str(s['calc_weights']).lower()} --ensure-uniformity {str(s['ensure_uniformity']).lower()}"
        f" --max-bin-occupancy {s['max_bin_occupancy']} --disabled-branches '{s['disabled_branches']}'"
        f" --seed {SHUFFLE['seed']} --buffer-mb {SHUFFLE['buffer_mb']}"
    )


def size_list_dir(wildcards, input):
    """The directory a size list describes: ShuffleMerge's --input."""
    return os.path.dirname(input.size_list)


def inputs_disk_mb(wildcards, input):
    """Room for an output as large as the ROOT files under the size list's directory, plus ShuffleMerge's
    shards beside it (its entries uncompressed: ~3x the compressed inputs for real TauTuples)."""
    directory = Path(input.size_list).parent
    total = sum(f.stat().st_size for f in directory.rglob("*.root")) if directory.is_dir() else 0
    return max(1000, int((1.2 + 3) * total / 2**20))


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
VALIDATION = config["validation"]
VALIDATION_DIR = f"{OUT}/validation"


def validation_regex(wildcards, input):
    """The README's --regex 'ShuffleMergeSpectral_[0-9]+\\.root$' (searched in file names) narrowed to this
    run's job indices, so that stale outputs of a larger n_jobs stay out."""
    names = "|".join(re.escape(os.path.basename(path)) for path in input.tuples)
    return f"^({names})$"


def validation_flags():
    v = VALIDATION
    flags = [
        f"--nsplit {v['nsplit']}", f"--test {v['test']}", f"--pvthreshold {v['pvthreshold']}",
        f"--correction {v['correction']}", f"--reference {v['reference']}",
    ]
    flags += ["--use_dataset_id"] * v["use_dataset_id"] + ["--strict"] * v["strict"]
    return " ".join(flags)


# --- training inputs ------------------------------------------------------------------------------------
from tauml.features.config import load_training_cfg

TRAINING_INPUTS = config["training_inputs"]
TRAINING_CFG_PATH = TRAINING_INPUTS["cfg"]
TRAINING_CFG = load_training_cfg(TRAINING_CFG_PATH)
INPUTS_DIR = f"{OUT}/training_tuples"
SCALING_DIR = f"{OUT}/scaling"
SCALING_VERSION = TRAINING_CFG["Scaling_setup"].get("version", 1)
SCALING_JSON = f"{SCALING_DIR}/scaling_params_v{SCALING_VERSION}.json"
TRAINING_PARTS = list(range(TRAINING_INPUTS["n_parts"]))
TESTING_ITEMS = list(read_cfg(SHUFFLE["testing"]["cfg"]))


def training_tuples(ext):
    """The training TrainingTuples (one per shuffled file and part), `ext` "root" or "h5"."""
    return expand(f"{INPUTS_DIR}/training/ShuffleMergeSpectral_{{idx}}_part{{part}}.{ext}", idx=SPECTRAL_JOBS,
                  part=TRAINING_PARTS)


def testing_tuples(ext):
    return expand(f"{INPUTS_DIR}/testing/{{item}}.{ext}", item=TESTING_ITEMS)


def cell_flags():
    """TrainingTupleProducer's grid flags, from the training configuration's Setup (one home for them)."""
    s = TRAINING_CFG["Setup"]
    return (f"--n-inner-cells {s['n_inner_cells']} --inner-cell-size {s['inner_cell_size']}"
            f" --n-outer-cells {s['n_outer_cells']} --outer-cell-size {s['outer_cell_size']}")


# --- evaluation -----------------------------------------------------------------------------------------
from tauml.evaluation.plot_setup import load_setup

EVALUATION = config["evaluation"]
MODELS_DIR = f"{OUT}/models"
PRED_DIR = f"{OUT}/predictions"
PLOTS_DIR = f"{OUT}/plots"
BDT_MODEL = f"{MODELS_DIR}/bdt/bdt.pkl"
BDT_WORKING_POINTS = f"{MODELS_DIR}/bdt/bdt_working_points.json"
MODEL_FORM_PATH = {"keras": "model.keras", "saved_model": "saved_model", "frozen": "frozen.pb"}



def _eval_pairs():
    """{<taus>_vs_<other>: pair} of the configured pairs whose items the testing cfg makes; others are
    dropped with a warning (a test configuration with fewer testing items keeps the default pairs)."""
    pairs = {}
    for p in EVALUATION["pairs"]:
        unknown = [i for i in (p["taus"], p["other"]) if i not in TESTING_ITEMS]
        if unknown:
            print(f"tauml: evaluation pair {p['taus']} vs {p['other']} skipped: {', '.join(unknown)} not in "
                  f"{SHUFFLE['testing']['cfg']}", file=sys.stderr)
        else:
            pairs[f"{p['taus']}_vs_{p['other']}"] = p
    return pairs


EVAL_PAIRS = _eval_pairs()


def eval_models():
    """Models to evaluate: config["evaluation"]["models"], or (null) every training run of rules/training.smk."""
    return EVALUATION["models"] if EVALUATION["models"] is not None else list(TRAINING_RUNS)


def model_form(wildcards):
    """--model of apply_training: the configured form inside models/<model>/."""
    return f"{MODELS_DIR}/{wildcards.model}/{MODEL_FORM_PATH[EVALUATION['model_form']]}"


def pair_inputs(wildcards):
    """The testing TauTuples and the predictions (DeepTau and the BDT) of one ROC plot."""
    p = EVAL_PAIRS[wildcards.pair]
    items = [p["taus"], p["other"]]
    return {
        "testing": f"{PREP_DIR}/testing", "deep": [f"{PRED_DIR}/{wildcards.model}/{i}_pred.h5" for i in items],
        "bdt": [f"{PRED_DIR}/bdt/{i}_pred.h5" for i in items], "bdt_wp": BDT_WORKING_POINTS,
    }


# pt bins of the configured setup (the same for e, mu and jet): evaluate_performance writes one PNG per bin
EVAL_PT_EDGES = load_setup(EVALUATION["setup"], "jet", EVALUATION["setup_args"]).pt_bins
EVAL_PNGS = [f"{PLOTS_DIR}/{{model}}/{{pair}}_pt_{lo:g}_{hi:g}.png" for lo, hi in zip(EVAL_PT_EDGES, EVAL_PT_EDGES[1:])]
REPORT_DIR = f"{OUT}/report"


def pair_tuple(role):
    """--input-taus / --input-other of a pair: its testing TauTuple."""
    return lambda wildcards, input: f"{input.testing}/{EVAL_PAIRS[wildcards.pair][role]}.root"


def evaluation_flags(wildcards):
    p = EVAL_PAIRS[wildcards.pair]
    flags = [f"--other-type {p['type']}", f"--setup {EVALUATION['setup']}", "--store-json",
             f"--setup-args '{EVALUATION['setup_args']}'"]
    flags += ["--draw-wp"] * EVALUATION["draw_wp"] + ["--public-plots"] * EVALUATION["public_plots"]
    return " ".join(flags)


def evaluation_targets():
    """ROC plots of every model and pair, and the report's own entries (configuration, validation, losses)."""
    models = eval_models()
    return (expand(f"{PLOTS_DIR}/{{model}}/{{pair}}.pdf", model=models, pair=EVAL_PAIRS)
            + expand(f"{REPORT_DIR}/losses/{{model}}.png", model=models)
            + [f"{REPORT_DIR}/config.yaml", f"{REPORT_DIR}/validation"])


# --- training -------------------------------------------------------------------------------------------
import shlex

from tauml.training.config import read_override_lines

TRAINING = config["training"]
TRAIN_CONFIG = TRAINING["config"]
# train.yaml composes the training_v1.yaml next to it (the one training_inputs.cfg names by default)
TRAIN_TRAINING_CFG = os.path.join(os.path.dirname(TRAIN_CONFIG), "training_v1.yaml")
TRAINING_RUNS = read_override_lines(TRAINING["runs"])  # {run name: [Hydra overrides]}, one train job each
TRAINING_TUPLES = training_tuples("h5")
MLRUNS_DIR = f"{OUT}/mlruns"


def training_input_files(wildcards, input):
    """The input_files override: the training tuples as a Hydra list of quoted paths."""
    return "input_files=[" + ",".join(f"'{path}'" for path in input.tuples) + "]"


def training_overrides(wildcards):
    """config["training"]["overrides"] for every run, then the run's own line."""
    return " ".join(shlex.quote(o) for o in TRAINING["overrides"] + TRAINING_RUNS[wildcards.run])
