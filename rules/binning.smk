# Rules of the binning stage (see docs/architecture.md): CreateBinnedTuples per dataset (a checkpoint, so
# that later rules see the bin files), and CreateTupleSizeList over all datasets.
import os
import re

from tauml.binning import DEFAULT_COMPRESSION, DEFAULT_ETA_BINS, DEFAULT_PT_BINS

BINNING = config.get("binning") or {}
BINNED_DIR = f"{OUT}/tuples"
BIN_FILE_PATTERN = "{tauType,[a-z_]+}_pt_{pt,[0-9]+}_eta_{eta,[0-9]+\\.[0-9]+}.root"


def _edges_flag(edges):
    return ", ".join(f"{e:g}" for e in edges)


def binned_tuples(dataset):
    """The `{tauType}_pt_{pt}_eta_{eta}.root` files of one dataset (not other.root or summary.root), known once
    its bin_dataset checkpoint has run. Use it inside an input function, e.g.
    `input: lambda w: binned_tuples(w.dataset)`, or over all datasets:
    `input: lambda w: [f for d in DATASETS for f in binned_tuples(d)]`."""
    directory = checkpoints.bin_dataset.get(dataset=dataset).output[0]
    found = glob_wildcards(os.path.join(directory, BIN_FILE_PATTERN))
    return sorted(expand(os.path.join(directory, "{tauType}_pt_{pt}_eta_{eta}.root"), zip, **found._asdict()))


checkpoint bin_dataset:
    input:
        lambda w: raw_tuples(w.dataset),
    output:
        directory(f"{BINNED_DIR}/{{dataset}}"),
    wildcard_constraints:
        dataset="|".join(re.escape(d) for d in DATASETS),
    params:
        dir=lambda w: f"{OUT}/raw/{w.dataset}",
        pattern=lambda w: r".*/eventTuple_({})\.root".format("|".join(map(str, range(DATASETS[w.dataset]["jobs"])))),
        pt=_edges_flag(BINNING.get("pt_bins", DEFAULT_PT_BINS)),
        eta=_edges_flag(BINNING.get("eta_bins", DEFAULT_ETA_BINS)),
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
        dir=BINNED_DIR,
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
