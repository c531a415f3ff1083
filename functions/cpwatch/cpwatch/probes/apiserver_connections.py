"""The apiserver endpoint sampled over new connections: does every apiserver behind it answer?

EKS runs at least two apiservers behind a Network Load Balancer, which picks a backend per TCP
connection (by a flow hash), and self-managed clusters put several behind a load balancer too.
Pooled connections may all land on one backend, so this probe opens settings.apiserver_connections
new connections at once (twice as many as the identity Leases show apiservers, when more) and
asks each for /livez/etcd, the apiserver's own etcd check: a hung apiserver accepts the TCP
connection and never answers (not even the TLS handshake), while every live one answers within
the etcd check's timeout (2 s). Some answered and some not: one of several apiservers, or the
load balancer, does not answer. It samples only once the health probe's /livez was answered: an
endpoint that does not answer /livez, or refuses cpwatch, is the health probe's finding.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..errors import ApiError, CannotConnectError, DeadlineExceededError, NoAnswerError
from ..findings import Component, Observation, observe
from ..cluster.kubeapi import Response, raise_for_status_of
from .apiserver_identities import identities
from .health import livez_answer
from .context import ProbeContext

PATH = "/livez/etcd"
MAX_CONNECTIONS = 16


def probe(ctx: ProbeContext) -> list[Observation]:
    livez = livez_answer(ctx)
    if not isinstance(livez, Response) or livez.status not in (200, 500):
        # No answer, or one refusing cpwatch: the health probe says so. Sampling a hung endpoint
        # would only make the look (and the confirming second look) a request timeout longer;
        # whether other requests of the check were answered tells one hung backend from all.
        return []
    count = _connections(ctx)
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="apiserver-connection") as pool:
        outcomes = list(pool.map(lambda _: _outcome(ctx), range(count)))
    refused_us = next((o for o in outcomes if isinstance(o, Response) and o.status in (401, 403)), None)
    if refused_us is not None:
        raise_for_status_of(refused_us, "GET", PATH)  # the checker's credentials: the runner's finding
    unanswered = outcomes.count("no-answer")
    answered = sum(1 for o in outcomes if isinstance(o, Response) and o.status in (200, 500))
    if unanswered and answered:
        return [observe("APISERVER_CONNECTIONS_NO_ANSWER", Component.APISERVER, unanswered=unanswered,
                        connections=count, refused=outcomes.count("refused"), timeout_s=ctx.api.request_timeout_s,
                        **_identity_evidence(ctx))]
    if answered == count:
        return [observe("APISERVER_CONNECTIONS_OK", Component.APISERVER, connections=count,
                        etcd_failed=sum(1 for o in outcomes if isinstance(o, Response) and o.status == 500))]
    # None answered, or some refused: the health probe reads the apiserver's reachability.
    return []


def _connections(ctx: ProbeContext) -> int:
    wanted = ctx.settings.apiserver_connections
    try:
        known = identities(ctx)
    except ApiError:  # the identity probe reports why it could not look
        return wanted
    return min(max(wanted, 2 * len(known.renewing)), MAX_CONNECTIONS)


def _outcome(ctx: ProbeContext) -> Response | str:
    """The answer (200: etcd's check passed, 500: it failed; anything else is not the
    apiserver's health answer), or no-answer / refused."""
    try:
        return ctx.api.request_on_new_connection("GET", PATH, accept="text/plain")
    except NoAnswerError as error:
        return "refused" if error.reason == "refused" else "no-answer"
    except (CannotConnectError, DeadlineExceededError):
        return "refused"


def _identity_evidence(ctx: ProbeContext) -> dict[str, object]:
    try:
        known = identities(ctx)
    except ApiError:
        return {}
    return {"renewing": len(known.renewing), "stale_leases": [name for name, _ in known.stale][:5]}
