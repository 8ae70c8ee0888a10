"""The package's layering: libraries (core < features < model) import only lower libraries; a stage imports
libraries and never another stage; no import cycles."""
import ast
from pathlib import Path

import tauml

PACKAGE = Path(tauml.__file__).parent
LIBRARIES = ("core", "features", "model")  # in layering order
STAGES = {"production", "binning", "shufflemerge", "spectral", "validation", "inputs", "training", "evaluation"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tauml"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("tauml"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: {i for i in _imports(p) if i in modules and i != m} for m, p in modules.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_is_in_a_layer():
    layers = {_layer(m) for m in _graph()} - {""}
    assert layers <= set(LIBRARIES) | STAGES | {"cli"}


def test_libraries_import_lower_layers_and_stages_no_other_stage():
    violations = []
    for module, imported in _graph().items():
        layer = _layer(module)
        for target in imported:
            other = _layer(target)
            if layer in LIBRARIES and (other not in LIBRARIES or LIBRARIES.index(other) > LIBRARIES.index(layer)):
                violations.append(f"{module} ({layer}) imports {target}")
            elif layer in STAGES and other in STAGES and other != layer:
                violations.append(f"{module} imports another stage: {target}")
    assert violations == []


def test_no_import_cycles():
    graph = _graph()
    # top-level imports only matter for cycles; a package's __init__ importing its modules is not a cycle
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in graph[node]:
            if nxt == node.rpartition(".")[0] or node == nxt.rpartition(".")[0]:
                continue
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])
    assert cycles == []
