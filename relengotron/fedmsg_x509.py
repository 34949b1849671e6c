"""fedmsg's x509 message signatures on the pyOpenSSL this project runs, with a reason for every refusal.

Fedora's fedmsg signed every message with the sending service's X.509 certificate (``<service>-<host>`` in
``/etc/pki/fedmsg``): ``fedmsg.crypto.x509_ng.sign`` adds ``crypto: x509``, ``signature`` (RSA PKCS#1 v1.5
over SHA-1 of ``fedmsg.encoding.dumps`` of the message) and ``certificate`` (the PEM, base64), and
``x509_ng.validate`` checks, in order: the certificate chains to the CA and is not in the CRL (pyOpenSSL's
``X509Store`` with ``CRL_CHECK | CRL_CHECK_ALL``), the signature verifies with its public key (cryptography),
and ``routing_policy`` lets the certificate's CN send on the message's topic (``routing_nitpicky``: a topic
with no entry is refused).

Why this module exists: fedmsg 1.1.7 (its last release) imports ``OpenSSL.crypto.load_crl``, which pyOpenSSL
24.3.0 removed ("use cryptography.x509's CRL functionality instead", pyOpenSSL's changelog). That import fails,
so fedmsg silently turns x509 off: ``fedmsg.crypto.sign`` returns ``None`` and ``fedmsg.crypto.validate``
returns ``None`` (falsy) for every message. No older pyOpenSSL fits here (Airflow needs cryptography >= 44.0.3,
Twisted's TLS pyOpenSSL >= 25.3, and pyOpenSSL 24.2 needs cryptography < 44). So:

- :func:`enable_signing` points fedmsg's x509 ``sign`` back at ``x509_ng.sign``, which needs only the
  cryptography names its module had already imported before the failing line; fedmsg then signs exactly as
  in Fedora (``FedMsgContext.publish`` with ``sign_messages``).
- :class:`X509Validator` is ``x509_ng.validate`` step by step, with the same libraries and fedmsg's own
  pieces (``fedmsg.crypto.utils.load_certificates`` for the CA and CRL — https URL or file, cached, reloaded
  once when a certificate fails, as fedmsg does; ``fedmsg.crypto.strip_credentials``; ``fedmsg.encoding``),
  but saying *which* check failed instead of fedmsg's bare ``False`` — a dead letter needs the reason.
  tests/unit/test_listener_x509.py checks it agrees with fedmsg's own ``x509_ng.validate`` on every case.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import fedmsg.crypto
import fedmsg.crypto.utils
import fedmsg.crypto.x509
import fedmsg.crypto.x509_ng
import fedmsg.encoding
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from OpenSSL.crypto import X509, X509Store, X509StoreContext, X509StoreContextError, X509StoreFlags

# fedmsg's defaults when the keys are absent (x509_ng.validate), i.e. what Fedora's consumers used.
FEDORA_CA = "https://fedoraproject.org/fedmsg/ca.crt"
FEDORA_CRL = "https://fedoraproject.org/fedmsg/crl.pem"
# fedmsg reloads the CA and CRL every time a certificate fails; a flood of badly signed messages must not
# become a flood of downloads from fedoraproject.org (this project's limit).
RELOAD_INTERVAL = 60.0
_SIGN_NEEDS = ("x509", "serialization", "asymmetric", "hashes", "default_backend")


def enable_signing() -> None:
    """Make ``fedmsg.crypto.sign`` sign with x509 again (see the module docstring). Idempotent."""
    backend = fedmsg.crypto.x509
    if backend.sign is not backend._disabled_sign:
        return
    missing = [name for name in _SIGN_NEEDS if not hasattr(fedmsg.crypto.x509_ng, name)]
    if missing:
        raise RuntimeError(f"fedmsg.crypto.x509_ng cannot sign here: it lacks {', '.join(missing)}")
    backend.sign = fedmsg.crypto.x509_ng.sign


class CertificateSourceError(ValueError):
    """The CA certificate or the CRL cannot be read or parsed."""


def common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else "(no CN)"
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


class X509Validator:
    """fedmsg's four x509 checks, each refusal with its reason. Thread-safe (one lock around the CA/CRL)."""

    def __init__(
        self,
        *,
        ca_cert_location: str = FEDORA_CA,
        crl_location: str | None = FEDORA_CRL,
        routing_policy: Mapping[str, Sequence[str]] | None = None,
        routing_nitpicky: bool = False,
    ) -> None:
        """Loads the CA and CRL now, so a wrong location stops the listener at start, not each message."""
        self.ca_location = ca_cert_location
        self.crl_location = crl_location or ""
        self.routing_policy = {topic: tuple(names) for topic, names in (routing_policy or {}).items()}
        self.nitpicky = routing_nitpicky
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._store = self._load(invalidate=False)

    def _load(self, *, invalidate: bool) -> X509Store:
        try:
            ca_pem, crl_pem = fedmsg.crypto.utils.load_certificates(
                self.ca_location, self.crl_location, invalidate_cache=invalidate
            )
        except Exception as exc:  # requests' errors, OSError, UnicodeDecodeError: all mean "cannot read it"
            where = f"{self.ca_location}" + (f" / {self.crl_location}" if self.crl_location else "")
            raise CertificateSourceError(f"cannot load the fedmsg CA/CRL from {where}: {exc}") from exc
        store = X509Store()
        try:
            store.add_cert(X509.from_cryptography(x509.load_pem_x509_certificate(ca_pem.encode("ascii"))))
        except ValueError as exc:
            raise CertificateSourceError(f"{self.ca_location}: not a PEM CA certificate ({exc})") from exc
        if crl_pem:
            try:
                store.add_crl(x509.load_pem_x509_crl(crl_pem.encode("ascii")))
            except ValueError as exc:
                raise CertificateSourceError(f"{self.crl_location}: not a PEM CRL ({exc})") from exc
            store.set_flags(X509StoreFlags.CRL_CHECK | X509StoreFlags.CRL_CHECK_ALL)
        self._loaded_at = time.monotonic()
        return store

    def _untrusted(self, cert: x509.Certificate) -> str | None:
        """Why the certificate does not chain to the CA (or is revoked, expired…); None when it does."""
        certificate = X509.from_cryptography(cert)
        with self._lock:
            store = self._store
        try:
            X509StoreContext(store, certificate).verify_certificate()
            return None
        except X509StoreContextError as exc:
            first = str(exc)
        with self._lock:  # as fedmsg: maybe the CA or CRL rotated; read them again (at most once a minute)
            if time.monotonic() - self._loaded_at >= RELOAD_INTERVAL:
                try:
                    self._store = self._load(invalidate=True)
                except CertificateSourceError as exc:
                    return f"{first}; and reloading the CA/CRL failed: {exc}"
            store = self._store
        try:
            X509StoreContext(store, certificate).verify_certificate()
            return None
        except X509StoreContextError as exc:
            return str(exc)

    def problem(self, message: Mapping[str, Any]) -> str | None:
        """None if fedmsg's x509_ng.validate would accept ``message``, else why not. Reads, never changes it."""
        for name in ("signature", "certificate"):
            if not isinstance(message.get(name), str):
                return f"x509: no {name!r} field"
        try:
            signature = base64.b64decode(message["signature"])
            pem = base64.b64decode(message["certificate"])
        except (binascii.Error, ValueError) as exc:
            return f"x509: the signature or certificate is not base64 ({exc})"
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            return f"x509: the certificate field is not a PEM X.509 certificate ({exc})"
        signer = common_name(certificate)
        who = f"certificate {signer!r} (serial {certificate.serial_number:x})"
        untrusted = self._untrusted(certificate)
        if untrusted is not None:
            return f"x509: {who} is not trusted by the CA {self.ca_location}: {untrusted}"
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            return f"x509: {who} has a {type(key).__name__} key; fedmsg signs with RSA"
        body = fedmsg.encoding.dumps(fedmsg.crypto.strip_credentials(dict(message))).encode("utf-8")
        try:
            key.verify(signature, body, padding.PKCS1v15(), hashes.SHA1())
        except InvalidSignature:
            return f"x509: bad signature: the message does not match what {who} signed (altered after signing?)"
        topic = message.get("topic")
        allowed = self.routing_policy.get(topic) if isinstance(topic, str) else None
        if allowed is not None and signer not in allowed:
            return f"x509: routing_policy does not let {signer!r} send {topic!r} (allowed: {', '.join(allowed)})"
        if allowed is None and self.nitpicky:
            return f"x509: routing_nitpicky is on and routing_policy has no entry for {topic!r}"
        return None
