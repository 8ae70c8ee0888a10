# Batch-system requests derived from every rule's own threads/mem_mb/disk_mb/runtime/gpu (docs/batch.md), so
# the stage rules stay batch-agnostic. Included last by the Snakefile, after all rules exist. Executors other
# than HTCondor ignore these names; a value set by a rule or a profile wins.
from snakemake.common.tbdstring import TBDString

from tauml.batch import htcondor_derivations


def _derived_resource(rule, source, convert):
    def evaluate(wildcards, **aux):
        value = source.evaluate(wildcards, **aux).value if source.is_evaluable() else source.value
        if value is None or isinstance(value, TBDString):
            return value
        # group settings (--groups, --group-components) are known only once the workflow executes
        groups = workflow.group_settings
        components = groups.group_components.get(rule.group, 1) if groups and rule.group else 1
        return convert(value, components)

    return evaluate


for _rule in workflow.rules:
    for _name, (_source, _convert) in htcondor_derivations().items():
        if _name not in _rule.resources and _source in _rule.resources:
            _rule.resources[_name] = _derived_resource(_rule, _rule.resources[_source], _convert)
