"""A certificate authority of the test's own and a server certificate it issues, as the
city's IT issues one from its own CA (docs/deploy.md, "TLS"): a name in the subject
alternative names (``localhost`` and ``127.0.0.1`` here), the CA's trust given to the
client through an SSL context, never by turning verification off."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class IssuedCertificate:
    """PEM files written by :func:`issue_server_certificate`."""

    ca_cert: Path
    server_cert: Path
    server_key: Path

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts only the test CA and checks the host name."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test City"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue_server_certificate(folder: Path, *, dns_names: tuple[str, ...] = ("localhost",),
                             ip_addresses: tuple[str, ...] = ("127.0.0.1",)
                             ) -> IssuedCertificate:
    """Make a CA and a server certificate it signs for ``dns_names`` and ``ip_addresses``
    (valid from an hour ago for a day), and write them to ``folder`` as PEM."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Test City Root CA")
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    cert = (
        x509.CertificateBuilder().subject_name(_name(dns_names[0]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256()))
    issued = IssuedCertificate(ca_cert=folder / "ca.crt", server_cert=folder / "server.crt",
                               server_key=folder / "server.key")
    issued.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    issued.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    issued.server_key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    issued.server_key.chmod(0o600)
    return issued
