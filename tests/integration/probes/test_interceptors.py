"""The webhook view (probes/interceptors.py) against the fake control plane (issue 12).

The cluster's admission webhooks of both kinds, read from the watch cache once per run; what it
read before an error is kept with the error (mutation testing).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from cpwatch.errors import NoAnswerError
from cpwatch.probes import interceptors
from cpwatch.probes.webhookrules import Write
from tests.fakecluster import FakeCluster

from .helpers import context_of

VALIDATING = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
MUTATING = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
POD_CREATE = Write("CREATE", "", "pods", namespace="default")


def test_both_kinds_of_webhook_are_read_from_the_watch_cache_once_per_run(tmp_path):
    with FakeCluster(nodes=1) as fc:
        fc.add_failing_webhook("closed.example.org", configuration="closed", kind="validating")
        fc.add_failing_webhook("open.example.org", configuration="open", kind="validating", failure_policy="Ignore")
        fc.add_failing_webhook("mutator.example.org", configuration="mutator", kind="mutating")
        ctx, api = context_of(fc, tmp_path)
        fc.clear_requests()
        try:
            view = interceptors.webhooks(ctx)
            assert interceptors.webhooks(ctx) is view
        finally:
            api.close()
        asked = [(urlsplit(r.path).path, parse_qs(urlsplit(r.path).query)) for r in fc.requests]
    assert asked == [(VALIDATING, {"resourceVersion": ["0"]}), (MUTATING, {"resourceVersion": ["0"]})]
    assert view.error is None
    assert sorted((w.name, w.kind, w.configuration, w.fail_closed) for w in view.webhooks) == [
        ("closed.example.org", "validating", "closed", True), ("mutator.example.org", "mutating", "mutator", True),
        ("open.example.org", "validating", "open", False)]
    assert [w.name for w in view.fail_closed_on(POD_CREATE)] == ["closed.example.org", "mutator.example.org"]
    assert view.fail_closed_on(Write("CREATE", "", "pods", namespace="elsewhere")) == []
    assert view.named("open.example.org").fail_closed is False
    assert view.named("no-such.example.org") is None


def test_webhooks_read_before_an_error_are_kept_with_the_error(tmp_path):
    with FakeCluster(nodes=1) as fc:
        fc.add_failing_webhook("closed.example.org", configuration="closed", kind="validating")
        fc.add_failing_webhook("mutator.example.org", configuration="mutator", kind="mutating")
        fc.when_requested(MUTATING, lambda: fc.set_apiserver("hung"))
        ctx, api = context_of(fc, tmp_path)
        try:
            view = interceptors.webhooks(ctx)
            again = interceptors.webhooks(ctx)
        finally:
            api.close()
    assert [w.name for w in view.webhooks] == ["closed.example.org"]
    assert isinstance(view.error, NoAnswerError) and view.error.path == MUTATING
    assert again is view
