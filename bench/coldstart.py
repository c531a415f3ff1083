"""Cold start: importing the handler module in a fresh process, against `import boto3` alone from
the same place in the same run (fresh processes, interleaved, median).

The handler is imported from the built artifact (.aws-sam/build/CheckerFunction, `make package`)
when it exists and its cpwatch package matches the source tree: what Lambda puts in /var/task,
with the packages of functions/cpwatch/requirements.txt only, and the bytecode `make package`
compiles into it. Otherwise (not built, or built from older code) from the source tree with the
dev venv's packages; the section says which.

Each sample is a new interpreter that times only its import statement (interpreter start-up is
the same for all and not counted). Variants show what the import-path choices gain:
- cpwatch.entry.handler: what Lambda imports (kubernetes is imported lazily, only by the kubeconfig
  loader the CLI uses; the Lambda path never loads it, which each sample checks).
- cpwatch.entry.handler + kubernetes: the same handler had connect.py imported kubernetes eagerly
  (kubernetes from the dev venv: the artifact does not ship it).
- boto3 alone, from where the handler is imported and in the same conditions (the artifact ships
  its own boto3, with its bytecode like the handler's): the target is relative to it.
- both again without the shipped bytecode (as sam build leaves the artifact: every module compiled
  at every cold start), to show what shipping it gains.
- boto3 and the parts of aws-lambda-powertools every run uses (Logger, EMF metrics): the floor
  that no choice inside cpwatch changes.
- kubernetes, boto3 (dev venv): what a function that imported the Kubernetes client would start from.
- the handler's first-invocation set-up (settings, boto3 session and clients).
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .common import REPO, Figures, median

SAMPLES = 5
TARGET_RATIO = 1.15  # issue 19: the handler costs at most 15 % more than boto3 alone
SOURCE_ROOT = REPO / "functions" / "cpwatch"  # template.yaml's CodeUri
ARTIFACT_ROOT = REPO / ".aws-sam" / "build" / "CheckerFunction"  # `make package`

# name -> (statement, imported from the handler's source (artifact or source tree))
VARIANTS = {
    "handler": ("import cpwatch.entry.handler", True),
    "handler_eager_kubernetes": ("import cpwatch.entry.handler, kubernetes", True),
    "bare_kubernetes_boto3": ("import kubernetes, boto3", False),
    "boto3": ("import boto3", True),
    "handler_no_bytecode": ("import cpwatch.entry.handler", True),
    "boto3_no_bytecode": ("import boto3", True),
    "runtime_packages": ("import boto3; from aws_lambda_powertools import Logger; "
                         "from aws_lambda_powertools.metrics import EphemeralMetrics", True),
    "handler_and_first_setup": ("import cpwatch.entry.handler as h; h.configuration(); h.dependencies()", True),
}

_PROGRAM = """
import time, json, sys
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
handler = sys.modules.get("cpwatch.entry.handler")
print(json.dumps({{"seconds": elapsed, "handler_file": handler and handler.__file__,
                  "boto3_file": sys.modules["boto3"].__file__ if "boto3" in sys.modules else None,
                  "kubernetes": "kubernetes" in sys.modules}}))
