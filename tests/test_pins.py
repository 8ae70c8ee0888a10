"""envs/*.yaml pin exactly what pyproject.toml pins; every rule has a log and a conda env; lint is clean."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
ENVS = sorted((REPO / "envs").glob("*.yaml"))
# conda match spec with an exact version: name=1.2.3 or name==1.2.3 (optionally =build), no wildcards or ranges
CONDA_EXACT = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*==?(?P<version>[0-9][0-9A-Za-z.+_]*)(=[A-Za-z0-9_.]+)?$")
WORKFLOW_ONLY = {"jsonschema", "snakemake", "snakemake-executor-plugin-htcondor", "snakemake-executor-plugin-slurm"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        req = Requirement(dep)
        (spec,) = req.specifier
        assert spec.operator == "==" and "*" not in spec.version, f"pyproject pin is not exact: {dep}"
        pins[_normal(req.name)] = spec.version
    return pins


def _env(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(conda specs, pip pins) of one env file, each {name: version}; fails on anything not exact."""
    env = yaml.safe_load(path.read_text())
    assert env["channels"][0] == "conda-forge"
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                req = Requirement(line)
                (spec,) = req.specifier
                assert spec.operator == "==", f"{path.name}: pip pin is not exact: {line}"
                pip[_normal(req.name)] = spec.version
        else:
            m = CONDA_EXACT.match(dep)
            assert m, f"{path.name}: conda spec without an exact version: {dep}"
            conda[_normal(m["name"])] = m["version"]
    return conda, pip


def test_three_env_families_exist():
    assert [p.stem for p in ENVS] == ["evaluation", "inputs", "preprocessing", "production", "training", "validation"]
    for env in ENVS:  # tauml itself is installed after creation
        assert (env.parent / f"{env.stem}.post-deploy.sh").resolve().is_file()


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.stem)
def test_env_pins_are_exact_and_equal_to_pyproject(path):
    conda, pip = _env(path)
    assert set(conda) == {"python", "pip"}
    assert conda["python"].startswith("3.11.")  # requires-python ==3.11.*
    pins = _pyproject_pins()
    assert pip, path
    for name, version in pip.items():
        assert pins.get(name) == version, f"{path.name}: {name}=={version}, pyproject pins {pins.get(name)}"


def test_every_runtime_dependency_is_in_an_env():
    pinned = {name for path in ENVS for name in _env(path)[1]}
    assert set(_pyproject_pins()) - WORKFLOW_ONLY == pinned


def _lints() -> dict[str, list[str]]:
    """``{"rule X" | "snakefile F": [lint titles]}`` from ``snakemake --lint`` (text; 9.27's json mode prints
    nothing)."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    lints: dict[str, list[str]] = {}
    current = None
    for line in (proc.stdout + proc.stderr).splitlines():
        if m := re.match(r"Lints for (rule \w+|snakefile \S+?)(?: \(.*\))?:$", line):
            current = lints.setdefault(m[1], [])
        elif (m := re.match(r"    \* (.*?):?$", line)) and current is not None:
            current.append(m[1])
    assert proc.returncode == (1 if lints else 0), proc.stderr[-2000:]
    return lints


@pytest.fixture(scope="module")
def lints():
    return _lints()


def test_every_rule_has_log_and_conda(lints):
    missing = {where: titles for where, titles in lints.items()
               if any("log directive" in t or "software environment" in t for t in titles)}
    assert missing == {}


def test_lint_is_clean(lints):
    assert lints == {}
