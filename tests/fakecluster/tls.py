"""A throwaway CA, a server certificate for 127.0.0.1 / localhost, and client certificates.

Who calls it: FakeCluster.start(), and tests that need a kubeadm-style client certificate
(`issue_client_certificate`: CN is the user, O the groups, signed by the cluster's CA, as
kubeadm's admin.conf). ECDSA P-256 keys take about a millisecond to make, so every
cluster gets its own CA and a client that trusts another cluster's CA fails verification.
Validity is measured on the real clock (the TLS client checks it against its own clock), not
on the simulated one.
"""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
from dataclasses import dataclass, field
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
    ca_key_pem: str = field(default="", repr=False)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # Client certificates are asked for and, when given, must chain to this CA (the
        # apiserver's --client-ca-file). kube-apiserver completes the handshake with an untrusted
        # client certificate and answers 401; OpenSSL in Python can only refuse the handshake.
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cadata=self.ca_pem)
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

    def issue_client_certificate(self, user: str, groups: tuple[str, ...] = (),
                                 valid_for: timedelta = timedelta(days=365)) -> tuple[str, str]:
        """(certificate PEM, key PEM) for `user` in `groups`, signed by this CA."""
        ca_key = serialization.load_pem_private_key(self.ca_key_pem.encode(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.ca_pem.encode())
        now = datetime.now(timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + valid_for)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        return (cert.public_bytes(serialization.Encoding.PEM).decode(),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode())


def identity_of_peer(certificate: dict | None) -> tuple[str, tuple[str, ...]] | None:
    """(user, groups) of a verified client certificate as kube-apiserver's x509 authenticator
    reads it (CommonName is the user, each Organization a group); None without a CN."""
    if not certificate:
        return None
    attributes = [pair for rdn in certificate.get("subject", ()) for pair in rdn]
    user = next((value for key, value in attributes if key == "commonName"), "")
    groups = tuple(value for key, value in attributes if key == "organizationName")
    return (user, groups) if user else None


def make_credentials(hostnames: tuple[str, ...] = ("localhost", "kubernetes", "kubernetes.default"),
                     addresses: tuple[str, ...] = ("127.0.0.1", "::1")) -> ServerCredentials:
    now = datetime.now(timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fakecluster-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in hostnames]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ServerCredentials(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM).decode(),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode(),
        ca_key_pem=ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode(),
    )
