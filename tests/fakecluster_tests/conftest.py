from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakecluster import FakeCluster

from .kube_http import Client


@pytest.fixture
def fc() -> Iterator[FakeCluster]:
    """A started 3-node cluster with quick etcd fault timings."""
    with FakeCluster(nodes=3, etcd_health_delay=0.2, etcd_write_fail_delay=0.3, read_hang_cap=5.0) as cluster:
        yield cluster


@pytest.fixture
def admin(fc: FakeCluster) -> Client:
    return Client(fc)


@pytest.fixture
def checker(fc: FakeCluster) -> Client:
    return Client(fc, fc.checker_token)
