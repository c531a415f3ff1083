"""Expiry of the client certificate a kubeconfig context authenticates with (kubeadm's
admin.conf, a certificate an exec plugin returns): a warning weeks before the apiserver starts
refusing cpwatch with 401.

Called by connect.py (reads the certificate) and by the CLI (turns it into a finding). Parsed
with `cryptography` when it is installed (it is for the CLI); without it, no warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..findings import Component, Observation, observe
from ..timeutil import format_k8s_time


@dataclass(frozen=True)
class ClientCertificate:
    subject: str
    not_after: datetime


def read(pem: bytes | str) -> ClientCertificate | None:
    """The first certificate of a PEM bundle; None if it cannot be parsed here."""
    try:
        from cryptography import x509
        from cryptography.x509.oid import NameOID
    except ImportError:
        return None
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        return None
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return ClientCertificate(subject=str(names[0].value) if names else "no CN",
                             not_after=certificate.not_valid_after_utc)


def observations(certificate: ClientCertificate | None, warn_days: float,
                 now: datetime | None = None) -> tuple[Observation, ...]:
    if certificate is None:
        return ()
    now = now or datetime.now(timezone.utc)
    days_left = (certificate.not_after - now).total_seconds() / 86400
    if days_left >= warn_days:
        return ()
    stamp = format_k8s_time(certificate.not_after)
    when = f"expires on {stamp}, in {int(days_left)} day(s)" if days_left > 0 else f"expired on {stamp}"
    return (observe("CHECKER_CLIENT_CERT_EXPIRING", Component.CHECKER, subject=certificate.subject, when=when,
                    not_after=stamp, days_left=int(days_left)),)
