"""`python -m tests.fakecluster serve` in the foreground and `fault` against its control URL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.fakecluster import FakeCluster
from tests.fakecluster.control import ControlServer, send_fault

pytestmark = pytest.mark.network

REPO = Path(__file__).resolve().parents[2]


def _read_banner(process: subprocess.Popen) -> dict[str, str]:
    banner: dict[str, str] = {}
    deadline = time.monotonic() + 20
    while "control" not in banner and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        key, _, value = line.partition(":")
        banner[key.strip()] = value.strip()
    return banner


def test_serve_and_fault_commands(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    with subprocess.Popen(
        [sys.executable, "-m", "tests.fakecluster", "serve", "--nodes", "4", "--scenario", "scheduler-down",
         "--kubeconfig-out", str(kubeconfig)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ) as process:
        _check_serve(process, kubeconfig)


def _check_serve(process: subprocess.Popen, kubeconfig: Path) -> None:
    try:
        banner = _read_banner(process)
        assert banner["kubeconfig"] == str(kubeconfig)
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == banner["apiserver"]
        fault = subprocess.run([sys.executable, "-m", "tests.fakecluster", "fault", "--control", banner["control"],
                                "node-lost", "node-d"], cwd=REPO, capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=30)
        assert fault.returncode == 0, fault.stderr
        assert "nodes_lost=['node-d']" in fault.stdout and "scheduler=down" in fault.stdout
        assert send_fault(banner["control"], "apiserver-down")["apiserver"] == "down"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_control_endpoint_faults():
    with FakeCluster(nodes=3) as fc:
        control = ControlServer(fc).start()
        try:
            assert send_fault(control.url, "kcm-down")["controller_manager"] == "down"
            assert send_fault(control.url, "etcd-quorum-lost")["etcd_quorum"] is False
            assert send_fault(control.url, "etcd-ok")["etcd_members_down"] == []
            state = send_fault(control.url, "apiserver-slow", "0.5")
            assert state["apiserver"] == "slow" and fc.apiservers.servers[0].slow_delay == 0.5
            before = fc.clock.now()
            send_fault(control.url, "advance", "60")
            assert (fc.clock.now() - before).total_seconds() >= 60
            try:
                send_fault(control.url, "node-lost")
            except ValueError as error:
                assert "node name" in str(error)
            else:
                raise AssertionError("node-lost without a name must fail")
        finally:
            control.stop()


def test_control_endpoint_apiserver_index_and_fail_over():
    with FakeCluster(nodes=1, apiservers=2) as fc:
        control = ControlServer(fc).start()
        try:
            state = send_fault(control.url, "apiserver-hung", "1")
            assert (state["apiserver"], state["apiservers"]) == ("mixed", ["up", "hung"])
            assert send_fault(control.url, "apiserver-up")["apiservers"] == ["up", "up"]
            holder = fc.store.get("leases", "kube-system", "kube-scheduler")["spec"]["holderIdentity"]
            send_fault(control.url, "fail-over", "scheduler")
            assert not fc.scheduler.elector.leader and fc.scheduler.elector.identity != holder
        finally:
            control.stop()


def test_serve_with_two_apiservers(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    with subprocess.Popen(
        [sys.executable, "-m", "tests.fakecluster", "serve", "--nodes", "1", "--apiservers", "2",
         "--kubeconfig-out", str(kubeconfig)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ) as process:
        try:
            banner = _read_banner(process)
            server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
            assert server == banner["apiserver"]
            assert server not in (banner["apiserver 0"], banner["apiserver 1"])
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
