"""Everything cpwatch can report: one catalogue of finding codes.

Probes create Observations (a code, the component it speaks for, evidence); they never format
text. The status of an observation comes from its code, so "ok with a failing finding" cannot be
written down. Messages and runbooks are rendered from here only (report.py, README runbook).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping


class Status(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"  # could not look; never counted as a failure of the component


class Component(str, Enum):
    APISERVER = "apiserver"
    ETCD = "etcd"
    CONTROLLER_MANAGER = "controller-manager"
    SCHEDULER = "scheduler"
    NODE = "node"  # problems of single nodes, reported apart from the control plane
    CHECKER = "checker"  # cpwatch's own ability to look


CONTROL_PLANE = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER)


@dataclass(frozen=True)
class Runbook:
    meaning: str
    confirm: tuple[str, ...]  # kubectl (or other) commands to confirm by hand
    eks: str
    self_managed: str


@dataclass(frozen=True)
class FindingKind:
    code: str
    status: Status
    template: str  # str.format over the observation's evidence
    runbook: Runbook | None = None


@dataclass(frozen=True)
class Observation:
    code: str
    component: Component
    evidence: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise ValueError(f"unknown finding code {self.code}")

    @property
    def kind(self) -> FindingKind:
        return CATALOGUE[self.code]

    @property
    def status(self) -> Status:
        return CATALOGUE[self.code].status

    def message(self) -> str:
        return render(self)


def observe(code: str, component: Component, **evidence: object) -> Observation:
    return Observation(code, component, evidence)


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def render(observation: Observation) -> str:
    return observation.kind.template.format_map(_Missing(observation.evidence))


_SUPPORT_CASE = (
    "Open an AWS support case (severity: production system down) for the cluster's control "
    "plane, attach this finding's evidence and the time it started; the control-plane "
    "components are AWS-managed and only AWS can restart them."
)

_APISERVER_RUNBOOK = Runbook(
    meaning="kube-apiserver does not answer: kubectl fails and every controller and kubelet logs errors.",
    confirm=("kubectl get --raw='/livez?verbose'", "kubectl get --raw='/readyz?verbose'",
             "curl -s --cacert ca.crt https://<endpoint>/livez  (from the checker's network)"),
    eks="Check the EKS console (cluster health, endpoint access). " + _SUPPORT_CASE,
    self_managed=("On each control-plane node: `crictl ps -a --name kube-apiserver`, "
                  "`crictl logs <id>`; check /etc/kubernetes/manifests/kube-apiserver.yaml, "
                  "certificates (kubeadm certs check-expiration) and the load balancer in front."),
)

_ETCD_RUNBOOK = Runbook(
    meaning=("etcd lost quorum (or the apiserver cannot reach it): nothing in the cluster can be "
             "changed; reads may hang. Stale leader leases and missing controller reactions "
             "follow from it."),
    confirm=("kubectl get --raw='/livez/etcd'", "kubectl get --raw='/readyz?verbose' | grep etcd",
             "kubectl -n cpwatch patch configmap cpwatch-heartbeat --type merge -p '{\"data\":{\"t\":\"x\"}}'"),
    eks=_SUPPORT_CASE,
    self_managed=("On each control-plane node: `crictl ps -a --name etcd`; `etcdctl --endpoints=... "
                  "member list -w table` and `endpoint health --cluster`; restart failed members "
                  "from /etc/kubernetes/manifests/etcd.yaml; quorum needs a majority of members."),
)

_ETCD_MEMBER_RUNBOOK = Runbook(
    meaning="An etcd member is unhealthy but quorum holds: no user-visible effect yet; one more loss locks the cluster.",
    confirm=("kubectl get componentstatuses", "kubectl -n kube-system get pods -l component=etcd"),
    eks="AWS replaces managed etcd members itself; open a support case if it persists.",
    self_managed="`etcdctl member list -w table`, `crictl logs` of the member; restore or replace the member.",
)

_KCM_RUNBOOK = Runbook(
    meaning=("kube-controller-manager is not running: terminated nodes stay Ready, deleted pods "
             "stay Terminating, HPAs stop scaling, Deployments stop rolling, new namespaces get "
             "no default ServiceAccount."),
    confirm=("kubectl -n kube-system get lease kube-controller-manager -o yaml  (renewTime stops moving)",
             "kubectl get componentstatuses", "kubectl get nodes  (a terminated node still Ready)"),
    eks=_SUPPORT_CASE + " A real EKS controller-manager outage lasted over 12 hours.",
    self_managed=("`crictl ps -a --name kube-controller-manager`, `crictl logs <id>`; check "
                  "/etc/kubernetes/manifests/kube-controller-manager.yaml and its kubeconfig/certificates."),
)

_SCHEDULER_RUNBOOK = Runbook(
    meaning="kube-scheduler is not running: new pods stay Pending forever, with no scheduling condition or event.",
    confirm=("kubectl -n kube-system get lease kube-scheduler -o yaml",
             "kubectl get pods -A --field-selector=status.phase=Pending,spec.nodeName=",
             "kubectl get componentstatuses"),
    eks=_SUPPORT_CASE,
    self_managed=("`crictl ps -a --name kube-scheduler`, `crictl logs <id>`; check "
                  "/etc/kubernetes/manifests/kube-scheduler.yaml."),
)

_NODE_RUNBOOK = Runbook(
    meaning="A node (its kubelet or the machine) has a problem; the control plane is reacting as it should.",
    confirm=("kubectl describe node <node>", "kubectl get pods -A --field-selector=spec.nodeName=<node>"),
    eks="Check the EC2 instance and its node group; replace the node if the instance is gone.",
    self_managed="Check the machine, `systemctl status kubelet`, `journalctl -u kubelet`.",
)

_CHECKER_RUNBOOK = Runbook(
    meaning="cpwatch cannot see (part of) this cluster: the verdicts it affects are unknown, not healthy.",
    confirm=("kubectl auth can-i --list --as-group=cpwatch --as=cpwatch-checker",
             "kubectl apply -f infra/  (RBAC, namespace and canary objects)"),
    eks=("Check the access entry of the checker's IAM role (kubernetesGroups: [cpwatch]), the "
         "cluster endpoint access (public/private) and the checker's network path."),
    self_managed="Check the kubeconfig (server, CA, credentials) and that infra/ is applied.",
)

_KINDS = (
    # --- apiserver ---------------------------------------------------------------------
    FindingKind("APISERVER_LIVE", Status.OK, "livez and readyz pass ({checks} checks, {latency_ms} ms)"),
    FindingKind("APISERVER_UNREACHABLE", Status.FAIL,
                "no answer from {path}: {reason} ({detail})", _APISERVER_RUNBOOK),
    FindingKind("APISERVER_LIVEZ_FAILED", Status.FAIL,
                "livez reports failed checks other than etcd: {checks}", _APISERVER_RUNBOOK),
    FindingKind("APISERVER_NOT_READY", Status.WARN,
                "readyz reports failed checks other than etcd: {checks}", _APISERVER_RUNBOOK),
    FindingKind("APISERVER_READS_OK", Status.OK, "small reads: median {median_ms} ms over {samples}"),
    FindingKind("APISERVER_SLOW", Status.WARN,
                "small reads are slow: median {median_ms} ms over {samples} (threshold {threshold_ms} ms)",
                _APISERVER_RUNBOOK),
    FindingKind("APISERVER_READS_NO_ANSWER", Status.WARN,
                "a small read of {path} got no answer ({reason}) while the health endpoints answer",
                _ETCD_RUNBOOK),
    # --- etcd --------------------------------------------------------------------------
    FindingKind("ETCD_CHECK_PASSED", Status.OK, "the apiserver's etcd check passes ({path})"),
    FindingKind("ETCD_CHECK_FAILED", Status.FAIL,
                "the apiserver's etcd check fails on {path}: {detail}", _ETCD_RUNBOOK),
    FindingKind("ETCD_WRITE_OK", Status.OK, "heartbeat write stored in {latency_ms} ms"),
    FindingKind("ETCD_WRITE_FAILED", Status.FAIL,
                "heartbeat write to {object} did not succeed within {timeout_s} s: {detail} "
                "(the cluster is locked: no object can be changed)", _ETCD_RUNBOOK),
    FindingKind("ETCD_MEMBER_UNHEALTHY", Status.WARN,
                "etcd member(s) unhealthy: {members} ({source})", _ETCD_MEMBER_RUNBOOK),
    # --- leader components (controller-manager, scheduler) -----------------------------
    FindingKind("LEADER_LEASE_FRESH", Status.OK,
                "leader Lease renewed {age_s} s ago by {holder}"),
    FindingKind("LEADER_LEASE_STALE", Status.FAIL,
                "leader Lease {lease} not renewed for {age_s} s (stale after {threshold_s} s; holder {holder!r})",
                None),
    FindingKind("LEADER_LEASE_MISSING", Status.UNKNOWN,
                "leader Lease {lease} does not exist (this control plane may not use Lease-based leader election)",
                _CHECKER_RUNBOOK),
    FindingKind("COMPONENTSTATUS_HEALTHY", Status.OK, "componentstatuses reports {name} healthy"),
    FindingKind("COMPONENTSTATUS_UNHEALTHY", Status.WARN,
                "componentstatuses reports {name} unhealthy: {message} (supporting evidence: it "
                "reflects only the answering apiserver's host)", None),
    FindingKind("STATIC_POD_READY", Status.OK, "static pod {pod} is Ready (restarts {restarts})"),
    FindingKind("STATIC_POD_NOT_READY", Status.WARN,
                "static pod {pod} on {node} is not Ready (restarts {restarts}): {reason}", None),
    # --- controller-manager ------------------------------------------------------------
    FindingKind("NODE_LIFECYCLE_OK", Status.OK,
                "{leases} node Leases; silent nodes are marked by the node lifecycle controller ({marked})"),
    FindingKind("NODE_READY_BUT_SILENT", Status.FAIL,
                "{count} node(s) still Ready although their kubelet stopped heartbeating: {examples} "
                "(the node lifecycle controller would have marked them Unknown after ~50 s)", _KCM_RUNBOOK),
    FindingKind("ORPHAN_PODS_COLLECTED", Status.OK, "no deleted pod lingers on a vanished node ({checked} terminating checked)"),
    FindingKind("ORPHAN_POD_NOT_COLLECTED", Status.FAIL,
                "{count} deleted pod(s) bound to a node that no longer exists are still there: {examples} "
                "(pod GC removes them within ~80 s)", _KCM_RUNBOOK),
    FindingKind("DEPLOYMENT_CANARY_OBSERVED", Status.OK,
                "Deployment {object} generation {generation} observed in {latency_ms} ms"),
    FindingKind("DEPLOYMENT_CANARY_NOT_OBSERVED", Status.FAIL,
                "Deployment {object} generation {generation} not observed within {wait_s} s "
                "(observedGeneration {observed})", _KCM_RUNBOOK),
    FindingKind("SERVICEACCOUNT_CANARY_RECREATED", Status.OK,
                "ServiceAccount {object} recreated in {latency_ms} ms"),
    FindingKind("SERVICEACCOUNT_CANARY_MISSING", Status.FAIL,
                "ServiceAccount {object} not recreated within {wait_s} s of its deletion", _KCM_RUNBOOK),
    FindingKind("EC2_NODES_CONSISTENT", Status.OK,
                "{checked} stopped or terminated instance(s) of the cluster; none is still a Ready node"),
    FindingKind("INSTANCE_GONE_NODE_READY", Status.FAIL,
                "{count} node(s) still Ready although their EC2 instance is stopped or terminated: {examples}",
                _KCM_RUNBOOK),
    # --- scheduler ---------------------------------------------------------------------
    FindingKind("PENDING_PODS_ATTEMPTED", Status.OK, "{pending} unscheduled pending pod(s), all attempted by the scheduler"),
    FindingKind("PODS_UNATTEMPTED", Status.FAIL,
                "{count} pending pod(s) older than {threshold_s} s never attempted by the scheduler: {examples}",
                _SCHEDULER_RUNBOOK),
    FindingKind("SCHEDULER_CANARY_ATTEMPTED", Status.OK, "canary pod attempted by the scheduler in {latency_ms} ms"),
    FindingKind("SCHEDULER_CANARY_NOT_ATTEMPTED", Status.FAIL,
                "canary pod {object} not attempted by the scheduler within {wait_s} s", _SCHEDULER_RUNBOOK),
    FindingKind("SCHEDULER_CANARY_BOUND", Status.WARN,
                "canary pod {object} was bound to a node: a node carries the canary's never-schedule label",
                _CHECKER_RUNBOOK),
    # --- nodes (reported apart from the control plane) ---------------------------------
    FindingKind("NODE_NOT_READY", Status.WARN,
                "node {node} is {ready} ({reason}); its kubelet last heartbeat {age_s} s ago", _NODE_RUNBOOK),
    FindingKind("POD_STUCK_ON_UNHEALTHY_NODE", Status.WARN,
                "pod {pod} Terminating for {age_s} s on node {node}, which is not healthy", _NODE_RUNBOOK),
    FindingKind("POD_STUCK_TERMINATING", Status.WARN,
                "pod {pod} Terminating for {age_s} s on Ready node {node} (its kubelet does not finish it)",
                _NODE_RUNBOOK),
    # --- the checker itself ------------------------------------------------------------
    FindingKind("CHECKER_UNAUTHORIZED", Status.UNKNOWN,
                "the apiserver rejected cpwatch's credentials (401) on {path}", _CHECKER_RUNBOOK),
    FindingKind("CHECKER_FORBIDDEN", Status.UNKNOWN,
                "cpwatch may not {method} {path}: {message}", _CHECKER_RUNBOOK),
    FindingKind("CHECKER_NOT_INSTALLED", Status.UNKNOWN,
                "{object} is missing ({message}); apply infra/ to the cluster", _CHECKER_RUNBOOK),
    FindingKind("CHECKER_CANNOT_CONNECT", Status.UNKNOWN,
                "cpwatch cannot connect to {path}: {reason} ({detail})", _CHECKER_RUNBOOK),
    FindingKind("CHECKER_AWS_DENIED", Status.UNKNOWN,
                "AWS refused cpwatch ({operation}): {detail}", _CHECKER_RUNBOOK),
    FindingKind("CHECKER_AWS_FAILED", Status.UNKNOWN,
                "AWS API call {operation} failed: {detail} (retried next run)", _CHECKER_RUNBOOK),
    FindingKind("EKS_CLUSTER_NOT_SERVING", Status.UNKNOWN,
                "EKS reports the cluster {status} with no endpoint to check ({detail})", _CHECKER_RUNBOOK),
    FindingKind("EKS_CLUSTER_STATUS", Status.WARN, "EKS reports the cluster status {status}", None),
    FindingKind("EKS_HEALTH_ISSUE", Status.WARN, "EKS reports a cluster health issue {code}: {message}", None),
    FindingKind("CHECKER_CLOCK_SKEW", Status.WARN,
                "the apiserver's clock is {offset_s} s off the checker's; ages use the apiserver's clock",
                Runbook(
                    meaning=("The checker's clock and the apiserver's differ. Verdicts are not affected "
                             "(every age is measured on the apiserver's clock, from its Date header), but "
                             "timestamps in reports are the checker's."),
                    confirm=("date -u; curl -sI --cacert ca.crt https://<endpoint>/livez | grep -i '^date'",),
                    eks="Lambda clocks are synchronised by AWS; a skew there points at the cluster's side: open a support case if it persists.",
                    self_managed="Check NTP/chrony on the control-plane nodes and on the machine running cpwatch.",
                )),
    FindingKind("PROBE_NO_ANSWER", Status.UNKNOWN, "{probe}: no answer from {path} ({reason})", None),
    FindingKind("PROBE_FAILED", Status.UNKNOWN, "{probe}: could not look: {detail}", None),
    FindingKind("PROBE_TIMED_OUT", Status.UNKNOWN, "{probe}: did not finish before the run's deadline", None),
    FindingKind("PROBE_CRASHED", Status.UNKNOWN, "{probe}: internal error {error} (a bug in cpwatch)", None),
    FindingKind("NOT_JUDGED", Status.UNKNOWN, "not judged: {cause}", None),
    FindingKind("CHECKER_CREDENTIALS", Status.UNKNOWN,
                "cpwatch got no credentials for context {context}: {plugin}: {detail} (no request was sent)",
                Runbook(
                    meaning=("The credentials the kubeconfig context asks for could not be obtained, so "
                             "cpwatch sent nothing (it never falls back to anonymous requests): the "
                             "cluster was not looked at."),
                    confirm=("kubectl --context <context> get --raw='/livez'",
                             "run the command of the context's users[].user.exec by hand; it must print an ExecCredential"),
                    eks="Refresh the AWS credentials the plugin uses (aws sso login, the profile in exec.env), then "
                        "`aws eks get-token --cluster-name <name>`.",
                    self_managed="Fix the kubeconfig user: the token file, the client certificate or the credential plugin.",
                )),
    FindingKind("CHECKER_KUBECONFIG", Status.UNKNOWN,
                "kubeconfig context {context} cannot be used: {detail}", _CHECKER_RUNBOOK),
)

CATALOGUE: dict[str, FindingKind] = {kind.code: kind for kind in _KINDS}

# Runbooks of codes whose component is given by the observation.
COMPONENT_RUNBOOKS: dict[Component, Runbook] = {
    Component.APISERVER: _APISERVER_RUNBOOK,
    Component.ETCD: _ETCD_RUNBOOK,
    Component.CONTROLLER_MANAGER: _KCM_RUNBOOK,
    Component.SCHEDULER: _SCHEDULER_RUNBOOK,
    Component.NODE: _NODE_RUNBOOK,
    Component.CHECKER: _CHECKER_RUNBOOK,
}


def runbook_for(observation: Observation) -> Runbook | None:
    if observation.status is Status.OK:
        return None
    if observation.kind.runbook is not None:
        return observation.kind.runbook
    if observation.status is Status.UNKNOWN:
        return _CHECKER_RUNBOOK
    if observation.code in ("COMPONENTSTATUS_UNHEALTHY", "STATIC_POD_NOT_READY") and observation.component is Component.ETCD:
        return _ETCD_MEMBER_RUNBOOK
    return COMPONENT_RUNBOOKS.get(observation.component)
