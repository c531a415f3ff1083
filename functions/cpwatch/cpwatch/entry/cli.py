"""The `cpwatch` console command.

    cpwatch check [--kubeconfig PATH] [--context NAME | --contexts A,B | --all-contexts]
                  [--json | --verbose] [--read-only] [--timeout S]
    cpwatch explain CODE
    cpwatch history --cluster NAME|ARN [--since 24h] [--table NAME] [--region REGION] [--json]
    cpwatch evidence --cluster NAME|ARN [--at TIME] [--component NAME] [--table NAME] [--region REGION]

Exit codes: 0 healthy, 1 degraded, 2 down, 3 unknown, 64 usage or configuration error (with
one context: also its credentials could not be obtained). With several contexts, the code of
the worst verdict (down, then unknown, degraded, healthy); a context whose kubeconfig entry or
credentials fail is unknown there, with the reason on its line. `cpwatch evidence`: 0 printed,
1 no alarm stored at that time, 3 the table could not be read, 64 unknown cluster or bad --at.
`--cluster` is an EKS cluster ARN or a name; a name that clusters in several regions or accounts
share is refused (64) with their ARNs to choose from.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Sequence

from .. import __version__
from ..cluster import clientcert
from ..judging.check import blind_diagnosis, run_check
from ..errors import ConfigError, CredentialsError
from ..cluster.exec_credentials import credentials_observation
from ..telling.report import EXIT_CODES, EXIT_USAGE, contexts_to_json, to_json, worst
from ..telling.textreport import DEFAULT_WIDTH, Style, contexts_to_text, explain_text, to_text
from ..settings import deployment_settings_from_env, settings_from_env
from ..timeutil import Deadline

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
    which = check.add_mutually_exclusive_group()
    which.add_argument("--context", metavar="NAME",
                       help="kubeconfig context (default: the current context); its namespace is not used: "
                            "cpwatch writes only in its own namespace (CPWATCH_NAMESPACE)")
    which.add_argument("--contexts", metavar="A,B,C", type=_context_names,
                       help="check these contexts at once, under one deadline: one line per cluster, then details")
    which.add_argument("--all-contexts", action="store_true", help="check every context of the kubeconfig at once")
    shape = check.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print one JSON document instead of the text report")
    shape.add_argument("--verbose", action="store_true",
                       help="list every finding with its evidence (the default report leads with the root cause)")
    check.add_argument("--read-only", action="store_true",
                       help="skip the active probes (etcd write, canaries): change nothing in the cluster")
    check.add_argument("--timeout", metavar="S", type=_positive_float, default=None,
                       help="return within S seconds whatever the apiserver does (default 30)")
    explain = commands.add_parser("explain", help="print a finding code's runbook (what it means, what to do)")
    explain.add_argument("code", metavar="CODE", help="a finding code, e.g. LEADER_LEASE_STALE")
    history = commands.add_parser("history", help="print the verdict changes of a cluster stored by the Lambda")
    history.add_argument("--cluster", required=True, metavar="NAME|ARN",
                         help="EKS cluster ARN, or its name as in the scheduler targets (when only one cluster has it)")
    history.add_argument("--since", default="24h", metavar="AGE", help="how far back: 90m, 24h, 7d (default 24h)")
    history.add_argument("--table", metavar="NAME", help="DynamoDB table (default: $CPWATCH_TABLE_NAME)")
    history.add_argument("--region", metavar="REGION", help="AWS region of the table (default: $AWS_REGION)")
    history.add_argument("--json", action="store_true", help="print the runs as JSON lines")
    evidence = commands.add_parser("evidence", help="print the evidence pack of a cluster's alarm for the support case")
    evidence.add_argument("--cluster", required=True, metavar="NAME|ARN",
                          help="EKS cluster ARN, or its name as in the scheduler targets (when only one cluster has it)")
    evidence.add_argument("--at", metavar="TIME",
                          help="the alarm open at this time (ISO 8601, UTC unless it has an offset; default: the "
                               "newest alarm)")
    evidence.add_argument("--component", metavar="NAME", help="only this component's pack (default: every one)")
    evidence.add_argument("--table", metavar="NAME", help="DynamoDB table (default: $CPWATCH_TABLE_NAME)")
    evidence.add_argument("--region", metavar="REGION", help="AWS region of the table (default: $AWS_REGION)")
    return parser


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {raw!r}")
    return value


def _seconds_since_process_start() -> float:
    """How long ago this process was started (Linux: /proc/self/stat starttime, in clock ticks
    since boot); 0 where that cannot be read."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of proc(5); fields[0] is field 3
        return min(max(time.clock_gettime(time.CLOCK_BOOTTIME) - started, 0.0), 5.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def _context_names(raw: str) -> list[str]:
    names = list(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    if not names:
        raise argparse.ArgumentTypeError(f"must name at least one context, got {raw!r}")
    return names


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("cpwatch: %(levelname)s %(name)s: %(message)s"))
    # Only cpwatch's own loggers reach the terminal: libraries (the kubernetes package logs
    # through the root logger, urllib3 about its pools) would put stray lines above a report.
    handler.addFilter(logging.Filter("cpwatch"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def main(argv: Sequence[str] | None = None) -> int:
    _setup_logging()
    try:
        args = build_parser().parse_args(argv)
        if args.command == "check":
            # Run as the command (argv from sys.argv), --timeout counts from the process start.
            return _check(args, _seconds_since_process_start() if argv is None else 0.0)
        if args.command == "explain":
            return _explain(args)
        if args.command == "history":
            return _history(args)
        if args.command == "evidence":
            return _evidence(args)
        build_parser().print_help(sys.stderr)
        return EXIT_USAGE
    except _UsageError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as error:
        print(f"cpwatch: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _check(args: argparse.Namespace, already: float = 0.0) -> int:
    """`already`: seconds of --timeout spent before this call (the interpreter's start-up)."""
    from ..cluster.connect import api_for_context
    from ..cluster.kubeconfig import load_kubeconfig

    settings = settings_from_env(os.environ)
    if args.timeout is not None:
        settings = settings.with_overrides(
            run_timeout_s=args.timeout,
            request_timeout_s=min(settings.request_timeout_s, args.timeout),
        )
    started = time.monotonic() - already
    deadline = Deadline.after(max(settings.run_timeout_s - _RENDER_RESERVE_S - already, 0.1))
    kubeconfig = load_kubeconfig(args.kubeconfig)
    if args.all_contexts or args.contexts:
        return _check_contexts(kubeconfig, args, settings, deadline, started)
    context = kubeconfig.context(args.context)
    try:
        api, target = api_for_context(context, settings.request_timeout_s, deadline)
    except CredentialsError as error:
        finding = credentials_observation(error)
        if args.json:
            sys.stdout.write(to_json(blind_diagnosis(context.name, (finding,), args.read_only)) + "\n")
        print(finding.message(), file=sys.stderr)  # it names cpwatch already
        return EXIT_USAGE
    try:
        diagnosis = run_check(api, target.name, settings, read_only=args.read_only,
                              extra=clientcert.observations(target.client_certificate, settings.cert_expiry_warn_days))
    finally:
        api.close()
    sys.stdout.write(to_json(diagnosis) + "\n" if args.json else to_text(diagnosis, terminal_style(), args.verbose))
    sys.stdout.flush()
    return EXIT_CODES[diagnosis.overall]


def terminal_style() -> Style:
    """Wrap to the terminal's columns and colour verdicts on a terminal; 100 columns and no
    colour when piped, and no colour with NO_COLOR set (no-color.org)."""
    import shutil

    if not sys.stdout.isatty():
        return Style(DEFAULT_WIDTH, colour=False)
    return Style(shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns, colour=not os.environ.get("NO_COLOR"))


def _explain(args: argparse.Namespace) -> int:
    import difflib

    from ..findings import CATALOGUE

    code = args.code.strip().upper()
    if code not in CATALOGUE:
        close = difflib.get_close_matches(code, list(CATALOGUE), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (the README's runbook section lists every code)"
        print(f"cpwatch: no finding code {args.code!r}{hint}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(explain_text(code, terminal_style()))
    return 0


def _check_contexts(kubeconfig, args: argparse.Namespace, settings, deadline: Deadline, started: float) -> int:
    from .multicheck import check_contexts

    names = list(kubeconfig.contexts) if args.all_contexts else args.contexts
    unknown = [name for name in names if name not in kubeconfig.contexts]
    if unknown:
        raise ConfigError(f"context(s) not found in the kubeconfig: {', '.join(unknown)} "
                          f"(contexts: {', '.join(kubeconfig.contexts) or 'none'})")
    if not names:
        raise ConfigError("the kubeconfig defines no contexts")
    results = check_contexts(kubeconfig, names, settings, deadline, args.read_only)
    seconds = time.monotonic() - started
    sys.stdout.write(contexts_to_json(results, seconds) + "\n" if args.json
                     else contexts_to_text(results, seconds, style=terminal_style()))
    sys.stdout.flush()
    return EXIT_CODES[worst(results)]


def _history(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime, timezone

    from ..telling.history import parse_since, render_timeline, resolve_cluster
    from ..telling.store import StoreError

    store = _history_store(args)
    since = datetime.now(timezone.utc) - parse_since(args.since)
    try:
        cluster = resolve_cluster(store, args.cluster)
        runs = list(store.runs(cluster, since))
    except StoreError as error:
        print(f"cpwatch: {error}", file=sys.stderr)
        return 3
    if args.json:
        for run in runs:
            print(json.dumps({"at": run.at.isoformat(), "cluster": cluster.name, "cluster_arn": cluster.arn,
                              "overall": run.overall, "components": run.components,
                              "alerts": list(run.alerts), "execution_id": run.execution_id}))
    else:
        sys.stdout.write(render_timeline(cluster, since, runs))
    return 0


def _history_store(args: argparse.Namespace):
    from ..aws.clients import aws_client
    from ..telling.store import Store

    deployment = deployment_settings_from_env(os.environ)
    table = args.table or deployment.table_name
    if not table:
        raise ConfigError("no table: give --table or set CPWATCH_TABLE_NAME")
    region = args.region or deployment.region or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigError("no region: give --region or set AWS_REGION")
    return Store(aws_client("dynamodb", region), table)


def _evidence(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from ..telling.history import describe, parse_at, render_evidence, resolve_cluster
    from ..telling.store import StoreError

    now = datetime.now(timezone.utc)
    at = parse_at(args.at, now) if args.at is not None else now
    store = _history_store(args)
    try:
        cluster = resolve_cluster(store, args.cluster)
        if not store.knows(cluster):
            raise ConfigError(f"no cluster {args.cluster!r} in table {store.table} (a name as in the scheduler "
                              f"targets, or an EKS cluster ARN; `cpwatch history --cluster NAME` lists a cluster's runs)")
        if args.at is not None:
            latest = store.latest_run(cluster, at)
            if latest is None or latest.overall == "healthy":
                print(f"cpwatch: nothing failing in {describe(cluster)} at {at:%Y-%m-%d %H:%M:%S} UTC: "
                      + ("no run stored before then" if latest is None else
                         f"the run before then ({latest.at:%Y-%m-%d %H:%M:%S} UTC) was healthy"), file=sys.stderr)
                return 1
        found = store.latest_run(cluster, at, with_evidence=True)
    except StoreError as error:
        print(f"cpwatch: {error}", file=sys.stderr)
        return 3
    text = render_evidence(found, args.component) if found is not None else ""
    if not text:
        what = f"of component {args.component} " if args.component else ""
        print(f"cpwatch: no alarm or warning {what}of {describe(cluster)} stored at or before "
              f"{at:%Y-%m-%d %H:%M:%S} UTC (an evidence pack is stored with each alarm, warning and reminder)",
              file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