"""


@dataclass(frozen=True)
class HandlerSource:
    root: Path  # on PYTHONPATH, before the venv's site-packages
    description: str
    from_artifact: bool


def handler_source() -> HandlerSource:
    """The built artifact when it holds the current code; else the source tree, saying why."""
    built = ARTIFACT_ROOT / "cpwatch"
    if not built.is_dir():
        return HandlerSource(SOURCE_ROOT, "source tree functions/cpwatch (no built artifact: run `make package`)", False)
    if _differs(filecmp.dircmp(SOURCE_ROOT / "cpwatch", built, ignore=["__pycache__"])):
        return HandlerSource(SOURCE_ROOT, "source tree functions/cpwatch (the built artifact is older than the "
                                          "code: run `make package`)", False)
    return HandlerSource(ARTIFACT_ROOT, f"built artifact {ARTIFACT_ROOT.relative_to(REPO)}", True)


def _differs(comparison: filecmp.dircmp) -> bool:
    _, mismatch, errors = filecmp.cmpfiles(comparison.left, comparison.right, comparison.common_files, shallow=False)
    if comparison.left_only or comparison.right_only or mismatch or errors:
        return True
    return any(_differs(sub) for sub in comparison.subdirs.values())


def _sample(statement: str, from_source: bool, source: HandlerSource, env: dict) -> float:
    """Seconds the statement takes in a fresh interpreter."""
    if from_source:
        env = {**env, "PYTHONPATH": str(source.root)}
        if source.from_artifact:
            # As in Lambda: /var/task is read-only (nor is the build changed).
            env["PYTHONDONTWRITEBYTECODE"] = "1"
    completed = subprocess.run([sys.executable, "-c", _PROGRAM.format(statement=statement)], capture_output=True,
                               text=True, cwd=REPO, env=env, timeout=120)
    if completed.returncode != 0:
        raise RuntimeError(f"{statement!r} failed: {completed.stderr[-1500:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    if from_source:
        for module in ("handler_file", "boto3_file"):
            if result[module] and source.from_artifact and not Path(result[module]).is_relative_to(source.root):
                raise RuntimeError(f"{statement!r} loaded {result[module]}, not the artifact's")
        if "kubernetes" not in statement and result["kubernetes"]:
            raise RuntimeError(f"{statement!r} imported kubernetes: the Lambda path must not")
    return result["seconds"]


def run(figures: Figures, env: dict, samples: int = SAMPLES) -> dict:
    source = handler_source()
    print(f"  cpwatch.entry.handler imported from the {source.description}", flush=True)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as copy:
        # The artifact as sam build leaves it: the same files without the bytecode.
        bare = HandlerSource(Path(copy) / "task", source.description, source.from_artifact)
        shutil.copytree(source.root, bare.root, ignore=shutil.ignore_patterns("__pycache__"))
        sources = {name: bare if name.endswith("_no_bytecode") else source for name in VARIANTS}
        for name, (statement, from_source) in VARIANTS.items():
            _sample(statement, from_source, sources[name], env)  # warm the OS file cache (and the venv's .pyc) once
        for _ in range(samples):
            for name, (statement, from_source) in VARIANTS.items():  # interleaved: drift hits every variant alike
                times[name].append(_sample(statement, from_source, sources[name], env))
    medians = {name: median(values) for name, values in times.items()}
    where = "built artifact" if source.from_artifact else "source tree"
    figures.add(f"cold: import cpwatch.entry.handler, {where} (median of {samples} fresh processes)", medians["handler"], "s")
    figures.add(f"cold: import boto3 alone, {where} (same run)", medians["boto3"], "s")
    figures.ratio("cold: handler import / boto3 import", medians["handler"], medians["boto3"],
                  "handler_s", "boto3_s", "s", target=f"<= {TARGET_RATIO}x", limit=TARGET_RATIO)
    figures.add("cold: import cpwatch.entry.handler without the shipped bytecode", medians["handler_no_bytecode"], "s")
    figures.add("cold: import boto3 alone without the shipped bytecode", medians["boto3_no_bytecode"], "s")
    figures.add("cold: import boto3 + powertools Logger and metrics (the runtime packages' floor)",
                medians["runtime_packages"], "s")
    figures.add("cold: import cpwatch.entry.handler with kubernetes imported eagerly", medians["handler_eager_kubernetes"], "s")
    figures.add("cold: gain of the lazy kubernetes import", medians["handler_eager_kubernetes"] - medians["handler"], "s")
    figures.add("cold: bare import kubernetes, boto3 (dev venv)", medians["bare_kubernetes_boto3"], "s")
    figures.add("cold: handler import + first-invocation set-up (settings, session, clients)",
                medians["handler_and_first_setup"], "s")
    return medians
