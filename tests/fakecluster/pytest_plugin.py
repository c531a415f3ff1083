"""pytest fixture `fake_cluster`: a started FakeCluster (3 nodes, infra/ installed), stopped
after the test. Register with `pytest_plugins = ["tests.fakecluster.pytest_plugin"]`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cluster import FakeCluster


@pytest.fixture
def fake_cluster() -> Iterator[FakeCluster]:
    cluster = FakeCluster(nodes=3)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
