"""The etcd size probe (probes/etcd_db_size.py) against the fake control plane (issue 12).

The size of etcd's database read from the apiserver's /metrics, judged against etcd's quota
(EKS's on EKS).
"""

from __future__ import annotations

import pytest

from cpwatch.probes import etcd_db_size
from tests.fakecluster import FakeCluster

from ..conftest import FAST
from .helpers import probe_context, table

QUOTA = FAST.etcd_quota_bytes                           # etcd's default 2 GiB
EKS_QUOTA = FAST.eks_etcd_quota_bytes                   # 8 GiB on EKS
AT_WARNING = 1717986919                                 # 80.0 % of 2 GiB once rounded to 0.1 %


def _metrics_reads(fc: FakeCluster) -> list:
    return [r for r in fc.requests if r.path == "/metrics"]


def test_a_database_at_the_warning_percent_is_near_its_quota(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.set_etcd_db_size(AT_WARNING)
        found = etcd_db_size.probe(ctx)
        [read] = _metrics_reads(fc)
        body = fc._metrics_body()
    [(code, component, evidence)] = table(found)
    metrics_bytes = evidence.pop("metrics_bytes")  # decompressed; object counts in it move with the simulation
    assert (code, component, evidence) == ("ETCD_DB_NEAR_QUOTA", "etcd", {
        "warn_percent": FAST.etcd_db_warn_percent, "size": "1.6 GiB", "quota": "2.0 GiB", "percent": 80.0,
        "metric": "apiserver_storage_size_bytes", "size_bytes": AT_WARNING, "quota_bytes": QUOTA})
    assert abs(metrics_bytes - len(body)) < 2000
    assert read.bytes_sent < len(body) / 5  # asked gzipped: the exposition is hundreds of KB


def test_a_database_just_under_the_warning_percent_is_ok(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.set_etcd_db_size(int(0.7994 * QUOTA))
        [found] = etcd_db_size.probe(ctx)
    assert (found.code, found.evidence["percent"]) == ("ETCD_DB_SIZE_OK", 79.9)  # 79.94 %, to 0.1 %


def test_an_eks_apiserver_is_judged_on_eks_8_gib_quota(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.api.version["gitVersion"] = "v1.31.4-eks-a737599"
        fc.set_etcd_db_size(AT_WARNING)
        [found] = etcd_db_size.probe(ctx)
    assert found.code == "ETCD_DB_SIZE_OK"
    assert {k: found.evidence[k] for k in ("quota", "quota_bytes", "percent")} == {
        "quota": "8.0 GiB", "quota_bytes": EKS_QUOTA, "percent": 20.0}


@pytest.mark.parametrize("metric", ["apiserver_storage_db_total_size_in_bytes", "etcd_db_total_size_in_bytes"])
def test_older_size_series_are_read_per_member_and_the_largest_taken(metric, tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.set_etcd_db_size([2**20, 3 * 2**20, 2 * 2**20], metric=metric)
        [found] = etcd_db_size.probe(ctx)
    assert (found.code, found.evidence["metric"], found.evidence["size_bytes"], found.evidence["size"]) == (
        "ETCD_DB_SIZE_OK", metric, 3 * 2**20, "3.0 MiB")


def test_metrics_without_a_size_series_are_a_probe_failure_naming_the_series(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.disable_size_metric()
        found = etcd_db_size.probe(ctx)
    assert table(found) == [("PROBE_FAILED", "etcd", {
        "probe": "etcd_db_size", "detail": "/metrics has none of apiserver_storage_size_bytes, "
                                           "apiserver_storage_db_total_size_in_bytes, etcd_db_total_size_in_bytes"})]
