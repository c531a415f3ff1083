"""The `cpwatch` console command.

    cpwatch check [--kubeconfig PATH] [--context NAME] [--json] [--read-only] [--timeout S]
    cpwatch history --cluster NAME [--since 24h] [--table NAME] [--region REGION] [--json]

Exit codes: 0 healthy, 1 degraded, 2 down, 3 unknown, 64 usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from . import __version__
from .check import run_check
from .connect import api_from_kubeconfig
from .errors import ConfigError
from .report import EXIT_CODES, EXIT_USAGE, to_json, to_text
from .settings import deployment_settings_from_env, settings_from_env
from .timeutil import Deadline

# Time kept back from --timeout for rendering and exit, so the command returns within it.
_RENDER_RESERVE_S = 0.5


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2, which means "down" here
        raise _UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cpwatch", description="Diagnose a Kubernetes control plane from outside the cluster.")
    parser.add_argument("--version", action="version", version=f"cpwatch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    check = commands.add_parser("check", help="probe the control plane and print a diagnosis")
    check.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    check.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current context)")
    check.add_argument("--json", action="store_true", help="print one JSON document instead of the text report")
    check.add_argument("--read-only", action="store_true",
                       help="skip the active probes (etcd write, canaries): change nothing in the cluster")
    check.add_argument("--timeout", metavar="S", type=_positive_float, default=None,
                       help="return within S seconds whatever the apiserver does (default 30)")
    history = commands.add_parser("history", help="print the verdict changes of a cluster stored by the Lambda")
    history.add_argument("--cluster", required=True, metavar="NAME", help="cluster name as in the scheduler targets")
    history.add_argument("--since", default="24h", metavar="AGE", help="how far back: 90m, 24h, 7d (default 24h)")
    history.add_argument("--table", metavar="NAME", help="DynamoDB table (default: $CPWATCH_TABLE_NAME)")
    history.add_argument("--region", metavar="REGION", help="AWS region of the table (default: $AWS_REGION)")
    history.add_argument("--json", action="store_true", help="print the runs as JSON lines")
    return parser


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {raw!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="cpwatch: %(levelname)s %(name)s: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        if args.command == "check":
            return _check(args)
        if args.command == "history":
            return _history(args)
        build_parser().print_help(sys.stderr)
        return EXIT_USAGE
    except _UsageError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as error:
        print(f"cpwatch: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _check(args: argparse.Namespace) -> int:
    import os

    settings = settings_from_env(os.environ)
    if args.timeout is not None:
        settings = settings.with_overrides(
            run_timeout_s=args.timeout,
            request_timeout_s=min(settings.request_timeout_s, args.timeout),
        )
    deadline = Deadline.after(max(settings.run_timeout_s - _RENDER_RESERVE_S, 0.1))
    api, target = api_from_kubeconfig(args.kubeconfig, args.context, settings.request_timeout_s, deadline)
    diagnosis = run_check(api, target.name, settings, read_only=args.read_only)
    sys.stdout.write(to_json(diagnosis) + "\n" if args.json else to_text(diagnosis))
    sys.stdout.flush()
    return EXIT_CODES[diagnosis.overall]


def _history(args: argparse.Namespace) -> int:
    import json
    import os
    from datetime import datetime, timezone

    from .eks import aws_client
    from .history import parse_since, render_timeline
    from .store import Store, StoreError

    deployment = deployment_settings_from_env(os.environ)
    table = args.table or deployment.table_name
    if not table:
        raise ConfigError("no table: give --table or set CPWATCH_TABLE_NAME")
    region = args.region or deployment.region or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigError("no region: give --region or set AWS_REGION")
    since = datetime.now(timezone.utc) - parse_since(args.since)
    store = Store(aws_client("dynamodb", region), table)
    try:
        runs = list(store.runs(args.cluster, since))
    except StoreError as error:
        print(f"cpwatch: {error}", file=sys.stderr)
        return 3
    if args.json:
        for run in runs:
            print(json.dumps({"at": run.at.isoformat(), "overall": run.overall, "components": run.components,
                              "execution_id": run.execution_id}))
    else:
        sys.stdout.write(render_timeline(args.cluster, since, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
