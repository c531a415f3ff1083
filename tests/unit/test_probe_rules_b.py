"""The pure rules of the refused-write, etcd size and webhook probes, each alone (issue 12,
mutation testing). No network: the webhook configurations a probe would read are given to the
run's cache as already read, and refused writes are the Status errors the apiserver sends, in
the phrasings of k8s.io/apiserver (refusals.py names the files)."""

from __future__ import annotations

import pytest

from cpwatch.probes.control_plane_writes import CONTROL_PLANE_WRITES
from cpwatch.errors import ApiStatusError, BadResponseError, ForbiddenError, ServerError
from cpwatch.findings import Component
from cpwatch.probes import admission_webhooks, etcd_db_size
from cpwatch.probes.context import ProbeContext
from cpwatch.probes.interceptors import WebhookView
from cpwatch.probes.refused_writes import blocked, intercepted_reaction, observations_for
from cpwatch.probes.refusals import Cause, Refusal
from cpwatch.settings import Settings
from cpwatch.probes.webhookrules import Write, parse_configuration

SETTINGS = Settings(namespace="watcher")
TARGET = "ConfigMap watcher/cpwatch-heartbeat"
URL = 'Post "https://policy.example.svc:443/validate?timeout=10s"'


def context(*configurations: tuple[str, dict]) -> ProbeContext:
    """A context whose run already read these (kind, configuration) pairs; it has no client."""
    ctx = ProbeContext(api=None, settings=SETTINGS, run_id="r")  # type: ignore[arg-type]
    found = tuple(w for kind, item in configurations for w in parse_configuration(item, kind))
    ctx.cache.get("webhooks", lambda: WebhookView(found))
    return ctx


def configuration(name: str, *hooks: dict) -> dict:
    return {"metadata": {"name": name}, "webhooks": list(hooks)}


def hook(name: str, resources=("configmaps",), operations=("CREATE", "UPDATE"), failure_policy="Fail",
         namespaces: tuple[str, ...] | None = None, timeout_s: int = 10) -> dict:
    selector = ({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                       "values": list(namespaces)}]} if namespaces else {})
    return {"name": name, "failurePolicy": failure_policy, "timeoutSeconds": timeout_s, "namespaceSelector": selector,
            "rules": [{"operations": list(operations), "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": list(resources), "scope": "*"}]}


def table(observations) -> list[tuple[str, str, dict]]:
    return [(o.code, o.component.value, dict(o.evidence)) for o in observations]


def refused(status: int, message: str, reason: str = "") -> ApiStatusError:
    kind = ForbiddenError if status == 403 else ServerError if status >= 500 else ApiStatusError
    return kind("PATCH", "/api/v1/namespaces/watcher/configmaps/cpwatch-heartbeat", status, reason, message)


# --- observations_for: what a refused write shows ----------------------------------------------


def test_a_webhook_that_cannot_be_called_is_failing_closed_and_blocks_the_probe():
    ctx = context(("validating", configuration("image-policy", hook("policy.example.org", namespaces=("watcher",)))))
    error = refused(500, f'failed calling webhook "policy.example.org": failed to call webhook: {URL}: '
                         "dial tcp 10.0.0.9:443: connect: connection refused", "InternalError")
    assert table(observations_for(ctx, "etcd_write", Component.ETCD, TARGET, error)) == [
        ("WEBHOOK_FAILING_CLOSED", "extensions", {
            "webhook": "policy.example.org", "configuration": "validatingwebhookconfiguration/image-policy",
            "cause": "connect: connection refused", "covers": "CREATE/UPDATE configmaps in watcher"}),
        ("PROBE_BLOCKED", "etcd", {
            "probe": "etcd_write", "cause": "webhook-unreachable", "status": 500, "webhook": "policy.example.org",
            "because": f"admission webhook policy.example.org refused the write to {TARGET}: it cannot be called "
                       "(connect: connection refused)"})]


