"""kube-apiserver health endpoints: /livez?verbose, /readyz?verbose, /livez/etcd.

Speaks for the apiserver (reachable? failed checks?) and for etcd (`[-]etcd` lines, the
/livez/etcd reason). With etcd quorum lost the recorded apiserver answers these with HTTP 500
after ~2 s while /version answers at once, so an HTTP answer of any status means "up".
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..errors import ApiError, CannotConnectError, CertificateValidityError, NoAnswerError
from ..findings import Component, Observation, observe
from ..cluster.kubeapi import Response, one_line, status_answer
from ..timeutil import format_k8s_time
from .context import ProbeContext, ms
from .healthtext import HealthReport, parse_health_text

_ETCD_CHECKS = ("etcd", "etcd-readiness")


def livez_answer(ctx: ProbeContext) -> Response | ApiError:
    """The answer to /livez?verbose, asked once per run (other probes look at it before they ask
    more of an apiserver that does not answer or refuses cpwatch)."""
    # Kept in a tuple: the run cache raises an error it holds, and this one is an answer too.
    return ctx.cache.get("livez", lambda: (_get(ctx, "/livez", verbose=True),))[0]


def probe(ctx: ProbeContext) -> list[Observation]:
    livez = livez_answer(ctx)
    if isinstance(livez, CertificateValidityError):
        return [_invalid_certificate(ctx, livez)]
    if isinstance(livez, ApiError):
        return [_no_answer(livez, Component.APISERVER)]
    if livez.status == 401:
        return [observe("CHECKER_UNAUTHORIZED", Component.APISERVER, path="/livez")]

    observations = _clock_skew(ctx)
    readyz = _get(ctx, "/readyz", verbose=True)
    etcd = _get(ctx, "/livez/etcd", verbose=False)
    live = _parsed(livez, "/livez", Component.APISERVER, observations)
    ready = _parsed(readyz, "/readyz", Component.APISERVER, observations)

    other_failed_live = [c for c in (live.failed if live else ()) if c not in _ETCD_CHECKS]
    other_failed_ready = [c for c in (ready.failed if ready else ()) if c not in _ETCD_CHECKS]
    if other_failed_live:
        observations.append(observe("APISERVER_LIVEZ_FAILED", Component.APISERVER, checks=", ".join(other_failed_live)))
    if other_failed_ready:
        observations.append(observe("APISERVER_NOT_READY", Component.APISERVER, checks=", ".join(other_failed_ready)))
    if live and ready and not other_failed_live and not other_failed_ready:
        observations.append(observe("APISERVER_LIVE", Component.APISERVER,
                                    checks=len(live.checks) + len(ready.checks), latency_ms=ms(livez.seconds)))
    observations.extend(_etcd(live, ready, etcd))
    return observations


def _get(ctx: ProbeContext, path: str, verbose: bool) -> Response | ApiError:
    try:
        return ctx.api.request("GET", path, {"verbose": "true"} if verbose else None,
                               accept="text/plain", raise_for_status=False)
    except (NoAnswerError, CannotConnectError) as error:
        return error


def _no_answer(error: ApiError, component: Component) -> Observation:
    if isinstance(error, CannotConnectError):
        return observe("CHECKER_CANNOT_CONNECT", component, path=error.path, reason=error.reason, detail=error.detail)
    if component is Component.APISERVER and error.path == "/livez":
        return observe("APISERVER_UNREACHABLE", component, path=error.path, reason=error.reason, detail=error.detail)
    return observe("PROBE_NO_ANSWER", component, probe="health", path=error.path, reason=error.reason)


def _invalid_certificate(ctx: ProbeContext, error: CertificateValidityError) -> Observation:
    """The handshake failed only on the certificate's validity period. If it otherwise chains to
    the trusted CA (a second handshake that skips only the time check), no client can connect:
    the apiserver is down. Otherwise it is the checker's configuration (another CA, wrong name)."""
    try:
        certificate = ctx.api.serving_certificate(ignore_validity=True)
    except (NoAnswerError, CannotConnectError) as second:
        return observe("CHECKER_CANNOT_CONNECT", Component.APISERVER, path=error.path, reason="tls",
                       detail=f"{error.detail}; and not trusted apart from its validity: {second.detail}"[:300])
    return observe("APISERVER_CERT_INVALID", Component.APISERVER, path=ctx.api.server,
                   problem=certificate.problem(datetime.now(timezone.utc)),
                   not_before=format_k8s_time(certificate.not_before), not_after=format_k8s_time(certificate.not_after),
                   subject=certificate.subject, verify_code=error.verify_code)


def _from_apiserver(response: Response) -> bool:
    """The apiserver's own health answer: 200 or 500 in text/plain (as recorded). A proxy's or
    load balancer's error page (HTML, 502/503/504) is not a health report."""
    return response.status in (200, 500) and response.content_type.split(";")[0].strip().lower() == "text/plain"


def _parsed(response: Response | ApiError, path: str, component: Component,
            observations: list[Observation]) -> HealthReport | None:
    """The parsed health text, or None with an observation saying why it is missing."""
    if isinstance(response, ApiError):
        observations.append(_no_answer(response, component))
        return None
    if _from_apiserver(response):
        return parse_health_text(response.text())
    if response.status == 429:
        return None  # throttled even after waiting: the check's APISERVER_THROTTLED says so
    if response.status == 401:
        observations.append(observe("CHECKER_UNAUTHORIZED", component, path=path))
    elif response.status == 403:
        status = status_answer(response)
        observations.append(observe("CHECKER_FORBIDDEN", component, method="GET", path=path,
                                    message=status.message if status else one_line(response.text(), 200),
                                    reason=status.reason if status else "", http_status=response.status))
    else:
        kind = response.content_type.split(";")[0].strip() or "no content type"
        observations.append(observe("PROBE_FAILED", component, probe="health",
                                    detail=f"{path} answered HTTP {response.status} ({kind}), not a health report"))
    return None


def _etcd(live: HealthReport | None, ready: HealthReport | None, etcd: Response | ApiError) -> list[Observation]:
    failed_in = [path for parsed, path in ((live, "/livez"), (ready, "/readyz"))
                 if parsed and any(c in _ETCD_CHECKS for c in parsed.failed)]
    if isinstance(etcd, Response) and etcd.status == 500 and _from_apiserver(etcd):
        return [observe("ETCD_CHECK_FAILED", Component.ETCD, path="/livez/etcd",
                        detail=etcd.text().strip()[:200] or f"HTTP {etcd.status}", also_failed_in=failed_in)]
    if failed_in:
        return [observe("ETCD_CHECK_FAILED", Component.ETCD, path=" and ".join(failed_in),
                        detail="[-]etcd failed", also_failed_in=failed_in)]
    if isinstance(etcd, Response) and etcd.status == 200 and _from_apiserver(etcd):
        return [observe("ETCD_CHECK_PASSED", Component.ETCD, path="/livez/etcd")]
    observations: list[Observation] = []
    _parsed(etcd, "/livez/etcd", Component.ETCD, observations)
    return observations


def _clock_skew(ctx: ProbeContext) -> list[Observation]:
    offset = ctx.api.clock_offset_s
    if offset is not None and abs(offset) > ctx.settings.clock_skew_warn_s:
        return [observe("CHECKER_CLOCK_SKEW", Component.CHECKER, offset_s=int(offset))]
    return []
