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
    # What is plugged into the apiserver between the components (admission webhooks, aggregated
    # APIs): failures here impair the cluster but are never failures of the four components.
    EXTENSIONS = "extensions"
    CHECKER = "checker"  # cpwatch's own ability to look


CONTROL_PLANE = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER)


@dataclass(frozen=True)
class Runbook:
    title: str
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
    "Open an AWS support case for the cluster's control plane (severity: production system down "
    "for kube-apiserver or etcd, production system impaired for kube-controller-manager or "
    "kube-scheduler until workloads fail), attach this finding's evidence and the time it started "
    "(the alarm's evidence pack, `cpwatch evidence`, has both); the control-plane components are "
    "AWS-managed and only AWS can restart them."
)

_APISERVER_RUNBOOK = Runbook(
    title="kube-apiserver down",
    meaning="kube-apiserver does not answer: kubectl fails and every controller and kubelet logs errors.",
    confirm=("kubectl get --raw='/livez?verbose'", "kubectl get --raw='/readyz?verbose'",
             "curl -s --cacert ca.crt https://<endpoint>/livez  (from the checker's network)"),
    eks="Check the EKS console (cluster health, endpoint access). " + _SUPPORT_CASE,
    self_managed=("On each control-plane node: `crictl ps -a --name kube-apiserver`, "
                  "`crictl logs <id>`; check /etc/kubernetes/manifests/kube-apiserver.yaml, "
                  "certificates (kubeadm certs check-expiration) and the load balancer in front."),
)