def test_a_failing_webhook_whose_configuration_was_not_read_is_named_from_the_error():
    """No cause after the name, and no configuration to describe it: the error's own text."""
    ctx = context()
    message = 'failed calling webhook "gone.example.org"'
    [failing, _] = observations_for(ctx, "scheduler_canary", Component.SCHEDULER, "canary pod watcher/c", refused(500, message))
    assert table([failing]) == [("WEBHOOK_FAILING_CLOSED", "extensions", {
        "webhook": "gone.example.org", "configuration": "configuration not readable", "cause": message,
        "covers": "unknown"})]


def test_a_long_webhook_error_without_a_cause_is_cut_to_160_characters():
    ctx = context()
    message = "Internal error occurred: " + "x" * 200 + ' failed calling webhook "gone.example.org"'
    [failing, _] = observations_for(ctx, "etcd_write", Component.ETCD, TARGET, refused(500, message))
    assert failing.evidence["cause"] == message[:160]


@pytest.mark.parametrize(("message", "status", "by"), [
    ('admission webhook "policy.example.org" denied the request: configmaps are frozen', 400,
     "admission webhook policy.example.org"),
    ("ValidatingAdmissionPolicy 'frozen' with binding 'frozen-binding' denied request: configmaps are frozen", 403,
     "admission policy frozen"),
], ids=["webhook", "policy"])
def test_a_denied_write_is_the_checkers_set_up_and_blocks_the_probe(message, status, by):
    ctx = context()
    found = observations_for(ctx, "deployment_canary", Component.CONTROLLER_MANAGER, TARGET, refused(status, message))
    cause = "webhook-denied" if by.startswith("admission webhook") else "policy-denied"
    assert table(found) == [
        ("CHECKER_WRITE_DENIED", "checker", {"by": by, "object": TARGET, "detail": message, "namespace": "watcher"}),
        ("PROBE_BLOCKED", "controller-manager", {
            "probe": "deployment_canary", "because": f"{by} denied the write to {TARGET}", "cause": cause,
            "status": status, "webhook": by.rsplit(" ", 1)[1]})]


@pytest.mark.parametrize(("message", "status", "cause"), [
    ("etcdserver: request timed out", 500, "storage"),
    ("etcdserver: mvcc: database space exceeded", 500, "etcd-nospace"),
    ("etcdserver: leader changed", 403, "storage"),  # NamespaceLifecycle's own read failed on etcd
], ids=["storage", "nospace", "namespace-lookup"])
def test_etcd_refusing_the_write_blocks_the_probe_and_names_etcd(message, status, cause):
    found = observations_for(context(), "scheduler_canary", Component.SCHEDULER, "canary pod watcher/c",
                             refused(status, message))
    assert table(found) == [("PROBE_BLOCKED", "scheduler", {
        "probe": "scheduler_canary", "because": f"etcd refuses writes ({message})", "cause": cause, "status": status})]


def test_an_unexplained_server_error_blocks_the_probe_with_status_and_detail():
    found = observations_for(context(), "deployment_canary", Component.CONTROLLER_MANAGER, "Deployment watcher/d",
                             refused(500, "Internal error occurred: boom", "InternalError"))
    assert table(found) == [("PROBE_BLOCKED", "controller-manager", {
        "probe": "deployment_canary", "cause": "other", "status": 500,
        "because": "the apiserver failed the write to Deployment watcher/d: HTTP 500: Internal error occurred: boom"})]


@pytest.mark.parametrize(("status", "message"), [
    (403, 'configmaps "cpwatch-heartbeat" is forbidden: User "checker" cannot patch resource "configmaps"'),
    (422, "the object is not valid"),
    (409, "Operation cannot be fulfilled: the object has been modified"),
], ids=["rbac", "invalid", "conflict"])
def test_refusals_the_runner_maps_are_raised_again(status, message):
    error = refused(status, message)
    with pytest.raises(ApiStatusError) as raised:
        observations_for(context(), "etcd_write", Component.ETCD, TARGET, error)
    assert raised.value is error


# --- blocked: the PROBE_BLOCKED evidence --------------------------------------------------------


def test_blocked_without_a_refusal_carries_only_its_cause():
    assert table([blocked("p", Component.SCHEDULER, "because")]) == [
        ("PROBE_BLOCKED", "scheduler", {"probe": "p", "because": "because"})]
    assert table([blocked("p", Component.SCHEDULER, "because", cause="webhook-intercepts")]) == [
        ("PROBE_BLOCKED", "scheduler", {"probe": "p", "because": "because", "cause": "webhook-intercepts"})]


