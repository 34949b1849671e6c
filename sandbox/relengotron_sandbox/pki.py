"""A small fedmsg PKI for the sandbox and the tests: a CA, service certificates, a CRL, laid out as fedmsg reads them.

Fedora's fedmsg certificates (fedora-infra ansible, roles/fedmsg/base: ``/etc/pki/fedmsg/ca.crt`` and one
``<service>-<host>.crt`` / ``.key`` pair per service and host) were issued by one CA, revoked through
``https://fedoraproject.org/fedmsg/crl.pem``, and carried the ``<service>-<host>`` name as their CN, which is
what ``routing_policy`` lists. ``fedmsg.crypto.x509_ng.sign(message, ssldir=…, certname=…)`` reads
``<ssldir>/<certname>.key`` and ``.crt``; this module writes exactly that layout with ``cryptography``.

Every write is atomic (a temporary file renamed into place); issuing the same name again replaces the pair.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from relengotron.tools.files import write_atomic

DAY = datetime.timedelta(days=1)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class FedmsgCA:
    """A CA that writes into ``ssldir``: ``ca.crt`` (+ ``ca.key``), ``<certname>.crt/.key``, ``crl.pem``."""

    ssldir: Path
    name: str = "Fedora Messaging CA (sandbox)"
    key: rsa.RSAPrivateKey = field(default_factory=_key, repr=False)
    certificate: x509.Certificate = field(init=False, repr=False)
    revoked: dict[int, datetime.datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ssldir = Path(self.ssldir)
        self.ssldir.mkdir(parents=True, exist_ok=True)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - DAY)
            .not_valid_after(_now() + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        write_atomic(self.ca_path, self.certificate.public_bytes(serialization.Encoding.PEM))
        write_atomic(self.ssldir / "ca.key", _key_pem(self.key), mode=0o600)
        self.write_crl()

    @property
    def ca_path(self) -> Path:
        return self.ssldir / "ca.crt"

    @property
    def crl_path(self) -> Path:
        return self.ssldir / "crl.pem"

    def issue(self, certname: str) -> x509.Certificate:
        """``<certname>.crt`` and ``.key`` in ssldir, CN = certname (as Fedora's ``<service>-<host>``)."""
        key = _key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, certname)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - DAY)
            .not_valid_after(_now() + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        write_atomic(self.ssldir / f"{certname}.key", _key_pem(key), mode=0o600)
        write_atomic(self.ssldir / f"{certname}.crt", certificate.public_bytes(serialization.Encoding.PEM))
        return certificate

    def revoke(self, certificate: x509.Certificate) -> None:
        """Add the certificate to ``crl.pem`` (rewritten). Idempotent."""
        self.revoked.setdefault(certificate.serial_number, _now())
        self.write_crl()

    def write_crl(self) -> Path:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(_now() - DAY)
            .next_update(_now() + 30 * DAY)
        )
        for serial, when in sorted(self.revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        return write_atomic(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))
