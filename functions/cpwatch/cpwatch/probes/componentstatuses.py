"""componentstatuses (deprecated since 1.19): supporting evidence only.

The answering apiserver probes the controller-manager and scheduler on its own host
(127.0.0.1:10257/10259) and each etcd server it is configured with, so on a multi-master or
managed control plane it reflects one host at best.
"""

from __future__ import annotations

import re

from ..findings import Component, Observation, observe
from .context import ProbeContext, condition, entries, field

_ETCD_MEMBER = re.compile(r"^etcd-\d+$")
_COMPONENTS = {"controller-manager": Component.CONTROLLER_MANAGER, "scheduler": Component.SCHEDULER}


def probe(ctx: ProbeContext) -> list[Observation]:
    body = ctx.api.get_json("/api/v1/componentstatuses")
    observations: list[Observation] = []
    unhealthy_members: list[str] = []
    members = 0
    for item in entries(body.get("items")):
        name = str(field(item, "metadata").get("name") or "")
        healthy = condition({"status": item}, "Healthy")
        is_healthy = bool(healthy) and healthy.get("status") == "True"
        message = str((healthy or {}).get("message") or (healthy or {}).get("error") or "no Healthy condition")[:200]
        if _ETCD_MEMBER.match(name):
            members += 1
            if not is_healthy:
                unhealthy_members.append(f"{name} ({message})")
        elif name in _COMPONENTS:
            code = "COMPONENTSTATUS_HEALTHY" if is_healthy else "COMPONENTSTATUS_UNHEALTHY"
            observations.append(observe(code, _COMPONENTS[name], name=name, message=message))
    if unhealthy_members:
        observations.append(observe("ETCD_MEMBER_UNHEALTHY", Component.ETCD, members="; ".join(unhealthy_members),
                                    source=f"componentstatuses, {len(unhealthy_members)} of {members}"))
    elif members:
        observations.append(observe("COMPONENTSTATUS_HEALTHY", Component.ETCD, name=f"{members} etcd member(s)"))
    return observations