def test_blocked_by_a_refusal_without_a_webhook_names_none():
    found = blocked("p", Component.ETCD, "b", Refusal(Cause.STORAGE, 504, "timeout"))
    assert dict(found.evidence) == {"probe": "p", "because": "b", "cause": "storage", "status": 504}


# --- intercepted_reaction: a controller's write a fail-closed webhook intercepts ----------------

STATUS_WRITE = Write("UPDATE", "", "pods", "status", namespace="watcher")


def test_a_reaction_no_fail_closed_webhook_intercepts_is_not_blocked():
    ctx = context(("validating", configuration("open", hook("open.example.org", resources=("pods/status",),
                                                            operations=("UPDATE",), failure_policy="Ignore"))),
                  ("validating", configuration("elsewhere", hook("elsewhere.example.org", resources=("pods/status",),
                                                                 namespaces=("default",)))))
    assert intercepted_reaction(ctx, "scheduler_canary", Component.SCHEDULER, STATUS_WRITE, "binding") is None


def test_a_reaction_fail_closed_webhooks_intercept_names_the_first_three():
    hooks = [hook(f"w{n}.example.org", resources=("pods/*",), operations=("UPDATE",)) for n in range(4)]
    ctx = context(("mutating", configuration("four", *hooks)))
    found = intercepted_reaction(ctx, "scheduler_canary", Component.SCHEDULER, STATUS_WRITE, "the kubelet's status")
    names = ", ".join(f"w{n}.example.org (mutatingwebhookconfiguration/four)" for n in range(3))
    assert table([found]) == [("PROBE_BLOCKED", "scheduler", {
        "probe": "scheduler_canary", "cause": "webhook-intercepts",
        "because": f"the kubelet's status needs UPDATE pods/status in watcher, which fail-closed admission "
                   f"webhook(s) {names} intercept; a missing reaction may be theirs"})]


# --- admission_webhooks: fail-closed webhooks on what the control plane writes ------------------


def rule_hook(name: str, rules: list[dict], namespaces: tuple[str, ...] | None = None, **extra) -> dict:
    selector = ({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                       "values": list(namespaces)}]} if namespaces else {})
    return {"name": name, "failurePolicy": "Fail", "timeoutSeconds": 7, "namespaceSelector": selector,
            "rules": rules, **extra}


def rule(operations: list[str], groups: list[str], resources: list[str], scope: str = "*") -> dict:
    return {"operations": operations, "apiGroups": groups, "apiVersions": ["*"], "resources": resources, "scope": scope}


LEASES = rule(["UPDATE"], ["coordination.k8s.io"], ["leases"])


@pytest.mark.parametrize(("rules", "namespaces", "writes", "consequence", "key", "covers"), [
    ([LEASES], ("kube-system",), "leader Leases in kube-system",
     "the controller-manager and scheduler lose leadership and stop", "leader-leases",
     "UPDATE leases in kube-system"),
    ([LEASES], ("kube-node-lease",), "node Leases", "every node goes NotReady and its pods are evicted", "node-leases",
     "UPDATE leases in kube-node-lease"),
    ([rule(["UPDATE"], [""], ["nodes/status"])], None, "node status", "node status stops and nodes go NotReady",
     "node-status", "UPDATE nodes/status in every namespace"),
    ([rule(["CREATE"], [""], ["pods/binding"])], None, "pod binding", "no new pod can start", "pod-binding",
     "CREATE pods/binding in every namespace"),
    # the scheduler binds pods in every namespace: a webhook on one of them covers binding there
    ([rule(["CREATE"], [""], ["pods/binding"])], ("demo",), "pod binding", "no new pod can start",
     "pod-binding", "CREATE pods/binding in demo"),
    ([rule(["CREATE"], [""], ["pods"])], ("kube-system",), "pods in kube-system",
     "system pods (DaemonSets, mirror pods of static pods) cannot be created", "system-pods",
     "CREATE pods in kube-system"),
    ([rule(["UPDATE"], ["discovery.k8s.io"], ["endpointslices"])], None, "EndpointSlices",
     "Services stop following their pods", "endpointslices", "UPDATE endpointslices in every namespace"),
    ([rule(["UPDATE"], [""], ["endpoints"])], None, "Endpoints", "Services stop following their pods", "endpoints",
     "UPDATE endpoints in every namespace"),
], ids=["leader-leases", "node-leases", "node-status", "binding", "binding-in-one-namespace", "system-pods",
        "endpointslices", "endpoints"])
