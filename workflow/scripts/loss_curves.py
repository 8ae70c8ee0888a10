"""Snakemake glue (rule report_losses): loss and val_loss per epoch of one training run, read from the
metrics.log (Keras CSVLogger) among the run's mlflow artifacts, as a PNG for the report."""
import csv
import json
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821  (snakemake is injected by the script directive)
info = json.loads(Path(snakemake.input[0]).read_text())  # noqa: F821
uri = urlparse(info["artifact_uri"])
metrics = Path(unquote(uri.path) if uri.scheme in ("", "file") else "/nonexistent") / "metrics.log"
fig, ax = plt.subplots(figsize=(6, 4.5))
if metrics.is_file():
    rows = list(csv.DictReader(metrics.open()))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for key in ("loss", "val_loss"):
        if rows and key in rows[0]:
            ax.plot(epochs, [float(r[key]) for r in rows], marker="o", label=key)
    ax.legend()
else:
    ax.text(0.5, 0.5, f"no local metrics.log for run {info['run_id']}", ha="center", transform=ax.transAxes)
ax.set_xlabel("epoch")
ax.set_ylabel("tau_crossentropy_v2")
ax.set_title(f"{snakemake.wildcards.model} (mlflow run {info['run_id'][:8]})")  # noqa: F821
fig.tight_layout()
fig.savefig(snakemake.output[0], dpi=100)  # noqa: F821
