"""Snakemake glue (rule report_config): the resolved workflow configuration, defaults filled in, as YAML for
the report."""
import sys

import yaml

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821  (snakemake is injected by the script directive)
with open(snakemake.output[0], "w") as f:  # noqa: F821
    yaml.safe_dump(dict(snakemake.config), f, sort_keys=False)  # noqa: F821