def test_each_control_plane_write_a_fail_closed_webhook_covers_is_named(rules, namespaces, writes, consequence, key,
                                                                       covers):
    ctx = context(("validating", configuration("guard", rule_hook("guard.example.org", rules, namespaces))))
    assert table(admission_webhooks.probe(ctx)) == [("WEBHOOK_COVERS_CONTROL_PLANE", "extensions", {
        "webhook": "guard.example.org", "configuration": "validatingwebhookconfiguration/guard", "writes": writes,
        "consequence": consequence, "timeout_s": 7, "match_conditions": False, "intercepts": [key],
        "covers": covers})]


def test_a_webhook_on_pods_in_one_namespace_does_not_cover_pods_in_kube_system():
    """Pods in kube-system are one namespace's writes: a webhook on pods in `demo` spares them."""
    ctx = context(("validating", configuration("guard", rule_hook("guard.example.org", [rule(["CREATE"], [""], ["pods"])],
                                                                  ("demo",)))))
    assert [o.code for o in admission_webhooks.probe(ctx)] == ["WEBHOOKS_OK"]


def test_a_webhook_on_every_write_names_all_seven_and_each_consequence_once():
    everything = rule_hook("all.example.org", [rule(["*"], ["*"], ["*/*"])],
                           matchConditions=[{"name": "not-me", "expression": "true"}])
    ctx = context(("mutating", configuration("all", everything)))
    [found] = admission_webhooks.probe(ctx)
    assert found.evidence["writes"] == ("leader Leases in kube-system, node Leases, node status, pod binding, "
                                        "pods in kube-system, EndpointSlices, Endpoints")
    assert found.evidence["consequence"] == "; ".join(dict.fromkeys(w.consequence for w in CONTROL_PLANE_WRITES))
    assert found.evidence["intercepts"] == [w.key for w in CONTROL_PLANE_WRITES]
    assert found.evidence["consequence"].count("Services stop following their pods") == 1
    assert (found.evidence["match_conditions"], found.evidence["configuration"]) == (True, "mutatingwebhookconfiguration/all")


def test_a_fail_open_webhook_on_every_write_is_counted_not_reported():
    everything = {**rule_hook("open.example.org", [rule(["*"], ["*"], ["*/*"])]), "failurePolicy": "Ignore"}
    found = admission_webhooks.probe(context(("validating", configuration("open", everything))))
    assert table(found) == [("WEBHOOKS_OK", "extensions", {"count": 1, "fail_closed": 0, "fail_closed_webhooks": []})]


def test_fail_closed_webhooks_that_spare_the_control_plane_are_listed_up_to_twenty():
    hooks = [hook(f"w{n:02}.example.org", namespaces=("apps",)) for n in range(21)]
    ctx = context(("validating", configuration("apps", *hooks)),
                  ("mutating", configuration("open", hook("open.example.org", failure_policy="Ignore"))))
    [found] = admission_webhooks.probe(ctx)
    assert (found.code, found.evidence["count"], found.evidence["fail_closed"]) == ("WEBHOOKS_OK", 22, 21)
    assert found.evidence["fail_closed_webhooks"] == [
        f"w{n:02}.example.org (validatingwebhookconfiguration/apps): CREATE/UPDATE configmaps in apps"
        for n in range(20)]


def test_webhook_configurations_that_could_not_be_read_fail_the_probe():
    ctx = ProbeContext(api=None, settings=SETTINGS, run_id="r")  # type: ignore[arg-type]
    error = ForbiddenError("GET", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", 403,
                           "Forbidden", "forbidden")
    ctx.cache.get("webhooks", lambda: WebhookView((), error=error))
    with pytest.raises(ForbiddenError) as raised:
        admission_webhooks.probe(ctx)
    assert raised.value is error


