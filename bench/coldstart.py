"""Cold start: importing the handler module in a fresh process, against a bare
`import kubernetes, boto3` measured in the same run (fresh processes, interleaved, median).

Each sample is a new interpreter that times only its import statement (interpreter start-up is
the same for all and not counted). Variants show what the import-path choices gain:
- cpwatch.handler: what Lambda imports (kubernetes is imported lazily, only by the kubeconfig
  loader the CLI uses; the Lambda path never loads it).
- cpwatch.handler + kubernetes: the same handler had connect.py imported kubernetes eagerly.
- kubernetes, boto3: the bare import the target is relative to.
- boto3 alone, and the handler's first-invocation set-up (settings, boto3 session and clients).
"""

from __future__ import annotations

import json
import subprocess
import sys

from .common import REPO, Figures, median

SAMPLES = 5
TARGET_RATIO = 1.3

VARIANTS = {
    "handler": "import cpwatch.handler",
    "handler_eager_kubernetes": "import cpwatch.handler, kubernetes",
    "bare_kubernetes_boto3": "import kubernetes, boto3",
    "boto3": "import boto3",
    "handler_and_first_setup": ("import cpwatch.handler as h; h.configuration(); h.dependencies()"),
}

_PROGRAM = """
import time, json
started = time.perf_counter()
{statement}
print(json.dumps(time.perf_counter() - started))
"""


def _sample(statement: str, env: dict) -> float:
    completed = subprocess.run([sys.executable, "-c", _PROGRAM.format(statement=statement)], capture_output=True,
                               text=True, cwd=REPO, env=env, timeout=120)
    if completed.returncode != 0:
        raise RuntimeError(f"{statement!r} failed: {completed.stderr[-1500:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run(figures: Figures, env: dict, samples: int = SAMPLES) -> dict:
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for name, statement in VARIANTS.items():
        _sample(statement, env)  # warm the OS file cache and the .pyc files once
    for _ in range(samples):
        for name, statement in VARIANTS.items():  # interleaved, so drift hits every variant alike
            times[name].append(_sample(statement, env))
    medians = {name: median(values) for name, values in times.items()}
    figures.add(f"cold: import cpwatch.handler (median of {samples} fresh processes)", medians["handler"], "s")
    figures.add("cold: bare import kubernetes, boto3 (same run)", medians["bare_kubernetes_boto3"], "s")
    figures.ratio("cold: handler import / bare import", medians["handler"], medians["bare_kubernetes_boto3"],
                  "handler_s", "bare_s", "s", target=f"<= {TARGET_RATIO}x", limit=TARGET_RATIO)
    figures.add("cold: import cpwatch.handler with kubernetes imported eagerly", medians["handler_eager_kubernetes"], "s")
    figures.add("cold: gain of the lazy kubernetes import", medians["handler_eager_kubernetes"] - medians["handler"], "s")
    figures.add("cold: import boto3 alone", medians["boto3"], "s")
    figures.add("cold: handler import + first-invocation set-up (settings, session, clients)",
                medians["handler_and_first_setup"], "s")
    return medians
