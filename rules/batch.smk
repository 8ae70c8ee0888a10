# Batch-system requests derived from every rule's own threads/mem_mb/disk_mb/runtime/gpu (docs/batch.md), so
# the stage rules stay batch-agnostic. Included last by the Snakefile, after all rules exist.
from tauml.core.batch import add_htcondor_requests

add_htcondor_requests(workflow)