_ETCD_RUNBOOK = Runbook(
    title="etcd down (quorum lost or unreachable)",
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

_APISERVER_PATH_RUNBOOK = Runbook(
    title="some apiserver requests get no answer",
    meaning=("The apiserver endpoint answers some requests and not others, while its etcd check passes: "
             "one of several apiservers behind the load balancer hangs (EKS runs at least two behind an "
             "NLB, which spreads connections by a hash), or the load balancer itself drops connections. "
             "Clients whose connection lands on the hung one time out; kubectl works on a retry. etcd is "
             "not the cause: its check passes through the apiservers that answer."),
    confirm=("for i in 1 2 3 4 5 6; do kubectl get --raw='/livez/etcd' --request-timeout=5s; done  (new "
             "connection each time: some hang)",
             "kubectl -n kube-system get lease -l apiserver.kubernetes.io/identity=kube-apiserver  (an "
             "apiserver whose renew time stopped moving)"),
    eks=("Open an AWS support case (severity: production system impaired): name the time and attach the "
         "evidence; only AWS can replace a hung apiserver instance of the managed control plane. Meanwhile "
         "clients with short timeouts and retries keep working."),
    self_managed=("Find the hung instance (the identity Lease whose renewTime stopped, or curl each "
                  "control-plane node's :6443/livez directly), look at its `crictl logs` and restart it; "
                  "check the load balancer's health checks: a TCP check passes for a hung apiserver, an "
                  "HTTPS check of /readyz does not."),
)

_ETCD_MEMBER_RUNBOOK = Runbook(
    title="etcd member unhealthy, quorum held",
    meaning="An etcd member is unhealthy but quorum holds: no user-visible effect yet; one more loss locks the cluster.",
    confirm=("kubectl get componentstatuses", "kubectl -n kube-system get pods -l component=etcd"),
    eks="AWS replaces managed etcd members itself; open a support case if it persists.",
    self_managed="`etcdctl member list -w table`, `crictl logs` of the member; restore or replace the member.",
)

_KCM_RUNBOOK = Runbook(
    title="kube-controller-manager down",
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
    title="kube-scheduler down",
    meaning="kube-scheduler is not running: new pods stay Pending forever, with no scheduling condition or event.",
    confirm=("kubectl -n kube-system get lease kube-scheduler -o yaml",
             "kubectl get pods -A --field-selector=status.phase=Pending,spec.nodeName=",
             "kubectl get componentstatuses"),
    eks=_SUPPORT_CASE,
    self_managed=("`crictl ps -a --name kube-scheduler`, `crictl logs <id>`; check "
                  "/etc/kubernetes/manifests/kube-scheduler.yaml."),
)

_BINDING_RUNBOOK = Runbook(
    title="pod binding refused",
    meaning=("kube-scheduler places new pods, but the apiserver refuses each binding (the write that "
             "assigns a pod to its node), so no new pod starts where that happens; the scheduler retries "
             "with backoff. The pods' PodScheduled condition (reason SchedulerError) names what refused: "
             "an admission webhook, a policy, or etcd."),
    confirm=("kubectl get pods -A --field-selector=status.phase=Pending,spec.nodeName= -o "
             "custom-columns=NS:.metadata.namespace,NAME:.metadata.name,WHY:.status.conditions[0].message",
             "kubectl get events -A --field-selector=reason=FailedScheduling | grep 'binding rejected'"),
    eks=("Read the message: `failed calling webhook` is the cluster's own webhook (see its runbook; no "
         "support case); `etcdserver:` is etcd (support case)."),
    self_managed=("Read the message: fix or relax the webhook or policy it names; for `etcdserver:` errors "
                  "look at etcd."),
)

_NODE_RUNBOOK = Runbook(
    title="node problem",
    meaning="A node (its kubelet or the machine) has a problem; the control plane is reacting as it should.",
    confirm=("kubectl describe node <node>", "kubectl get pods -A --field-selector=spec.nodeName=<node>"),
    eks="Check the EC2 instance and its node group; replace the node if the instance is gone.",
    self_managed="Check the machine, `systemctl status kubelet`, `journalctl -u kubelet`.",
)

_CHECKER_RUNBOOK = Runbook(
    title="cpwatch cannot see",
    meaning="cpwatch cannot see (part of) this cluster: the verdicts it affects are unknown, not healthy.",
    confirm=("kubectl auth can-i --list --as-group=cpwatch --as=cpwatch-checker",
             "kubectl apply -f infra/  (RBAC, namespace and canary objects)"),
    eks=("Check the access entry of the checker's IAM role (kubernetesGroups: [cpwatch]), the "
         "cluster endpoint access (public/private) and the checker's network path."),
    self_managed="Check the kubeconfig (server, CA, credentials) and that infra/ is applied.",
)

_ETCD_NOSPACE_RUNBOOK = Runbook(
    title="etcd at its space quota (NOSPACE alarm)",
    meaning=("etcd's database reached its space quota (--quota-backend-bytes; 2 GiB by default, 8 GiB "
             "on EKS) and etcd raised the NOSPACE alarm: it refuses every create, update and patch "
             "until the alarm is disarmed, so nothing in the cluster can change (reads and deletes "
             "still work). Restarting members does not help: the alarm persists."),
    confirm=("kubectl get --raw /metrics | grep -E '^(apiserver_storage_size_bytes|apiserver_storage_db_total_size_in_bytes|etcd_db_total_size_in_bytes)'",
             "kubectl -n cpwatch patch configmap cpwatch-heartbeat --type merge -p '{\"data\":{\"t\":\"x\"}}'  (database space exceeded)",
             "etcdctl --endpoints=... endpoint status -w table; etcdctl alarm list  (self-managed)"),
    eks=("Open an AWS support case (severity: production system down): only AWS can compact, "
         "defragment and disarm the alarm of managed etcd. Meanwhile delete objects you do not need "
         "(deletes still succeed): completed Jobs, old ReplicaSets, large ConfigMaps/Secrets, "
         "unused custom resources; find the largest kinds with `kubectl get --raw /metrics | grep "
         "apiserver_storage_objects | sort -k2 -n | tail`."),
    self_managed=("On one member: `rev=$(etcdctl endpoint status -w json | jq '.[0].Status.header.revision')`; "
                  "`etcdctl compact $rev`; `etcdctl defrag --cluster` (one member at a time in "
                  "production); `etcdctl alarm disarm`. Then find what grew "
                  "(apiserver_storage_objects) and, if the data is legitimate, raise "
                  "--quota-backend-bytes in /etc/kubernetes/manifests/etcd.yaml (8 GiB at most is "
                  "the etcd recommendation)."),
)

_ETCD_SIZE_RUNBOOK = Runbook(
    title="etcd database near its space quota",
    meaning=("etcd's database is close to its space quota; when it is reached, etcd refuses every "
             "write (the NOSPACE alarm) and the cluster can no longer change."),
    confirm=("kubectl get --raw /metrics | grep -E '^(apiserver_storage_size_bytes|apiserver_storage_db_total_size_in_bytes|etcd_db_total_size_in_bytes)'",
             "kubectl get --raw /metrics | grep '^apiserver_storage_objects' | sort -k2 -n | tail"),
    eks=("Find and delete what grew (the object counts above); if the size is legitimate, open an "
         "AWS support case before the 8 GiB quota is reached."),
    self_managed=("Compact and defragment (`etcdctl compact`, `etcdctl defrag`): the file keeps freed "
                  "pages until defragmented; find what grew; raise --quota-backend-bytes if the data "
                  "is legitimate."),
)

_CERT_EXPIRED_RUNBOOK = Runbook(
    title="apiserver serving certificate expired or not yet valid",
    meaning=("The apiserver's serving certificate chains to the cluster CA but is outside its "
             "validity period, so every client that verifies it (kubelets, controllers, kubectl, "
             "cpwatch) is refused: the cluster is down for everyone."),
    confirm=("openssl s_client -connect <endpoint>:443 -servername <host> </dev/null 2>/dev/null | openssl x509 -noout -dates",
             "kubeadm certs check-expiration  (on a control-plane node)"),
    eks="EKS rotates its serving certificates itself, so an expired one is AWS's failure. " + _SUPPORT_CASE,
    self_managed=("On every control-plane node: `kubeadm certs renew all`, then restart the static "
                  "pods (move the manifests out of /etc/kubernetes/manifests and back) and "
                  "refresh admin.conf for kubectl; check the node clocks (a clock in the past gives "
                  "'not yet valid')."),
)

_CERT_EXPIRING_RUNBOOK = Runbook(
    title="certificate expiring soon",
    meaning=("A certificate the cluster or cpwatch depends on expires soon; once it has expired, "
             "no client can connect (serving certificate) or cpwatch is refused (its client "
             "certificate)."),
    confirm=("openssl s_client -connect <endpoint>:443 -servername <host> </dev/null 2>/dev/null | openssl x509 -noout -enddate",
             "kubeadm certs check-expiration  (on a control-plane node)"),
    eks="EKS rotates its serving certificates itself; if one is close to expiry, open a support case.",
    self_managed=("`kubeadm certs renew all` on every control-plane node (kubeadm also renews them on "
                  "every `kubeadm upgrade apply`), then restart the static pods; renew the "
                  "kubeconfig's client certificate (kubeadm kubeconfig user, or your PKI)."),
)

_WEBHOOK_RUNBOOK = Runbook(
    title="admission webhook failing closed",
    meaning=("An admission webhook with failurePolicy Fail cannot be called (its backend refuses, "
             "hangs or fails TLS), so the apiserver refuses every write it covers. The control-plane "
             "components are fine; writes in what the webhook covers are blocked, and if it covers "
             "Leases, nodes or pods the control plane itself cannot do its work."),
    confirm=("kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations",
             "kubectl get validatingwebhookconfiguration <configuration> -o yaml  (rules, namespaceSelector, failurePolicy, clientConfig)",
             "kubectl -n <ns> get endpointslices -l kubernetes.io/service-name=<webhook service>"),
    eks=("This is the cluster's own webhook, not an AWS failure: no support case. Restore its "
         "backend, or, to unblock the cluster at once, set failurePolicy: Ignore or delete the "
         "configuration (`kubectl delete validatingwebhookconfiguration <configuration>`)."),
    self_managed=("Restore the webhook's backend (its pods, Service and certificate), or set "
                  "failurePolicy: Ignore / delete the configuration to unblock writes; exclude "
                  "kube-system, kube-node-lease and the cpwatch namespace with a namespaceSelector."),
)

_WEBHOOK_RISK_RUNBOOK = Runbook(
    title="fail-closed webhook on what the control plane writes",
    meaning=("A webhook with failurePolicy Fail intercepts writes the control plane itself must make "
             "(leader Leases, node Leases and status, pod binding and status, endpoints). Nothing is "
             "wrong now; the day its backend fails, the controller-manager and scheduler lose their "
             "Leases, nodes go NotReady and the cluster stops changing."),
    confirm=("kubectl get validatingwebhookconfiguration,mutatingwebhookconfiguration <configuration> -o yaml",),
    eks=("Exclude kube-system and kube-node-lease with a namespaceSelector (kubernetes.io/metadata.name "
         "NotIn), and narrow the rules so Leases, nodes, pods/binding and endpoints are not covered; "
         "EKS documents the same advice for its own control plane."),
    self_managed=("Exclude kube-system and kube-node-lease with a namespaceSelector, narrow the rules "
                  "(resources, operations), or use failurePolicy: Ignore for what the control plane "
                  "writes."),
)

_WEBHOOK_BLOCKS_RUNBOOK = Runbook(
    title="fail-closed webhook blocking the control plane's own writes",
    meaning=("An admission webhook with failurePolicy Fail cannot be called, and it intercepts writes the "
             "control plane itself must make: leader Lease renewals (kube-controller-manager and "
             "kube-scheduler lose leadership and cannot take it back), node Lease renewals (nodes go "
             "NotReady), node status, or pod binding (no new pod can start). The components are not broken: "
             "restarting them, or an AWS support case, changes nothing; the webhook does."),
    confirm=("kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations -o "
             "custom-columns=NAME:.metadata.name,POLICY:.webhooks[*].failurePolicy,RULES:.webhooks[*].rules",
             "kubectl get <kind>webhookconfiguration <configuration> -o yaml  (rules, namespaceSelector, clientConfig)",
             "kubectl -n kube-system get lease kube-controller-manager kube-scheduler  (renewTime stopped, same holders)",
             "kubectl get pods -A --field-selector=status.phase=Pending,spec.nodeName=  (SchedulerError: binding rejected)"),
    eks=("The cluster's own webhook, not an AWS failure: no support case. Restore its backend, or unblock the "
         "control plane at once: `kubectl patch <kind>webhookconfiguration <configuration> --type json -p "
         "'[{\"op\":\"replace\",\"path\":\"/webhooks/0/failurePolicy\",\"value\":\"Ignore\"}]'` (or delete it); "
         "then exclude kube-system and kube-node-lease with a namespaceSelector and narrow its rules so Leases, "
         "nodes and pods/binding are not covered (EKS's own advice for its control plane)."),
    self_managed=("Restore the webhook's backend, or set failurePolicy: Ignore / delete the configuration; the "
                  "controller-manager and scheduler take their Leases back within seconds. Then exclude "
                  "kube-system and kube-node-lease with a namespaceSelector and narrow the rules."),
)

_APISERVICE_RUNBOOK = Runbook(
    title="aggregated API unavailable",
    meaning=("An APIService (an API served by an extension such as metrics-server or a metrics "
             "adapter) is not Available: its group's discovery fails, so HPAs that need "
             "metrics.k8s.io, custom.metrics.k8s.io or external.metrics.k8s.io stop scaling, and "
             "namespace deletion and garbage collection stall on incomplete discovery. The "
             "controller-manager is running: these are symptoms of the extension, not of it."),
    confirm=("kubectl get apiservices | grep -v True",
             "kubectl get apiservice <name> -o yaml  (status.conditions: reason and message)",
             "kubectl get --raw /apis/<group>/<version>  (503 while it is unavailable)"),
    eks=("Not an AWS failure: no support case. Restore the extension's Service and pods (e.g. the "
         "metrics-server add-on), or delete the APIService if the extension was removed."),
    self_managed=("Restore the extension's Service, endpoints and pods, or delete the APIService "
                  "left behind by a removed extension (`kubectl delete apiservice <name>`)."),
)

_THROTTLED_RUNBOOK = Runbook(
    title="apiserver throttling (API Priority and Fairness)",
    meaning=("The apiserver rejected requests with 429 (API Priority and Fairness): the priority "
             "level they fall in is saturated. The apiserver is up; clients in that priority level "
             "wait and retry, and controllers slow down if they share it."),
    confirm=("kubectl get --raw /metrics | grep -E '^apiserver_flowcontrol_(rejected_requests_total|current_inqueue_requests)'",
             "kubectl get prioritylevelconfigurations,flowschemas",
             "kubectl get --raw /debug/api_priority_and_fairness/dump_priority_levels"),
    eks=("Find the clients that saturate the priority level (audit logs, apiserver_flowcontrol "
         "metrics) and slow them down, or give cpwatch's group its own FlowSchema; open a support "
         "case only if system priority levels are saturated."),
    self_managed=("Find the noisy clients (apiserver_flowcontrol_* metrics by flow_schema); add a "
                  "FlowSchema for them or raise the priority level's shares; raise "
                  "--max-requests-inflight / --max-mutating-requests-inflight if the apiserver has "
                  "headroom."),
)

_CONTROLLER_STUCK_RUNBOOK = Runbook(
    title="controller stuck while kube-controller-manager runs",
    meaning=("kube-controller-manager runs and renews its Lease, but one controller does no work: a "
             "worker hangs on one item, or ready items wait and no worker takes them. What that "
             "controller does stops (node lifecycle: silent nodes stay Ready; HPA: no scaling; job: "
             "no pods for Jobs; endpoint: Services keep stale endpoints) while everything else works."),
    confirm=("kubectl get --raw /apis/metrics.eks.amazonaws.com/v1/kcm/container/metrics | grep -E "
             "'^workqueue_(depth|longest_running_processor_seconds|unfinished_work_seconds)\\{name=\"<controller>\"'",
             "kubectl -n kube-system get lease kube-controller-manager -o yaml  (renewTime still moving)",
             "kubectl get events -A --field-selector source=<controller>  (no recent events)"),
    eks=(_SUPPORT_CASE + " Name the controller and attach the workqueue lines above: a hung controller "
         "is fixed by restarting kube-controller-manager, which only AWS can do."),
    self_managed=("Restart kube-controller-manager (move its static pod manifest out of "
                  "/etc/kubernetes/manifests and back); before that, save its goroutine dump "
                  "(`curl -sk https://127.0.0.1:10257/debug/pprof/goroutine?debug=2` with profiling "
                  "on) and `crictl logs` for the bug report."),
)

# A leader that renews its Lease and does no work (a deadlocked work queue, a hung informer):
# client-go leader election runs in its own goroutine and trusts the Lease, so no standby takes
# over (it acquires only after leaseDurationSeconds without a renewal). Only a restart ends it.
_WEDGED_RUNBOOK = Runbook(
    title="leader renews its Lease but does not work (wedged)",
    meaning=("The elected kube-controller-manager or kube-scheduler keeps renewing its leader Lease, so "
             "leader election sees it alive and no standby takes over, but it did not do its work in "
             "several consecutive runs a minute or more apart (its canary was not handled while the same "
             "holder renewed the Lease, or EKS's own metrics show its queues stalled). Until it is "
             "restarted the cluster behaves as with the component down: for the controller-manager nothing "
             "reacts (dead nodes, rollouts, HPA, Terminating pods), for the scheduler new pods stay Pending."),
    confirm=("kubectl -n kube-system get lease kube-controller-manager kube-scheduler -o yaml  (renewTime "
             "moves, holderIdentity stays the same)",
             "kubectl -n cpwatch get deployment cpwatch-canary -o jsonpath='{.metadata.generation} "
             "{.status.observedGeneration}'  (the controller-manager does not catch up)",
             "kubectl get pods -A --field-selector=status.phase=Pending,spec.nodeName=  (the scheduler does "
             "not attempt them)"),
    eks=(_SUPPORT_CASE + " Say that the component renews its leader Lease but does not work (the holder "
         "identity and the runs are in the evidence pack): it needs a restart of the elected instance, "
         "which only AWS can do."),
    self_managed=("Restart the leader named by the Lease's holderIdentity (move its static pod manifest out "
                  "of /etc/kubernetes/manifests and back); a standby then acquires the Lease. Before that, "
                  "save a goroutine dump (`curl -sk https://127.0.0.1:10257/debug/pprof/goroutine?debug=2` "
                  "for the controller-manager, port 10259 for the scheduler, with profiling on) and "
                  "`crictl logs` for the bug report."),
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
                "{count} of {total} read(s) of this check got no answer within {timeout_s} s while the apiserver "
                "answered the others (first {path}: {reason})", _APISERVER_PATH_RUNBOOK),
    FindingKind("APISERVER_CONNECTIONS_OK", Status.OK,
                "{connections} new connection(s) to the endpoint all answered /livez/etcd"),
    FindingKind("APISERVER_CONNECTIONS_NO_ANSWER", Status.WARN,
                "{unanswered} of {connections} new connections to the endpoint got no answer within {timeout_s} s "
                "while the others were answered: one of several apiservers (or the load balancer in front) does "
                "not answer", _APISERVER_PATH_RUNBOOK),
    FindingKind("APISERVER_IDENTITIES", Status.OK,
                "{leases} apiserver identity Lease(s), {renewing} renewed within {threshold_s} s{stale}"),
    FindingKind("APISERVER_WRITE_FAILED", Status.WARN,
                "the apiserver failed the heartbeat write to {object} with HTTP {status}: {detail} "
                "(neither a storage nor an admission error)", _APISERVER_RUNBOOK),
    FindingKind("APISERVER_CERT_OK", Status.OK,
                "serving certificate valid until {not_after} ({days_left} days left)"),
    FindingKind("APISERVER_CERT_EXPIRING", Status.WARN,
                "serving certificate expires on {not_after}, in {days_left} day(s) (warning from {warn_days} days)",
                _CERT_EXPIRING_RUNBOOK),
    FindingKind("APISERVER_CERT_INVALID", Status.FAIL,
                "serving certificate of {path} {problem} (valid {not_before} to {not_after}); it chains "
                "to the trusted CA, so every verifying client is refused", _CERT_EXPIRED_RUNBOOK),
    FindingKind("APISERVER_THROTTLED", Status.WARN,
                "{count} request(s) of this check rejected with 429 by API Priority and Fairness (priority "
                "level {priority_level}), retried after Retry-After; {gave_up} gave up", _THROTTLED_RUNBOOK),
    # --- etcd --------------------------------------------------------------------------
    FindingKind("ETCD_CHECK_PASSED", Status.OK, "the apiserver's etcd check passes ({path})"),
    FindingKind("ETCD_CHECK_FAILED", Status.FAIL,
                "the apiserver's etcd check fails on {path}: {detail}", _ETCD_RUNBOOK),
    FindingKind("ETCD_WRITE_OK", Status.OK, "heartbeat write stored in {latency_ms} ms"),
    FindingKind("ETCD_WRITE_FAILED", Status.FAIL,
                "heartbeat write to {object} did not succeed within {timeout_s} s: {detail}", _ETCD_RUNBOOK),
    FindingKind("ETCD_NOSPACE", Status.FAIL,
                "heartbeat write to {object} refused: {detail} (etcd's database reached its space quota; "
                "every create, update and patch is refused until the alarm is disarmed)", _ETCD_NOSPACE_RUNBOOK),
    FindingKind("ETCD_DB_SIZE_OK", Status.OK,
                "etcd database {size} of the {quota} quota ({percent} %; {metric})"),
    FindingKind("ETCD_DB_NEAR_QUOTA", Status.WARN,
                "etcd database {size} is {percent} % of the {quota} quota (warning from {warn_percent} %; {metric})",
                _ETCD_SIZE_RUNBOOK),
    FindingKind("ETCD_MEMBER_UNHEALTHY", Status.WARN,
                "etcd member(s) unhealthy: {members} ({source})", _ETCD_MEMBER_RUNBOOK),
    # --- leader components (controller-manager, scheduler) -----------------------------
    FindingKind("LEADER_LEASE_FRESH", Status.OK,
                "leader Lease renewed {age_s} s ago by {holder}"),
    FindingKind("LEADER_LEASE_STALE", Status.FAIL,
                "leader Lease {lease} not renewed for {age_s} s (stale after {threshold_s} s; holder {holder!r})",
                None),
    FindingKind("LEADER_STALLED", Status.WARN,
                "leader {holder} renews its Lease but did not work in {runs} consecutive run(s) since {since} "
                "UTC; at {needed} it is down (no standby can take over while the leader renews)",
                _WEDGED_RUNBOOK),
    FindingKind("LEADER_WEDGED", Status.FAIL,
                "renews its Lease but does not work: leader {holder} kept renewing it while failing in {runs} "
                "consecutive runs since {since} UTC (down from {needed}; no standby can take over while the "
                "leader renews)", _WEDGED_RUNBOOK),
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
    FindingKind("CONTROLLER_WORKER_HUNG", Status.FAIL,
                "controller {controller}: a worker has been on one item for {longest_running_s} s (hung from "
                "{threshold_s} s; unfinished work {unfinished_s} s, {depth} item(s) waiting) while "
                "kube-controller-manager runs", _CONTROLLER_STUCK_RUNBOOK),
    FindingKind("CONTROLLER_QUEUE_NOT_DRAINING", Status.FAIL,
                "controller {controller}: {depth} item(s) ready in its work queue ({first_depth} {gap_s} s "
                "earlier), none taken and no worker busy: its workers do not run while kube-controller-manager "
                "does", _CONTROLLER_STUCK_RUNBOOK),
    FindingKind("CONTROLLER_QUEUES_DRAINING", Status.OK,
                "EKS metrics: {queues} controller work queue(s), none stuck (deepest {deepest}: {depth})"),
    # --- EKS control-plane metrics API (kube-controller-manager, kube-scheduler) -----------
    FindingKind("EKS_METRICS_NOT_SERVED", Status.OK,
                "the EKS control-plane metrics API is not available here ({path}: 404; not EKS, or EKS "
                "before 1.28): nothing judged from it"),
    FindingKind("EKS_METRICS_STANDBY", Status.OK,
                "{path} was answered by a standby instance (leader_election_master_status 0): its queues are "
                "not judged"),
    FindingKind("EKS_METRICS_FAILING", Status.UNKNOWN,
                "the EKS control-plane metrics endpoint {path} fails: HTTP {http_status} {detail} (supporting "
                "evidence only: what it answers while the component is down is not documented)", None),
    # --- scheduler ---------------------------------------------------------------------
    FindingKind("PENDING_PODS_ATTEMPTED", Status.OK, "{pending} unscheduled pending pod(s), all attempted by the scheduler"),
    FindingKind("PODS_UNATTEMPTED", Status.FAIL,
                "{count} pending pod(s) older than {threshold_s} s never attempted by the scheduler: {examples}",
                _SCHEDULER_RUNBOOK),
    FindingKind("PODS_BINDING_REJECTED", Status.FAIL,
                "{count} pod(s) placed by the scheduler stay unbound: the apiserver refuses their binding "
                "({examples}): {detail}", _BINDING_RUNBOOK),
    FindingKind("SCHEDULER_CANARY_ATTEMPTED", Status.OK, "canary pod attempted by the scheduler in {latency_ms} ms"),
    FindingKind("SCHEDULER_CANARY_NOT_ATTEMPTED", Status.FAIL,
                "canary pod {object} not attempted by the scheduler within {wait_s} s", _SCHEDULER_RUNBOOK),
    FindingKind("SCHEDULER_NOT_ATTEMPTING", Status.FAIL,
                "kube-scheduler holds {active} pod(s) ready to schedule (active queue) and made no scheduling "
                "attempt in {gap_s} s (attempts stayed at {attempts}; backoff {backoff}, unschedulable "
                "{unschedulable}, gated {gated})", _SCHEDULER_RUNBOOK),
    FindingKind("SCHEDULER_QUEUES_MOVING", Status.OK,
                "EKS metrics: pending pods active {active}, backoff {backoff}, unschedulable {unschedulable}, "
                "gated {gated}; {attempts} scheduling attempts since the scheduler started"),
    FindingKind("SCHEDULER_CANARY_BOUND", Status.WARN,
                "canary pod {object} was bound to a node: a node carries the canary's never-schedule label",
                _CHECKER_RUNBOOK),
    # --- nodes (reported apart from the control plane) ---------------------------------
    FindingKind("NODE_NOT_READY", Status.WARN,
                "node {node} is {ready} ({reason}); its kubelet last heartbeat {age_s} s ago", _NODE_RUNBOOK),
    FindingKind("NODE_LEASES_EXPIRED", Status.WARN,
                "{count} of {leases} node Lease(s) expired (oldest {oldest_s} s): their kubelets do not renew them; "
                "{status_reported} of the nodes looked at still report NodeStatus", _NODE_RUNBOOK),
    FindingKind("POD_STUCK_ON_UNHEALTHY_NODE", Status.WARN,
                "pod {pod} Terminating for {age_s} s on node {node}, which is not healthy", _NODE_RUNBOOK),
    FindingKind("POD_STUCK_TERMINATING", Status.WARN,
                "pod {pod} Terminating for {age_s} s on Ready node {node} (its kubelet does not finish it)",
                _NODE_RUNBOOK),
    # --- extensions: admission webhooks, aggregated APIs ---------------------------------
    FindingKind("WEBHOOKS_OK", Status.OK,
                "{count} admission webhook(s), {fail_closed} failing closed; none on what the control plane writes"),
    FindingKind("WEBHOOK_FAILING_CLOSED", Status.FAIL,
                "admission webhook {webhook} ({configuration}) cannot be called and fails closed: "
                "{cause}; the writes it covers are refused ({covers})", _WEBHOOK_RUNBOOK),
    FindingKind("WEBHOOK_COVERS_CONTROL_PLANE", Status.WARN,
                "fail-closed admission webhook {webhook} ({configuration}) intercepts {writes}: the day "
                "its backend fails, {consequence}", _WEBHOOK_RISK_RUNBOOK),
    FindingKind("WEBHOOK_BLOCKS_CONTROL_PLANE", Status.FAIL,
                "admission webhook {webhook} ({configuration}) fails closed on what the control plane itself "
                "writes: it blocks {blocks}, so {consequence} (it covers {covers})", _WEBHOOK_BLOCKS_RUNBOOK),
    FindingKind("APISERVICES_AVAILABLE", Status.OK,
                "{count} APIServices available ({aggregated} served by extensions)"),
    FindingKind("APISERVICE_UNAVAILABLE", Status.FAIL,
                "aggregated API {name} not Available for {age_s} s ({reason}: {message}); {consequences}",
                _APISERVICE_RUNBOOK),
    # --- from outside the apiserver (AWS pipeline): EKS vended metrics, control-plane logs ---
    FindingKind("VENDED_SCHEDULER_NOT_ATTEMPTING", Status.FAIL,
                "AWS/EKS: {waiting} pod(s) waiting to be scheduled in each of the {minutes} minutes from {since} "
                "to {until} UTC and no scheduling attempt counted (a live scheduler retries every waiting pod "
                "within {threshold_s} s)", _SCHEDULER_RUNBOOK),
    FindingKind("VENDED_SCHEDULER_ATTEMPTING", Status.OK,
                "AWS/EKS: {attempts} scheduling attempt(s) in the {minutes} minute(s) from {since} UTC "
                "({waiting} pod(s) waiting in the newest)"),
    FindingKind("VENDED_APISERVER_SERVING", Status.OK,
                "AWS/EKS: the apiservers counted {requests} request(s) in the minute from {minute} UTC, the newest "
                "published ({errors_5xx} answered 5XX, {throttled_429} 429)"),
    FindingKind("VENDED_APISERVER_RATES_OK", Status.OK,
                "AWS/EKS: {errors_percent} % of the apiservers' requests answered 5XX and {rejected_percent} % 429 in "
                "the {minutes} minute(s) from {since} UTC ({requests} requests; below the warning thresholds)"),
    FindingKind("VENDED_APISERVER_5XX", Status.WARN,
                "AWS/EKS: {percent} % of the apiservers' requests answered 5XX in the {minutes} minute(s) from "
                "{since} UTC ({errors} of {requests}; warning from {warn_percent} %)", _APISERVER_RUNBOOK),
    FindingKind("VENDED_APISERVER_429", Status.WARN,
                "AWS/EKS: {percent} % of the apiservers' requests rejected with 429 in the {minutes} minute(s) from "
                "{since} UTC ({rejected} of {requests}; warning from {warn_percent} %)", _THROTTLED_RUNBOOK),
    FindingKind("CONTROL_PLANE_LOG_SILENT", Status.WARN,
                "no log line from {process} since {since} UTC ({log_group}, streams {stream_prefix}*)", None),
    FindingKind("CONTROL_PLANE_LOG_ERRORS", Status.WARN,
                "last error line(s) of {process} since {since} UTC ({log_group}): {lines}", None),
    FindingKind("CONTROL_PLANE_LOG_NO_ERROR", Status.OK,
                "{process} logged {lines_read} line(s) since {since} UTC, the newest at {newest} UTC, no error line"
                "{partial} ({log_group})"),
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
    FindingKind("EKS_HEALTH_ISSUE", Status.WARN, "EKS reports a cluster health issue {issue}: {message}", None),
    FindingKind("CHECKER_CLOCK_SKEW", Status.WARN,
                "the apiserver's clock is {offset_s} s off the checker's; ages use the apiserver's clock",
                Runbook(
                    title="clock skew",
                    meaning=("The checker's clock and the apiserver's differ. Verdicts are not affected "
                             "(every age is measured on the apiserver's clock, from its Date header), but "
                             "timestamps in reports are the checker's."),
                    confirm=("date -u; curl -sI --cacert ca.crt https://<endpoint>/livez | grep -i '^date'",),
                    eks="Lambda clocks are synchronised by AWS; a skew there points at the cluster's side: open a support case if it persists.",
                    self_managed="Check NTP/chrony on the control-plane nodes and on the machine running cpwatch.",
                )),
    FindingKind("CHECKER_WRITE_DENIED", Status.UNKNOWN,
                "{by} denied cpwatch's write to {object}: {detail} (exempt the {namespace} namespace from it)",
                _CHECKER_RUNBOOK),
    FindingKind("CHECKER_CLIENT_CERT_EXPIRING", Status.WARN,
                "cpwatch's client certificate ({subject}) {when}",
                _CERT_EXPIRING_RUNBOOK),
    FindingKind("PROBE_BLOCKED", Status.UNKNOWN, "{probe}: could not look, because {because}", None),
    FindingKind("PROBE_THROTTLED", Status.UNKNOWN,
                "{probe}: could not look: {path} still throttled (429) after waiting Retry-After", _THROTTLED_RUNBOOK),
    FindingKind("PROBE_NO_ANSWER", Status.UNKNOWN, "{probe}: no answer from {path} ({reason})", None),
    FindingKind("PROBE_FAILED", Status.UNKNOWN, "{probe}: could not look: {detail}", None),
    FindingKind("PROBE_TIMED_OUT", Status.UNKNOWN, "{probe}: did not finish before the run's deadline", None),
    FindingKind("PROBE_CRASHED", Status.UNKNOWN, "{probe}: internal error {error} (a bug in cpwatch)", None),
    FindingKind("NOT_JUDGED", Status.UNKNOWN, "not judged: {cause}", None),
    FindingKind("CHECKER_CREDENTIALS", Status.UNKNOWN,
                "cpwatch got no credentials for context {context}: {plugin}: {detail} (no request was sent)",
                Runbook(
                    title="cpwatch has no credentials for the context",
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

# OK findings that describe a component without showing that it works (a valid certificate, a
# database size read from /metrics; what AWS/EKS metrics and control-plane logs, published
# minutes late and from outside cpwatch's view, say): never enough on their own for "healthy".
# The EKS metrics API's answers that find nothing wrong are context too: the endpoint is not
# documented well enough to let its silence vouch for a component.
_CONTEXT_ONLY = frozenset({"APISERVER_CERT_OK", "APISERVER_IDENTITIES", "ETCD_DB_SIZE_OK", "VENDED_SCHEDULER_ATTEMPTING",
                           "VENDED_APISERVER_SERVING", "VENDED_APISERVER_RATES_OK", "CONTROL_PLANE_LOG_NO_ERROR", "EKS_METRICS_NOT_SERVED",
                           "EKS_METRICS_STANDBY", "CONTROLLER_QUEUES_DRAINING", "SCHEDULER_QUEUES_MOVING"})


def shows_it_works(code: str) -> bool:
    """Whether an OK finding of this code is evidence that its component works (a context-only
    finding, such as a valid certificate or an API not served here, is not)."""
    return code not in _CONTEXT_ONLY


# Runbooks of codes whose component is given by the observation.
COMPONENT_RUNBOOKS: dict[Component, Runbook] = {
    Component.APISERVER: _APISERVER_RUNBOOK,
    Component.ETCD: _ETCD_RUNBOOK,
    Component.CONTROLLER_MANAGER: _KCM_RUNBOOK,
    Component.SCHEDULER: _SCHEDULER_RUNBOOK,
    Component.NODE: _NODE_RUNBOOK,
    Component.EXTENSIONS: _WEBHOOK_RUNBOOK,
    Component.CHECKER: _CHECKER_RUNBOOK,
}

# Every runbook once, in catalogue order: the README's runbook section is generated from this.
RUNBOOKS: tuple[Runbook, ...] = tuple(dict.fromkeys(
    [*COMPONENT_RUNBOOKS.values(), *(k.runbook for k in _KINDS if k.runbook is not None)]))


# A probe that could not look because something else refused its write: the runbook of what refused.
_BLOCKED_BY_RUNBOOKS = {
    "webhook-unreachable": _WEBHOOK_RUNBOOK,
    "webhook-intercepts": _WEBHOOK_RUNBOOK,
    "webhook-denied": _CHECKER_RUNBOOK,
    "policy-denied": _CHECKER_RUNBOOK,
    "etcd-nospace": _ETCD_NOSPACE_RUNBOOK,
    "storage": _ETCD_RUNBOOK,
}


def runbook_for(observation: Observation) -> Runbook | None:
    if observation.status is Status.OK:
        return None
    if observation.kind.runbook is not None:
        return observation.kind.runbook
    if observation.code == "EKS_METRICS_FAILING":  # evidence about the component, not about cpwatch
        return COMPONENT_RUNBOOKS.get(observation.component)
    if observation.code == "PROBE_BLOCKED" and observation.evidence.get("cause") in _BLOCKED_BY_RUNBOOKS:
        return _BLOCKED_BY_RUNBOOKS[str(observation.evidence["cause"])]
    if observation.status is Status.UNKNOWN:
        return _CHECKER_RUNBOOK
    if observation.code in ("COMPONENTSTATUS_UNHEALTHY", "STATIC_POD_NOT_READY") and observation.component is Component.ETCD:
        return _ETCD_MEMBER_RUNBOOK
    return COMPONENT_RUNBOOKS.get(observation.component)
