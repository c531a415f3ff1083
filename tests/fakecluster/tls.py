"""A throwaway CA, a server certificate for 127.0.0.1 / localhost, and client certificates.

Who calls it: FakeCluster (at construction, and set_serving_certificate to issue the serving
certificate again), and tests that need a kubeadm-style client certificate
(`issue_client_certificate`: CN is the user, O the groups, signed by the cluster's CA, as
kubeadm's admin.conf). ECDSA P-256 keys take about a millisecond to make, so every cluster gets
its own CA and a client that trusts another cluster's CA fails verification. Validity is
measured on the real clock (the TLS client checks it against its own clock), not on the
simulated one.
"""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class ServerCredentials:
    ca_pem: str
    cert_pem: str
    key_pem: str

    def server_context(self, client_ca_pem: str | None = None) -> ssl.SSLContext:
        """client_ca_pem: the CA client certificates must chain to (the apiserver's
        --client-ca-file); this credential's own CA when not given."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # Client certificates are asked for and, when given, must chain to the client CA.
        # kube-apiserver completes the handshake with an untrusted client certificate and answers
        # 401; OpenSSL in Python can only refuse the handshake.
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cadata=client_ca_pem or self.ca_pem)
        # load_cert_chain only reads files; the directory is gone when the context is built.
        with tempfile.TemporaryDirectory(prefix="fakecluster-tls-") as directory:
            cert_file = Path(directory) / "server.crt"
            key_file = Path(directory) / "server.key"
            cert_file.write_text(self.cert_pem)
            key_file.write_text(self.key_pem)
            context.load_cert_chain(cert_file, key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this CA (for tests)."""
        return ssl.create_default_context(cadata=self.ca_pem)


CERTIFICATE_STATES = ("valid", "expired", "not-yet-valid")
_HOSTNAMES = ("localhost", "kubernetes", "kubernetes.default")
_ADDRESSES = ("127.0.0.1", "::1")


class ClusterCA:
    """The cluster's CA; it can issue the apiserver's serving certificate again (renewal, or an
    expired one for the expired-certificate fault)."""

    def __init__(self, common_name: str = "fakecluster-ca") -> None:
        now = datetime.now(timezone.utc)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=400))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue_client_certificate(self, user: str, groups: tuple[str, ...] = (),
                                 valid_for: timedelta = timedelta(days=365)) -> tuple[str, str]:
        """(certificate PEM, key PEM) for `user` in `groups`, signed by this CA."""
        now = datetime.now(timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + valid_for)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return (cert.public_bytes(serialization.Encoding.PEM).decode(),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode())

    def issue_server(self, not_before: datetime, not_after: datetime,
                     hostnames: tuple[str, ...] = _HOSTNAMES, addresses: tuple[str, ...] = _ADDRESSES
                     ) -> ServerCredentials:
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in hostnames]
        names += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return ServerCredentials(
            ca_pem=self.pem,
            cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode(),
        )


def identity_of_peer(certificate: dict | None) -> tuple[str, tuple[str, ...]] | None:
    """(user, groups) of a verified client certificate as kube-apiserver's x509 authenticator
    reads it (CommonName is the user, each Organization a group); None without a CN."""
    if not certificate:
        return None
    attributes = [pair for rdn in certificate.get("subject", ()) for pair in rdn]
    user = next((value for key, value in attributes if key == "commonName"), "")
    groups = tuple(value for key, value in attributes if key == "organizationName")
    return (user, groups) if user else None


def validity(state: str, expires_in_days: float | None = None,
             now: datetime | None = None) -> tuple[datetime, datetime]:
    """notBefore and notAfter of a serving certificate in `state`: valid for a year (or
    expiring in `expires_in_days`), expired yesterday, or valid only from tomorrow."""
    now = now or datetime.now(timezone.utc)
    if state not in CERTIFICATE_STATES:
        raise ValueError(f"certificate state must be one of {', '.join(CERTIFICATE_STATES)}, not {state!r}")
    if expires_in_days is not None and state != "valid":
        raise ValueError("expires_in_days goes only with state 'valid'")
    if state == "expired":
        return now - timedelta(days=366), now - timedelta(days=1)
    if state == "not-yet-valid":
        return now + timedelta(days=1), now + timedelta(days=366)
    if expires_in_days is not None:
        if expires_in_days <= 0:
            raise ValueError(f"expires_in_days must be positive, not {expires_in_days} (use state 'expired')")
        return now - timedelta(days=365), now + timedelta(days=expires_in_days)
    return now - timedelta(days=1), now + timedelta(days=365)


def make_credentials(hostnames: tuple[str, ...] = _HOSTNAMES,
                     addresses: tuple[str, ...] = _ADDRESSES) -> ServerCredentials:
    """A new CA and a serving certificate from it, valid from yesterday for a year."""
    return ClusterCA().issue_server(*validity("valid"), hostnames=hostnames, addresses=addresses)
