"""What a look's diagnosis means for alerting: one Look (and its advance notices) per subject, and
which findings every message lists as lying between the components.

Called by pipeline.py after each look (looks_of, second_look) and by message_text.py and
notification.py (between_components); pure. The alert state machine (alerting.py) turns looks
into critical and warning alerts; this module only says what each look showed:
- a control-plane component: down is BAD, degraded is DEGRADED, healthy GOOD, unknown UNKNOWN;
  one whose failure another cause explains is UNKNOWN (its cause is alerted, once);
- `extensions` (admission webhooks, aggregated APIs): down (a webhook brought a component down)
  is BAD, failing otherwise DEGRADED;
- `checker`: BAD when cpwatch cannot see the cluster (the apiserver's verdict is unknown).
Advance notices are findings that announce trouble ahead, or that are already measured over a
long window: they warn at once instead of after `warning_after_minutes`, and hold the warning
until the source that reported them looks again without them (NOTICES: code -> the codes by which
that source shows it looked).
"""

from __future__ import annotations

from .alerting import CHECKER, Look, Notices
from ..judging.diagnosis import Verdict
from ..findings import CONTROL_PLANE, Component, Status

_CERT = frozenset({"APISERVER_CERT_OK", "APISERVER_CERT_EXPIRING", "APISERVER_CERT_INVALID"})
_DB_SIZE = frozenset({"ETCD_DB_SIZE_OK", "ETCD_DB_NEAR_QUOTA"})
_RATES = frozenset({"VENDED_APISERVER_RATES_OK", "VENDED_APISERVER_5XX", "VENDED_APISERVER_429"})
_WEBHOOKS = frozenset({"WEBHOOKS_OK", "WEBHOOK_COVERS_CONTROL_PLANE"})
_CLIENT_CERT = frozenset({"CHECKER_CLIENT_CERT_EXPIRING"})
# Read from DescribeCluster, which every run that connected made.
_DESCRIBED = frozenset({"EKS_CLUSTER_STATUS", "EKS_HEALTH_ISSUE"})
_ALWAYS = frozenset({"LEADER_STALLED"})  # made every look from the stored streak (wedged.py)

NOTICES: dict[str, frozenset[str] | None] = {
    # a certificate expiring within cert_expiry_warn_days: every client is refused on the day
    "APISERVER_CERT_EXPIRING": _CERT,
    "CHECKER_CLIENT_CERT_EXPIRING": _CLIENT_CERT,
    # etcd at etcd_db_warn_percent of its quota: writes stop when it is reached (read every
    # 15 minutes from /metrics, every 2 hours from AWS/EKS)
    "ETCD_DB_NEAR_QUOTA": _DB_SIZE,
    # a fail-closed webhook on what the control plane writes: the day its backend fails, it stops
    "WEBHOOK_COVERS_CONTROL_PLANE": _WEBHOOKS,
    # AWS/EKS: 5XX or 429 shares over the last 2 hours (the reading is itself 120 minutes long)
    "VENDED_APISERVER_5XX": _RATES,
    "VENDED_APISERVER_429": _RATES,
    # EKS itself reports a problem of the cluster
    "EKS_CLUSTER_STATUS": None,
    "EKS_HEALTH_ISSUE": None,
    # a leader that renews its Lease and did not work: paged as down if it goes on
    "LEADER_STALLED": _ALWAYS,
}

# Findings about what lies between the components and ahead of time: every message lists them
# with their runbook, whichever subject it is about.
BETWEEN_COMPONENTS = frozenset({
    "APISERVER_THROTTLED", "PROBE_THROTTLED", "VENDED_APISERVER_429", "VENDED_APISERVER_5XX",
    "APISERVER_CERT_EXPIRING", "APISERVER_CERT_INVALID", "CHECKER_CLIENT_CERT_EXPIRING",
    "ETCD_DB_NEAR_QUOTA", "ETCD_NOSPACE", "PODS_BINDING_REJECTED",
})


def looks_of(diagnosis) -> tuple[dict[str, Look], dict[str, Notices]]:
    """What one diagnosis says of each subject, and its advance notices."""
    looks: dict[str, Look] = {}
    for component in CONTROL_PLANE:
        verdict = diagnosis.components[component]
        looks[component.value] = Look.UNKNOWN if verdict.consequence_of is not None else _LOOKS[verdict.verdict]
    looks[Component.EXTENSIONS.value] = _LOOKS[diagnosis.extensions]
    blind = diagnosis.components[Component.APISERVER].verdict is Verdict.UNKNOWN
    looks[CHECKER] = Look.BAD if blind else Look.GOOD
    return looks, {name: notices for name in looks if (notices := _notices(diagnosis, name, blind)) is not None}


def second_look(diagnosis) -> tuple[dict[str, Look], dict[str, Notices]]:
    """What a second look in the same run may confirm: the components, not the checker's
    blindness, which counts once per run (a throttled or refused AWS API a second later answers
    the same, so it is no independent confirmation)."""
    looks, notices = looks_of(diagnosis)
    return ({name: look for name, look in looks.items() if name != CHECKER},
            {name: seen for name, seen in notices.items() if name != CHECKER})


def between_components(findings: list[dict]) -> list[dict]:
    """The findings of a diagnosis document that lie between the components (extensions) or
    ahead of time (throttling, certificates, etcd's quota), failing or warning, in order."""
    return [f for f in findings if f.get("status") != Status.OK.value and f.get("code") != "NOT_JUDGED"
            and (f.get("code") in BETWEEN_COMPONENTS or (f.get("component") == Component.EXTENSIONS.value
                                                          and f.get("status") in (Status.FAIL.value, Status.WARN.value)))]


_LOOKS = {Verdict.DOWN: Look.BAD, Verdict.DEGRADED: Look.DEGRADED, Verdict.HEALTHY: Look.GOOD,
          Verdict.UNKNOWN: Look.UNKNOWN}


def _subject(component: Component) -> str:
    """Whose alert a finding's notice is: its component's, the checker's for cpwatch's own."""
    return CHECKER if component is Component.CHECKER else component.value


def _notices(diagnosis, subject: str, blind: bool) -> Notices | None:
    seen = frozenset(o.code for o in diagnosis.observations
                     if o.code in NOTICES and _subject(o.component) == subject and o.status is not Status.OK)
    codes = {o.code for o in diagnosis.observations}
    looked = frozenset(code for code, sources in NOTICES.items()
                       if (not blind if sources is None else bool(sources & codes) or sources is _ALWAYS))
    if not seen and not looked:
        return None
    return Notices(seen, looked)
