"""The apiservers' identity Leases in kube-system (Kubernetes 1.26+, the fake simulates 1.31),
shaped and renewed as pkg/controlplane/apiserver and the lease controller do it."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import parse_time
from tests.fakecluster.objects import apiserver_identity

pytestmark = pytest.mark.network

LABEL = "apiserver.kubernetes.io/identity"


def identity_leases(fc: FakeCluster) -> dict[str, dict]:
    return {lease["metadata"]["labels"]["kubernetes.io/hostname"]: lease for lease in fc.store.scan("leases", "kube-system")
            if LABEL in (lease["metadata"].get("labels") or {})}


def renewed(lease: dict):
    return parse_time(lease["spec"]["renewTime"])


def test_the_identity_name_hashes_the_hostname_and_the_identity_with_length_prefixes():
    # cryptobyte: a uint16 length before each of hostname and "kube-apiserver".
    digest = hashlib.sha256(b"\x00\x0dcontrol-plane\x00\x0ekube-apiserver").digest()[:16]
    assert apiserver_identity("control-plane") == "apiserver-" + base64.b32encode(digest).decode()[:26].lower()
    assert re.fullmatch(r"apiserver-[a-z2-7]{26}", apiserver_identity("ip-10-0-1-2.ec2.internal"))


def test_one_apiserver_holds_one_identity_lease(fc):
    (hostname, lease), = identity_leases(fc).items()
    name = lease["metadata"]["name"]
    assert hostname == "control-plane" and name == apiserver_identity("control-plane")
    assert lease["metadata"]["labels"] == {LABEL: "kube-apiserver", "kubernetes.io/hostname": "control-plane"}
    spec = lease["spec"]
    assert sorted(spec) == ["holderIdentity", "leaseDurationSeconds", "renewTime"]
    assert spec["leaseDurationSeconds"] == 3600
    assert re.fullmatch(rf"{name}_[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}",
                        spec["holderIdentity"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", spec["renewTime"])


def test_it_is_renewed_every_ten_seconds(fc):
    first = renewed(identity_leases(fc)["control-plane"])
    fc.advance(10)
    second = renewed(identity_leases(fc)["control-plane"])
    assert 9.5 <= (second - first).total_seconds() <= 11
    fc.advance(60)
    assert (fc.clock.now() - renewed(identity_leases(fc)["control-plane"])).total_seconds() <= 10.5


def test_each_apiserver_renews_its_own_while_it_answers():
    with FakeCluster(nodes=1, apiservers=2) as fc:
        leases = identity_leases(fc)
        assert sorted(leases) == ["control-plane-0", "control-plane-1"]
        assert len({lease["metadata"]["name"] for lease in leases.values()}) == 2
        fc.set_apiserver("hung", index=1)
        stopped = renewed(identity_leases(fc)["control-plane-1"])
        fc.set_apiserver("slow", 0.01, index=0)
        fc.advance(30)
        assert renewed(identity_leases(fc)["control-plane-1"]) == stopped
        assert (fc.clock.now() - renewed(identity_leases(fc)["control-plane-0"])).total_seconds() <= 10.5


def test_a_restarted_apiserver_is_a_new_holder(fc):
    before = identity_leases(fc)["control-plane"]["spec"]
    fc.set_apiserver("down")
    fc.advance(30)
    assert identity_leases(fc)["control-plane"]["spec"] == before
    fc.set_apiserver("up")
    fc.advance(1)
    after = identity_leases(fc)["control-plane"]["spec"]
    assert after["holderIdentity"] != before["holderIdentity"] and renewed(identity_leases(fc)["control-plane"]) > \
        parse_time(before["renewTime"])


def test_a_webhook_on_kube_system_leases_and_etcd_faults_stop_the_renewals(fc):
    fc.add_failing_webhook("lease-policy.example.org", configuration="lease-policy", resources=("leases",),
                           api_groups=("coordination.k8s.io",), operations=("UPDATE",), namespaces=("kube-system",),
                           object_selector={"matchLabels": {LABEL: "kube-apiserver"}})
    before = identity_leases(fc)["control-plane"]["spec"]
    fc.advance(30)
    assert identity_leases(fc)["control-plane"]["spec"] == before
    assert fc.scheduler.elector.leader  # the object selector spares the leader Leases
    fc.remove_webhooks()
    fc.fail_writes()
    fc.advance(30)
    assert identity_leases(fc)["control-plane"]["spec"] == before
    fc.fail_writes(None)
    fc.advance(10)
    assert identity_leases(fc)["control-plane"]["spec"] != before


def test_replays_of_the_1_24_recordings_have_none():
    with FakeCluster.from_recording("healthy") as fc:
        fc.advance(20)
        assert identity_leases(fc) == {}
