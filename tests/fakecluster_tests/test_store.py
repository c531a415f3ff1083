"""Store properties: pagination returns every match exactly once, in key order; indexes agree
with plain scans; selectors parse as Kubernetes writes them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakecluster.clock import SimClock
from tests.fakecluster.errors import ApiError
from tests.fakecluster.objects import pod
from tests.fakecluster.selectors import parse_field_selector, parse_label_selector
from tests.fakecluster.store import Store

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


def make_store(specs: list[tuple[str, str, str | None, str]]) -> Store:
    store = Store(SimClock(NOW))
    store.add_index("pods", "spec.nodeName", lambda p: (p.get("spec") or {}).get("nodeName") or "")
    for namespace, name, node, tier in specs:
        store.put("pods", pod(namespace, name, node_name=node, labels={"tier": tier}, created=NOW))
    return store


pod_specs = st.lists(
    st.tuples(st.sampled_from(["a", "b", "kube-system"]), st.from_regex(r"[a-z]{1,6}", fullmatch=True),
              st.sampled_from([None, "node-a", "node-b"]), st.sampled_from(["web", "db"])),
    max_size=40, unique_by=lambda spec: spec[:2])
selectors = st.sampled_from(["", "spec.nodeName=", "spec.nodeName=node-a", "spec.nodeName!=node-b",
                             "metadata.namespace=a", "metadata.namespace=b,spec.nodeName="])
label_selectors = st.sampled_from(["", "tier=web", "tier!=web", "tier in (db)", "tier", "!tier"])


@settings(max_examples=60, deadline=None)
@given(pod_specs, selectors, label_selectors, st.sampled_from([None, "a"]), st.integers(1, 7))
def test_pages_cover_every_match_once(specs, field_text, label_text, namespace, limit):
    store = make_store(specs)
    fields, labels = parse_field_selector(field_text, "pods"), parse_label_selector(label_text)
    expected = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in store.scan("pods", namespace)
                if fields.matches(p) and labels.matches(p["metadata"].get("labels"))]
    seen, token = [], None
    while True:
        page = store.page("pods", namespace, labels, fields, limit, token)
        assert len(page.entries) <= limit
        seen += [(e.obj["metadata"]["namespace"], e.obj["metadata"]["name"]) for e in page.entries]
        if page.remaining_item_count is not None:
            assert not field_text and not label_text
        token = page.continue_token
        if not token:
            break
    assert seen == expected == sorted(expected)


def test_delete_keeps_indexes_and_order():
    store = make_store([("a", "x", "node-a", "web"), ("a", "y", "node-a", "web"), ("b", "z", None, "db")])
    store.delete("pods", "a", "x")
    assert [p["metadata"]["name"] for p in store.indexed("pods", "spec.nodeName", "node-a")] == ["y"]
    assert store.index_count("pods", "spec.nodeName", "") == 1
    assert [p["metadata"]["name"] for p in store.scan("pods")] == ["y", "z"]


def test_update_keeps_uid_and_bumps_the_resource_version():
    store = make_store([("a", "x", None, "web")])
    before = store.get("pods", "a", "x")
    after = store.mutate("pods", "a", "x", lambda p: p["spec"].update(nodeName="node-b"))
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert [p["metadata"]["name"] for p in store.indexed("pods", "spec.nodeName", "node-b")] == ["x"]


@pytest.mark.parametrize("text", ["a in (b", "=x", "a = (", "tier=-bad-"])
def test_bad_label_selectors(text):
    with pytest.raises(ApiError) as caught:
        parse_label_selector(text)
    assert caught.value.code == 400


def test_field_selector_escapes_and_operators():
    selector = parse_field_selector(r"metadata.name=a\,b,spec.nodeName!=x", "pods")
    assert [(r.field, r.value, r.equal) for r in selector.requirements] == [
        ("metadata.name", "a,b", True), ("spec.nodeName", "x", False)]
    assert parse_field_selector("reason==FailedScheduling", "events").exact("reason") == "FailedScheduling"
