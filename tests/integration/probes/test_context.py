"""What every probe shares (probes/context.py), against the fake control plane: a consistent read.

The rest of context.py needs no server: tests/unit/probes/test_context.py.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from cpwatch.cluster.kubeapi import METADATA_LIST
from cpwatch.probes.context import pod_consistently
from tests.fakecluster import FakeCluster

from .helpers import context_of



def test_a_consistent_read_of_one_pod_by_name_in_the_asked_representation(tmp_path):
    with FakeCluster(nodes=1) as fc:
        fc.add_pod("demo", "web-1", node_name="node-a", phase="Running")
        fc.add_pod("demo", "web-2", node_name="node-a", phase="Running")
        ctx, api = context_of(fc, tmp_path)
        fc.clear_requests()
        try:
            full = pod_consistently(ctx, "demo", "web-2")
            metadata_only = pod_consistently(ctx, "demo", "web-2", accept=METADATA_LIST)
            missing = pod_consistently(ctx, "demo", "web-3")
        finally:
            api.close()
        asked = [(urlsplit(r.path).path, parse_qs(urlsplit(r.path).query)) for r in fc.requests]
    assert full["metadata"]["name"] == "web-2" and full["status"]["phase"] == "Running"
    assert metadata_only["metadata"]["name"] == "web-2" and "status" not in metadata_only
    assert missing is None
    assert asked == [("/api/v1/namespaces/demo/pods", {"fieldSelector": [f"metadata.name={name}"]})
                     for name in ("web-2", "web-2", "web-3")]
