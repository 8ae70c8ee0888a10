#!/usr/bin/env bash
# Post-deploy script of every env (the <env>.post-deploy.sh links): Snakemake runs it once after creating
# an environment, from the workflow's working directory. It adds tauml itself (the commands the rules
# call) without touching the pinned dependencies. TAUML_SOURCE: the tauml checkout, when snakemake runs
# from another directory (--directory).
set -euo pipefail
python -m pip install --no-deps "${TAUML_SOURCE:-.}"
