"""The DynamoDB item shapes: keys, and each item to and from its attribute values.

Called only by store/table.py; pure. The layout is in store/__init__.py's docstring.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping

from ..alerting import ClusterState, ComponentState
from ...identity import ClusterIdentity
from ...judging.wedged import Sighting, Streak

STATE_SK = "STATE"


@dataclass(frozen=True)
class StoredRun:
    at: datetime
    overall: str
    components: dict[str, str]  # component -> verdict
    execution_id: str | None
    document: dict
    evidence: Mapping[str, str] = field(default_factory=dict)  # component -> evidence pack
    # The alert transitions of the run: {"component", "kind", "severity"} each.
    alerts: tuple[dict, ...] = ()
    legacy: bool = False  # stored under the cluster's name, before cpwatch keyed clusters by ARN


@dataclass(frozen=True)
class OutboxEntry:
    """A notification decided but not yet published (kept until SNS accepted it)."""

    key: str  # cluster/component/kind/at: unique per transition
    notification: dict  # notification.Notification fields
    attempted_at: datetime | None = None


@dataclass(frozen=True)
class StoredState:
    state: ClusterState
    outbox: tuple[OutboxEntry, ...] = ()
    stalls: Mapping[str, Streak] = field(default_factory=dict)  # wedged.py's streaks
    # Carried over from the item under the cluster's name (written before ARN keys): its version,
    # which the first save under the ARN checks while marking that item as taken over.
    inherited_from: int | None = None


# --- keys --------------------------------------------------------------------------------


def pk(cluster: ClusterIdentity) -> str:
    return f"CLUSTER#{cluster.arn}"


def legacy_pk(name: str) -> str:
    """The key before issue 17: the cluster's name alone (no longer written)."""
    return f"CLUSTER#{name}"


def name_pk(name: str) -> str:
    return f"NAME#{name}"


# --- values ------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def s(value: str) -> dict:
    return {"S": value}


def n(value: int) -> dict:
    return {"N": str(value)}


def packed(value) -> dict:
    """zlib-compressed JSON: a 4 KB diagnosis document costs 5 write units as text, 2 compressed."""
    return {"B": zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 6)}


def unpacked(attribute: dict):
    if "B" in attribute:
        return json.loads(zlib.decompress(attribute["B"]))
    return json.loads(attribute.get("S", "{}"))


# --- state -------------------------------------------------------------------------------


def state_item(key: str, stored: StoredState, version: int, now: datetime) -> dict:
    item = {
        "pk": s(key),
        "sk": s(STATE_SK),
        "version": n(version),
        "updated_at": s(iso(now)),
        "components": s(_compact({name: component_to(c) for name, c in stored.state.components.items()})),
        "outbox": s(_compact([outbox_to(entry) for entry in stored.outbox])),
    }
    if stored.stalls:
        item["stalls"] = s(_compact({name: streak_to(streak) for name, streak in stored.stalls.items()}))
    return item


def _compact(value) -> str:
    """JSON without spaces: the state item is written every run, and under 1 KB it costs one
    write unit (six subjects with their default fields left out stay well under)."""
    return json.dumps(value, separators=(",", ":"))


def state_from(item: dict) -> StoredState:
    components = json.loads(item.get("components", {}).get("S", "{}"))
    outbox = json.loads(item.get("outbox", {}).get("S", "[]"))
    stalls = json.loads(item.get("stalls", {}).get("S", "{}"))
    return StoredState(
        state=ClusterState(components={name: component_from(data) for name, data in components.items()},
                           version=int(item["version"]["N"])),
        outbox=tuple(outbox_from(entry) for entry in outbox),
        stalls={name: streak_from(data) for name, data in stalls.items()},
    )


def component_to(state: ComponentState) -> dict:
    """The fields that differ from ComponentState's defaults (component_from restores those)."""
    full = {"alarm": state.alarm, "since": state.since and iso(state.since), "bad_looks": state.bad_looks,
            "good_looks": state.good_looks, "last_notified": state.last_notified and iso(state.last_notified),
            "first_bad": state.first_bad and iso(state.first_bad), "warning": state.warning,
            "clear_looks": state.clear_looks, "first_impaired": state.first_impaired and iso(state.first_impaired),
            "notices": sorted(state.notices)}
    return {key: value for key, value in full.items() if value not in (None, False, 0, [])}


