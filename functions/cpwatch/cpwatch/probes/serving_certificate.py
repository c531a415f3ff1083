"""Expiry of the apiserver's serving certificate, read from a verified TLS handshake.

An expired serving certificate refuses every client at once (kubeadm's certificates last one
year and are renewed only by `kubeadm certs renew` or an upgrade), so it is worth a warning
weeks ahead. One handshake per run, no request. A certificate that is already outside its
validity period is the health probe's finding (APISERVER_CERT_INVALID), not this one's.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..errors import CertificateValidityError
from ..findings import Component, Observation, observe
from ..timeutil import format_k8s_time
from .context import ProbeContext


def probe(ctx: ProbeContext) -> list[Observation]:
    try:
        certificate = ctx.api.serving_certificate()
    except CertificateValidityError:
        return []  # the health probe reports it, with the dates
    days_left = (certificate.not_after - datetime.now(timezone.utc)).total_seconds() / 86400
    evidence = dict(not_after=format_k8s_time(certificate.not_after), days_left=int(days_left),
                    subject=certificate.subject)
    if days_left < ctx.settings.cert_expiry_warn_days:
        return [observe("APISERVER_CERT_EXPIRING", Component.APISERVER, warn_days=int(ctx.settings.cert_expiry_warn_days),
                        **evidence)]
    return [observe("APISERVER_CERT_OK", Component.APISERVER, **evidence)]
