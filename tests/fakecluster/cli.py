"""`python -m tests.fakecluster serve|fault ...`: run the fake control plane in the foreground
and switch its faults from another terminal."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from .cluster import FakeCluster
from .control import ControlServer, send_fault
from .scenarios import FAULTS, SCENARIOS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.fakecluster",
                                     description="A fake Kubernetes control plane with switchable faults.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the fake control plane until interrupted")
    serve.add_argument("--nodes", type=int, default=3)
    source = serve.add_mutually_exclusive_group()
    source.add_argument("--scenario", choices=sorted(SCENARIOS), help="simulated failure scenario")
    source.add_argument("--replay", metavar="FILE", help="recording to replay (file or scenario name)")
    serve.add_argument("--kubeconfig-out", type=Path, help="where to write the checker's kubeconfig")
    serve.add_argument("--admin-kubeconfig-out", type=Path, help="also write an admin (system:masters) kubeconfig")
    serve.add_argument("--control-port", type=int, default=0)
    serve.add_argument("--static-pods", action="store_true", help="kubeadm-style control-plane static pods")
    serve.add_argument("--apiservers", type=int, default=1, help="apiservers behind a load balancer (default 1)")
    fault = commands.add_parser("fault", help="switch a fault of a running fake control plane")
    fault.add_argument("--control", required=True, metavar="URL", help="control URL printed by serve")
    fault.add_argument("fault", choices=sorted(FAULTS))
    fault.add_argument("argument", nargs="?", help="node name (node-lost), seconds (advance, apiserver-slow), "
                                                   "apiserver index (apiserver-down/hung/up) or component (fail-over)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "fault":
        try:
            state = send_fault(args.control, args.fault, args.argument)
        except (ValueError, OSError) as error:
            print(f"fault {args.fault} failed: {error}", file=sys.stderr)
            return 1
        print(", ".join(f"{key}={value}" for key, value in state.items()))
        return 0
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    if args.replay:
        fc = FakeCluster.from_recording(args.replay, static_pods=args.static_pods, apiservers=args.apiservers)
    else:
        fc = FakeCluster(nodes=args.nodes, static_pods=args.static_pods, demo_objects=True, apiservers=args.apiservers)
    fc.start()
    if args.scenario:
        SCENARIOS[args.scenario](fc)
    control = ControlServer(fc, args.control_port).start()
    # Before the banner: a client that read it may stop the server at once.
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    kubeconfig = args.kubeconfig_out or Path(tempfile.mkdtemp(prefix="fakecluster-")) / "kubeconfig"
    fc.write_kubeconfig(kubeconfig)
    print(f"apiserver:  {fc.url}")
    for index in range(args.apiservers if args.apiservers > 1 else 0):
        print(f"  apiserver {index}: {fc.apiserver_url(index)}")
    print(f"kubeconfig: {kubeconfig}")
    if args.admin_kubeconfig_out:
        fc.write_kubeconfig(args.admin_kubeconfig_out, token=fc.admin_token)
        print(f"admin kubeconfig: {args.admin_kubeconfig_out}")
    print(f"control:    {control.url}")
    print(f"faults:     python -m tests.fakecluster fault --control {control.url} <{'|'.join(sorted(FAULTS))}>",
          flush=True)
    done.wait()
    control.stop()
    fc.stop()
    return 0