def component_from(data: dict) -> ComponentState:
    """A component's state, also as versions before issue 17 wrote it (no warning fields: no
    warning open, and the streak of looks that were not good starts with the next one)."""
    return ComponentState(alarm=bool(data.get("alarm")), since=parse_iso(data.get("since")),
                          bad_looks=int(data.get("bad_looks") or 0), good_looks=int(data.get("good_looks") or 0),
                          last_notified=parse_iso(data.get("last_notified")), first_bad=parse_iso(data.get("first_bad")),
                          warning=bool(data.get("warning")), clear_looks=int(data.get("clear_looks") or 0),
                          first_impaired=parse_iso(data.get("first_impaired")),
                          notices=frozenset(data.get("notices") or ()))


def streak_to(streak: Streak) -> dict:
    return {"holder": streak.holder, "runs": streak.runs,
            "sightings": [{"at": iso(x.at), "signs": list(x.signs), "vended_until": x.vended_until}
                          for x in streak.sightings]}


def streak_from(data: dict) -> Streak:
    return Streak(holder=str(data["holder"]), runs=int(data["runs"]),
                  sightings=tuple(Sighting(parse_iso(x["at"]), tuple(x.get("signs") or ()), x.get("vended_until"))
                                  for x in data["sightings"]))


def outbox_to(entry: OutboxEntry) -> dict:
    return {"key": entry.key, "notification": entry.notification,
            "attempted_at": entry.attempted_at and iso(entry.attempted_at)}


def outbox_from(data: dict) -> OutboxEntry:
    return OutboxEntry(key=data["key"], notification=data["notification"], attempted_at=parse_iso(data.get("attempted_at")))


# --- runs --------------------------------------------------------------------------------


def run_item(key: str, document: dict, run_id: str, execution_id: str | None, at: datetime, expires: datetime,
             evidence: Mapping[str, str] | None, alerts: tuple[dict, ...]) -> dict:
    item = {
        "pk": s(key),
        "sk": s(f"RUN#{iso(at)}#{run_id}"),
        "overall": s(str(document.get("overall"))),
        "components": {"M": {name: s(str(c.get("verdict"))) for name, c in (document.get("components") or {}).items()}},
        "document": packed(document),
        "expires_at": n(int(expires.timestamp())),
    }
    if execution_id:
        item["execution_id"] = s(execution_id)
    if evidence:
        item["evidence"] = packed(dict(evidence))
    if alerts:
        item["alerts"] = s(json.dumps(list(alerts), separators=(",", ":")))
    return item


def run_from(item: dict, legacy: bool = False) -> StoredRun:
    sort_key = item["sk"]["S"]  # RUN#<iso>#<run id>
    return StoredRun(
        at=parse_iso(sort_key.split("#")[1]),
        overall=item.get("overall", {}).get("S", "unknown"),
        components={name: value["S"] for name, value in item.get("components", {}).get("M", {}).items()},
        execution_id=item.get("execution_id", {}).get("S"),
        document=document_of(item),
        evidence=unpacked(item["evidence"]) if "evidence" in item else {},
        alerts=tuple(json.loads(item["alerts"]["S"])) if "alerts" in item else (),
        legacy=legacy,
    )


def document_of(run: dict) -> dict:
    """The diagnosis document of a run item as DynamoDB returns it (low-level attribute values)."""
    return unpacked(run.get("document", {}))


# --- the name index ----------------------------------------------------------------------


def name_item(cluster: ClusterIdentity, now: datetime) -> dict:
    """One per cluster and name, written with its first state: `cpwatch history --cluster NAME`
    finds every cluster of that name without scanning the table."""
    return {"pk": s(name_pk(cluster.name)), "sk": s(pk(cluster)), "arn": s(cluster.arn), "account": s(cluster.account),
            "region": s(cluster.region), "partition": s(cluster.partition), "since": s(iso(now))}


def identity_from(item: dict, name: str) -> ClusterIdentity:
    return ClusterIdentity(name=name, region=item["region"]["S"], account=item["account"]["S"],
                           partition=item.get("partition", {}).get("S", "aws"))