# --- etcd_db_size: the size series of /metrics --------------------------------------------------


def size_text(*series: tuple[str, dict[str, str], str]) -> str:
    """Prometheus text with HELP and TYPE lines per name, and other metrics around it."""
    lines = ["# HELP apiserver_request_total Counter of apiserver requests.", "# TYPE apiserver_request_total counter",
             'apiserver_request_total{code="200",verb="GET"} 1234']
    for name in dict.fromkeys(name for name, _, _ in series):
        lines += [f"# HELP {name} Size of the storage database file physically allocated in bytes.",
                  f"# TYPE {name} gauge"]
        lines += [f"{name}{{{','.join(f'{k}={chr(34)}{v}{chr(34)}' for k, v in labels.items())}}} {value}"
                  for n, labels, value in series if n == name]
    return "\n".join(lines + ["# TYPE process_open_fds gauge", "process_open_fds 42"]) + "\n"


def test_the_largest_endpoint_of_the_size_series_is_taken():
    text = size_text(("etcd_db_total_size_in_bytes", {"endpoint": "https://10.0.0.1:2379"}, "4096"),
                     ("etcd_db_total_size_in_bytes", {"endpoint": "https://10.0.0.2:2379"}, "8.192e+06"),
                     ("etcd_db_total_size_in_bytes", {"endpoint": "https://10.0.0.3:2379"}, "NaN"))
    assert etcd_db_size._largest_size(text) == ("etcd_db_total_size_in_bytes", 8192000.0)


def test_the_newest_size_series_wins_over_older_ones_present():
    """1.28 exposes the new name while the deprecated one lingers; the new one is read even when
    the old one is larger."""
    text = size_text(("etcd_db_total_size_in_bytes", {"endpoint": "e"}, "9000000"),
                     ("apiserver_storage_db_total_size_in_bytes", {"endpoint": "e"}, "8000000"),
                     ("apiserver_storage_size_bytes", {"cluster": "etcd-0"}, "7000000"))
    assert etcd_db_size._largest_size(text) == ("apiserver_storage_size_bytes", 7000000.0)
    older = size_text(("etcd_db_total_size_in_bytes", {"endpoint": "e"}, "9000000"),
                      ("apiserver_storage_db_total_size_in_bytes", {"endpoint": "e"}, "8000000"))
    assert etcd_db_size._largest_size(older) == ("apiserver_storage_db_total_size_in_bytes", 8000000.0)


def test_a_series_of_only_nan_or_a_longer_name_is_no_size():
    text = size_text(("apiserver_storage_size_bytes", {"cluster": "etcd-0"}, "NaN"),
                     ("apiserver_storage_size_bytes_total", {"cluster": "etcd-0"}, "5"))
    assert etcd_db_size._largest_size(text) == (None, 0.0)


def test_a_size_line_that_is_not_prometheus_text_is_a_bad_response():
    with pytest.raises(BadResponseError) as raised:
        etcd_db_size._largest_size('apiserver_storage_size_bytes{cluster="etcd-0"} lots\n')
    assert (raised.value.method, raised.value.path) == ("GET", "/metrics")
    assert raised.value.detail.startswith("not Prometheus text: could not convert string to float: 'lots'")


def test_a_long_parse_error_is_cut_to_120_characters():
    with pytest.raises(BadResponseError) as raised:
        etcd_db_size._largest_size('apiserver_storage_size_bytes{cluster="etcd-0"} ' + "x" * 300 + "\n")
    assert raised.value.detail == "not Prometheus text: " + f"could not convert string to float: '{'x' * 300}'"[:120]


@pytest.mark.parametrize(("size", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (2**20 - 1, "1024.0 KiB"), (2**20, "1.0 MiB"),
    (int(1.5 * 2**20), "1.5 MiB"), (2**30, "1.0 GiB"), (8 * 2**30 + 2**29, "8.5 GiB"), (999.9, "999 B"),
])
def test_sizes_are_shown_in_binary_units(size, text):
    assert etcd_db_size.human_bytes(size) == text
