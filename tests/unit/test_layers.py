"""The package's layers (README, Development): a module imports only its own layer and the layers
below it, so the layout is the data flow: talking to a cluster, looking, judging, telling, and
the entry points that drive them. Imports inside functions and under TYPE_CHECKING count too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "cpwatch" / "cpwatch"
# Lowest first. Top-level modules are the foundation every layer uses.
LAYERS = ("foundation", "cluster", "aws", "probes", "judging", "telling", "entry")


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] in LAYERS else "foundation"


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("cpwatch", *path.relative_to(PACKAGE).with_suffix("").parts)
        found[".".join(parts).removesuffix(".__init__")] = path
    return found


def imported_by(module: str, path: Path) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name.startswith("cpwatch")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{node.module}" if node.module else anchor
            elif (node.module or "").startswith("cpwatch"):
                base = node.module
            else:
                continue
            names |= {f"{base}.{alias.name}" for alias in node.names} | {base}
    return names


def test_the_layers_are_the_package_folders():
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == set(LAYERS) - {"foundation"}


def test_no_import_runs_back_up_a_layer():
    known = modules()
    upward = []
    for module, path in sorted(known.items()):
        own = LAYERS.index(layer_of(module))
        for name in sorted(imported_by(module, path)):
            target = name if name in known else name.rpartition(".")[0]
            if target in known and LAYERS.index(layer_of(target)) > own:
                upward.append(f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})")
    assert upward == []
