"""What the Lambda artifact ships and what `pip install` gives the CLI.

`sam build` installs functions/cpwatch/requirements.txt and nothing else into the function. It
must hold what the modules Lambda loads import, and not the CLI's kubeconfig loader (kubernetes,
~75 MB with its dependencies), which the function never imports. pyproject.toml's dependencies
must hold what any module of the package imports, or the installed `cpwatch` CLI breaks.
The run-time side (a check through the handler loads none of them) is
tests/aws/test_runtime_interface.py.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "functions" / "cpwatch"
FUNCTION_REQUIREMENTS_IN = SOURCE / "requirements.in"
FUNCTION_REQUIREMENTS_TXT = SOURCE / "requirements.txt"
LAMBDA_ENTRY = "cpwatch.entry.handler"  # template.yaml's Handler: cpwatch.entry.handler.lambda_handler
CLI_ONLY = {"kubernetes", "cryptography", "pyyaml"}
# Imported inside the function that needs them, on the runs that need them (cold start, issue 19).
LAMBDA_LAZY = {"prometheus-client"}  # probes/prometheus_text.py


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(normalized(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0]))
    return names


def module_path(module: str) -> Path:
    base = SOURCE.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def is_module(module: str) -> bool:
    return module_path(module).exists()


def imports_of(module: str, module_level_only: bool) -> tuple[set[str], set[str]]:
    """(cpwatch modules, third-party top-level names) that `module` imports. module_level_only:
    the imports that run when the module is imported (not those inside functions, which run
    only when called, nor those under `if TYPE_CHECKING:`)."""
    tree = ast.parse(module_path(module).read_text())
    package = module if module_path(module).name == "__init__.py" else module.rpartition(".")[0]
    if module_level_only:
        nodes = [node for statement in tree.body if not isinstance(statement, (ast.If, ast.FunctionDef, ast.ClassDef))
                 for node in ast.walk(statement)]
    else:
        nodes = list(ast.walk(tree))
    own, third_party = set(), set()

    def add(name: str) -> None:
        top = name.split(".")[0]
        if top == "cpwatch":
            own.add(name if is_module(name) else name.rpartition(".")[0])
        elif top not in sys.stdlib_module_names and top != "__future__":
            third_party.add(top)

    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{node.module}" if node.module else anchor
            else:
                base = node.module
            add(base)
            for alias in node.names:  # `from . import probes`: a submodule, not a name
                if is_module(f"{base}.{alias.name}"):
                    add(f"{base}.{alias.name}")
    return own, third_party


def third_party_imports(entry_modules: list[str], module_level_only: bool) -> set[str]:
    seen, pending, third_party = set(), list(entry_modules), set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        own, outside = imports_of(module, module_level_only)
        pending += own - seen
        third_party |= outside
    return third_party


def distributions(top_level_names: set[str]) -> set[str]:
    provided_by = packages_distributions()
    missing = sorted(name for name in top_level_names if name not in provided_by)
    assert missing == [], f"no installed distribution provides {missing}"
    return {normalized(dist) for name in top_level_names for dist in provided_by[name]}


def all_package_modules() -> list[str]:
    return [".".join(path.relative_to(SOURCE).with_suffix("").parts).removesuffix(".__init__")
            for path in (SOURCE / "cpwatch").rglob("*.py")]


def test_function_requirements_are_exactly_what_the_lambda_modules_import():
    imported = distributions(third_party_imports([LAMBDA_ENTRY], module_level_only=True))
    anywhere = distributions(third_party_imports([LAMBDA_ENTRY], module_level_only=False))

    assert {"boto3", "aws-lambda-powertools"} <= imported
    assert LAMBDA_LAZY <= anywhere  # the walk reached the probes
    assert requirement_names(FUNCTION_REQUIREMENTS_IN) == imported | LAMBDA_LAZY


def test_the_prometheus_parser_is_not_imported_at_cold_start():
    imported = distributions(third_party_imports([LAMBDA_ENTRY], module_level_only=True))

    assert imported & LAMBDA_LAZY == set()


def test_function_build_leaves_out_the_cli_only_packages():
    pinned = requirement_names(FUNCTION_REQUIREMENTS_TXT)

    assert {"boto3", "prometheus-client"} <= pinned
    assert pinned & CLI_ONLY == set()
    assert "kubernetes" not in FUNCTION_REQUIREMENTS_TXT.read_text()  # not even as a `# via`


def test_the_cli_only_packages_are_imported_by_cli_modules_only():
    # Also lazily: kubeconfig.py (kubernetes, yaml) and clientcert.py (cryptography) are the CLI's.
    lambda_imports = distributions(third_party_imports([LAMBDA_ENTRY], module_level_only=True))
    every_import = distributions(third_party_imports(all_package_modules(), module_level_only=False))

    assert lambda_imports & CLI_ONLY == set()
    assert CLI_ONLY <= every_import


def test_pip_install_gives_the_cli_everything_the_package_imports():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {normalized(re.split(r"[\s\[<>=!~;]", dependency, maxsplit=1)[0]) for dependency in project["dependencies"]}

    missing = distributions(third_party_imports(all_package_modules(), module_level_only=False)) - declared
    assert missing == set()
