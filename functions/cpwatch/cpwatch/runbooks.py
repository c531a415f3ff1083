"""What each finding means and what to do: the runbooks, one per kind of failure.

Used by the finding catalogue (findings.py), which gives each finding its runbook; rendered by
the text report, the e-mail, `cpwatch explain` and the README's generated runbook section, so
each text is written once. Kept short: the terminal report prints a runbook whole below the root
cause, its first two ways to confirm included; every line of a runbook must earn its place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Runbook:
    title: str
    meaning: str
    confirm: tuple[str, ...]  # kubectl (or other) commands to confirm by hand, most telling first
    eks: str
    self_managed: str


def _support_case(severity: str) -> str:
    return (f"Open an AWS support case ({severity}) with the evidence pack (`cpwatch evidence`): only AWS can "
            "restart the managed control plane.")


APISERVER = Runbook(
    title="kube-apiserver down",
    meaning="kube-apiserver does not answer: kubectl fails and every controller and kubelet logs errors.",
    confirm=("kubectl get --raw='/livez?verbose'", "curl -s --cacert ca.crt https://<endpoint>/livez",
             "kubectl get --raw='/readyz?verbose'"),
    eks="See the cluster's health in the EKS console. " + _support_case("Production system down"),
    self_managed=("On each control-plane node: `crictl ps -a --name kube-apiserver`, `crictl logs <id>`; its "
                  "manifest, certificates and the load balancer."),
)

ETCD = Runbook(
    title="etcd down (quorum lost or unreachable)",
    meaning=("etcd lost quorum (or the apiserver cannot reach it): nothing can change, reads may hang; stale "
             "leader Leases and missing controller reactions follow from it."),
    confirm=("kubectl get --raw='/livez/etcd'",
             "kubectl -n cpwatch patch cm cpwatch-heartbeat -p '{\"data\":{\"t\":\"x\"}}'",
             "kubectl get --raw='/readyz?verbose' | grep etcd"),
    eks=_support_case("Production system down"),
    self_managed=("`etcdctl member list -w table` and `etcdctl endpoint health --cluster`; restart failed members "
                  "from /etc/kubernetes/manifests/etcd.yaml: quorum needs a majority."),
)

APISERVER_PATH = Runbook(
    title="some apiserver requests get no answer",
    meaning=("The endpoint answers some requests and not others while etcd's check passes: one of several "
             "apiservers behind the load balancer hangs (or the balancer). Not etcd."),
    confirm=("for i in 1 2 3 4 5 6; do kubectl get --raw=/livez/etcd --request-timeout=5s; done",
             "kubectl -n kube-system get lease -l apiserver.kubernetes.io/identity",),
    eks=("Open an AWS support case (Production system impaired) with the evidence pack: only AWS can replace a "
         "hung apiserver. Clients that retry keep working."),
    self_managed=("Find the hung instance (its identity Lease stopped; curl each node's :6443/livez), restart it; "
                  "a TCP health check passes for a hung apiserver."),
)

ETCD_MEMBER = Runbook(
    title="etcd member unhealthy, quorum held",
    meaning="An etcd member is unhealthy but quorum holds: nothing visible yet; one more loss locks the cluster.",
    confirm=("kubectl get componentstatuses", "kubectl -n kube-system get pods -l component=etcd"),
    eks="AWS replaces managed etcd members itself; open a support case if it persists.",
    self_managed="`etcdctl member list -w table`, `crictl logs` of the member; restore or replace the member.",
)

CONTROLLER_MANAGER = Runbook(
    title="kube-controller-manager down",
    meaning=("kube-controller-manager is not running: terminated nodes stay Ready, deleted pods stay "
             "Terminating, HPAs, Deployments and new namespaces get no reaction."),
    confirm=("kubectl -n kube-system get lease kube-controller-manager -o yaml  (renewTime)",
             "kubectl get nodes  (a terminated node still Ready)", "kubectl get componentstatuses"),
    eks=_support_case("Production system impaired"),
    self_managed=("`crictl ps -a --name kube-controller-manager`, `crictl logs <id>`; check its manifest, "
                  "kubeconfig and certificates."),
)

SCHEDULER = Runbook(
    title="kube-scheduler down",
    meaning="kube-scheduler is not running: new pods stay Pending forever, with no scheduling condition or event.",
    confirm=("kubectl -n kube-system get lease kube-scheduler -o yaml",
             "kubectl get pods -A --field-selector=status.phase=Pending,spec.nodeName=",
             "kubectl get componentstatuses"),
    eks=_support_case("Production system impaired"),
    self_managed="`crictl ps -a --name kube-scheduler`, `crictl logs <id>`; check its manifest and kubeconfig.",
)

BINDING = Runbook(
    title="pod binding refused",
    meaning=("The scheduler places new pods but the apiserver refuses each binding, so they never start; their "
             "PodScheduled message names what refused: a webhook, a policy, etcd."),
    confirm=("kubectl get events -A --field-selector=reason=FailedScheduling | grep binding",
             "kubectl get pods -A --field-selector=status.phase=Pending,spec.nodeName="),
    eks="`failed calling webhook`: the cluster's own webhook (its runbook; no support case); `etcdserver:`: etcd.",
    self_managed="Fix or relax the webhook or policy the message names; for `etcdserver:` errors look at etcd.",
)

NODE = Runbook(
    title="node problem",
    meaning="A node (its kubelet or the machine) has a problem; the control plane reacts as it should.",
    confirm=("kubectl describe node <node>", "kubectl get pods -A --field-selector=spec.nodeName=<node>"),
    eks="Check the EC2 instance and its node group; replace the node if the instance is gone.",
    self_managed="Check the machine, `systemctl status kubelet`, `journalctl -u kubelet`.",
)

CHECKER = Runbook(
    title="cpwatch cannot see",
    meaning="cpwatch cannot see (part of) this cluster: the verdicts it affects are unknown, not healthy.",
    confirm=("kubectl auth can-i --list --as-group=cpwatch --as=cpwatch-checker",
             "kubectl apply -f infra/  (RBAC, namespace and canary objects)"),
    eks=("Check the access entry of the checker's IAM role (kubernetesGroups: [cpwatch]), the endpoint access "
         "(public/private) and the network path."),
    self_managed="Check the kubeconfig (server, CA, credentials) and that infra/ is applied.",
)

ETCD_NOSPACE = Runbook(
    title="etcd at its space quota (NOSPACE alarm)",
    meaning=("etcd reached its space quota (2 GiB, 8 GiB on EKS): every create, update and patch is refused "
             "until the alarm is disarmed; reads and deletes work. Restarts do not help."),
    confirm=("kubectl -n cpwatch patch cm cpwatch-heartbeat -p '{\"data\":{\"t\":\"x\"}}'",
             "kubectl get --raw /metrics | grep -E '^apiserver_storage_(size|db_total_size)'",
             "etcdctl endpoint status -w table; etcdctl alarm list  (self-managed)"),
    eks=("Support case (Production system down): only AWS can defragment managed etcd. Meanwhile delete what "
         "you can: completed Jobs, old ReplicaSets, large ConfigMaps."),
    self_managed=("`etcdctl compact <revision>`, `etcdctl defrag` (one member at a time), `etcdctl alarm disarm`; "
                  "then find what grew (apiserver_storage_objects)."),
)

ETCD_SIZE = Runbook(
    title="etcd database near its space quota",
    meaning="etcd's database nears its space quota; when reached, etcd refuses every write and nothing can change.",
    confirm=("kubectl get --raw /metrics | grep -E '^apiserver_storage_(size|db_total_size)'",
             "kubectl get --raw /metrics | grep ^apiserver_storage_objects | sort -k2 -n"),
    eks="Delete what grew (the largest object kinds); if it is legitimate, open a support case before the quota.",
    self_managed="Compact and defragment (`etcdctl compact`, `etcdctl defrag`); raise --quota-backend-bytes if legitimate.",
)

CERT_EXPIRED = Runbook(
    title="apiserver serving certificate expired or not yet valid",
    meaning=("The serving certificate chains to the cluster CA but is outside its validity period: every "
             "verifying client (kubelets, controllers, kubectl) is refused."),
    confirm=("openssl s_client -connect <endpoint>:443 </dev/null | openssl x509 -noout -dates",
             "kubeadm certs check-expiration  (on a control-plane node)"),
    eks="EKS rotates its serving certificates: an expired one is AWS's failure. " + _support_case(
        "Production system down"),
    self_managed=("`kubeadm certs renew all` on every control-plane node, restart the static pods, refresh "
                  "admin.conf; check the clocks ('not yet valid' is a clock in the past)."),
)

CERT_EXPIRING = Runbook(
    title="certificate expiring soon",
    meaning=("A certificate the cluster or cpwatch depends on expires soon; then no client can connect (serving "
             "certificate) or cpwatch is refused (its client certificate)."),
    confirm=("openssl s_client -connect <endpoint>:443 </dev/null | openssl x509 -noout -enddate",
             "kubeadm certs check-expiration  (on a control-plane node)"),
    eks="EKS rotates its serving certificates itself; if one is close to expiry, open a support case.",
    self_managed="`kubeadm certs renew all` on every control-plane node, then restart the static pods.",
)

WEBHOOK = Runbook(
    title="admission webhook failing closed",
    meaning=("A webhook with failurePolicy Fail cannot be called (its backend refuses, hangs or fails TLS): "
             "every write it covers is refused. The control-plane components are fine."),
    confirm=("kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations",
             "kubectl get validatingwebhookconfiguration <name> -o yaml  (rules, selectors)",
             "kubectl -n <ns> get endpointslices -l kubernetes.io/service-name=<webhook service>"),
    eks=("The cluster's own webhook, not AWS's: no support case. Restore its backend, or set failurePolicy: Ignore "
         "(or delete the configuration) to unblock writes at once."),
    self_managed=("Restore the backend (pods, Service, certificate), or set failurePolicy: Ignore; exclude "
                  "kube-system, kube-node-lease and cpwatch with a namespaceSelector."),
)

WEBHOOK_RISK = Runbook(
    title="fail-closed webhook on what the control plane writes",
    meaning=("A fail-closed webhook intercepts writes the control plane must make (Leases, node status, "
             "binding, endpoints): the day its backend fails, leaders, nodes or new pods stop."),
    confirm=("kubectl get <validating|mutating>webhookconfiguration <name> -o yaml",),
    eks=("Exclude kube-system and kube-node-lease with a namespaceSelector and narrow the rules (EKS's own advice "
         "for its control plane)."),
    self_managed="Exclude kube-system and kube-node-lease, narrow the rules, or use failurePolicy: Ignore for them.",
)

WEBHOOK_BLOCKS = Runbook(
    title="fail-closed webhook blocking the control plane's own writes",
    meaning=("A fail-closed webhook that cannot be called refuses what the control plane must write (Leases, "
             "node status, binding): restarts and support cases change nothing."),
    confirm=("kubectl get <validating|mutating>webhookconfiguration <name> -o yaml",
             "kubectl get events -A | grep 'failed calling webhook'",
             "kubectl -n kube-system get lease kube-controller-manager kube-scheduler",
             "kubectl get pods -A --field-selector=status.phase=Pending,spec.nodeName=  (binding rejected)"),
    eks=("The cluster's own webhook: no support case. Restore its backend, or set failurePolicy: Ignore (or "
         "delete it) to unblock at once; then exclude kube-system and kube-node-lease."),
    self_managed=("Restore the backend or set failurePolicy: Ignore: leaders take their Leases back within "
                  "seconds. Then exclude kube-system and kube-node-lease, narrow the rules."),
)

APISERVICE = Runbook(
    title="aggregated API unavailable",
    meaning=("An APIService (metrics-server, a metrics adapter) is not Available: HPAs that need it stop, "
             "namespace deletion and garbage collection stall. Not the controller-manager."),
    confirm=("kubectl get apiservices | grep -v True",
             "kubectl get apiservice <name> -o yaml  (status.conditions: reason and message)",
             "kubectl get --raw /apis/<group>/<version>  (503 while unavailable)"),
    eks="Not AWS's: no support case. Restore the extension (e.g. the metrics-server add-on) or delete the APIService.",
    self_managed="Restore the extension's Service, endpoints and pods, or delete an APIService left behind.",
)

THROTTLED = Runbook(
    title="apiserver throttling (API Priority and Fairness)",
    meaning=("The apiserver rejected requests with 429: their priority level is saturated. It is up; clients in "
             "that level wait and retry, and controllers that share it slow down."),
    confirm=("kubectl get --raw /metrics | grep ^apiserver_flowcontrol_rejected_requests_total",
             "kubectl get --raw /debug/api_priority_and_fairness/dump_priority_levels",
             "kubectl get prioritylevelconfigurations,flowschemas"),
    eks=("Find and slow the clients that saturate the level (audit logs, flowcontrol metrics), or give cpwatch "
         "its own FlowSchema; a support case only for system levels."),
    self_managed=("Find the noisy clients (apiserver_flowcontrol_* by flow_schema); add a FlowSchema, raise the "
                  "level's shares or --max-requests-inflight."),
)

CONTROLLER_STUCK = Runbook(
    title="controller stuck while kube-controller-manager runs",
    meaning=("kube-controller-manager runs and renews its Lease, but one controller does no work (a hung "
             "worker, a queue nobody takes): what it does stops, everything else works."),
    confirm=("kubectl get --raw /apis/metrics.eks.amazonaws.com/v1/kcm/container/metrics",
             "kubectl -n kube-system get lease kube-controller-manager -o yaml  (renewTime)"),
    eks=("Open an AWS support case (Production system impaired) naming the controller, with the evidence "
         "pack: restarting kube-controller-manager fixes it, which only AWS can do."),
    self_managed=("Save a goroutine dump (/debug/pprof/goroutine?debug=2 on :10257) and `crictl logs`, then "
                  "restart kube-controller-manager."),
)

# A leader that renews its Lease and does no work (a deadlocked work queue, a hung informer):
# client-go leader election runs in its own goroutine and trusts the Lease, so no standby takes
# over (it acquires only after leaseDurationSeconds without a renewal). Only a restart ends it.
WEDGED = Runbook(
    title="leader renews its Lease but does not work (wedged)",
    meaning=("The elected controller-manager or scheduler renews its Lease, so no standby takes over, but did "
             "no work in consecutive runs: as good as down until the elected instance is restarted."),
    confirm=("kubectl -n kube-system get lease kube-controller-manager kube-scheduler -o yaml  (renewTime)",
             "kubectl -n cpwatch get deploy cpwatch-canary -o jsonpath='{.status.observedGeneration}'",
             "kubectl get pods -A --field-selector=status.phase=Pending,spec.nodeName="),
    eks=("Open an AWS support case (Production system impaired) with the evidence pack: the elected "
         "instance (its holder identity) needs a restart, which only AWS can do."),
    self_managed=("Save a goroutine dump (/debug/pprof/goroutine?debug=2 on :10257 or :10259), then restart the "
                  "Lease holder's static pod: a standby acquires the Lease."),
)

CLOCK_SKEW = Runbook(
    title="clock skew",
    meaning=("The checker's clock and the apiserver's differ. Verdicts are not affected (ages use the "
             "apiserver's clock, its Date header); report timestamps are the checker's."),
    confirm=("date -u; curl -sI --cacert ca.crt https://<endpoint>/livez | grep -i '^date'",),
    eks="Lambda clocks are synchronised by AWS; a skew points at the cluster's side: a support case if it persists.",
    self_managed="Check NTP/chrony on the control-plane nodes and on the machine running cpwatch.",
)

CREDENTIALS = Runbook(
    title="cpwatch has no credentials for the context",
    meaning=("The context's credentials could not be obtained, so cpwatch sent nothing (it never falls back to "
             "anonymous requests): the cluster was not looked at."),
    confirm=("kubectl --context <context> get --raw='/livez'",
             "run the context's users[].user.exec command by hand: it must print an ExecCredential"),
    eks="Refresh the AWS credentials the plugin uses (aws sso login, the profile), then `aws eks get-token`.",
    self_managed="Fix the kubeconfig user: the token file, the client certificate or the credential plugin.",
)
