"""fedmsg's x509 signatures, with a PKI the test makes (relengotron_sandbox.pki: a CA, a CRL, ``<service>-<host>``
certificates in an ssldir) and messages signed by fedmsg's own ``fedmsg.crypto.sign``: a well-signed message is
stored; unsigned, tampered, foreign-CA, revoked and routing-policy-refused ones are dead letters saying which."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fedmsg.crypto
import fedmsg.crypto.x509_ng
import pytest
from cryptography import x509
from listener_corpus import TAG_TOPIC, good, listening_rule
from OpenSSL import crypto as openssl_crypto

from relengotron import fedmsg_x509
from relengotron.listener.inbox import Inbox
from relengotron.listener.ingest import Ingestor
from relengotron.listener.rules import RuleSet, load_rules
from relengotron.listener.validate import Envelope, Rejected, SignatureChecker, Validator
from relengotron.messaging import _with_msg_id
from relengotron_sandbox.pki import FedmsgCA

KOJI = "koji-koji01.phx2.fedoraproject.org"  # fedora-infra ansible's cert naming: <service>-<host>
KOJI_REVOKED = "koji-koji02.phx2.fedoraproject.org"
BODHI = "bodhi-bodhi01.phx2.fedoraproject.org"


@dataclass
class PKI:
    ca: FedmsgCA
    foreign: FedmsgCA  # another CA, issuing a certificate of the very same name

    def crypto(self, **extra: Any) -> dict[str, Any]:
        return {
            "crypto_validate_backends": ["x509"],
            "ca_cert_location": str(self.ca.ca_path),
            "crl_location": str(self.ca.crl_path),
            "routing_policy": {TAG_TOPIC: [KOJI, KOJI_REVOKED]},
            **extra,
        }


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    root = tmp_path_factory.mktemp("pki")
    ca = FedmsgCA(root / "ssl")
    ca.issue(KOJI)
    ca.issue(BODHI)
    ca.revoke(ca.issue(KOJI_REVOKED))
    foreign = FedmsgCA(root / "foreign", name="Someone Else's CA")
    foreign.issue(KOJI)
    fedmsg_x509.enable_signing()
    return PKI(ca, foreign)


def signed(message: dict[str, Any], ssldir: Path, certname: str) -> dict[str, Any]:
    """Signed as a fedmsg publisher signs (FedMsgContext.publish → fedmsg.crypto.sign with the x509 backend)."""
    config = {"crypto_backend": "x509", "ssldir": str(ssldir), "certname": certname}
    fedmsg.crypto.init(**config)
    return fedmsg.crypto.sign(copy.deepcopy(message), **config)


def frames(message: dict[str, Any]) -> list[bytes]:
    return [message["topic"].encode(), json.dumps(message).encode()]


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    rule = {
        "name": "x509-gate",
        "topics": ["*.buildsys.tag"],
        "match": {"tag": "rawhide-pending"},
        "dag_id": "rawhide_gating",
        "conf": {"release": "rawhide", "builds": ["{{ msg.name }}-{{ msg.version }}-{{ msg.release }}"]},
    }
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(json.dumps({"rules": [rule, listening_rule()]}))
    return load_rules(path)


def cases(pki: PKI) -> dict[str, tuple[dict[str, Any], str | None]]:
    """name → (message, the reason's telling part, None when it must be stored)."""
    ssl, foreign = pki.ca.ssldir, pki.foreign.ssldir
    tampered = signed(good("x509-tampered-1.0-1.fc26", i=2), ssl, KOJI)
    tampered["msg"]["tag"] = "f24-updates"
    return {
        "well signed": (signed(good("x509-good-1.0-1.fc26", i=1), ssl, KOJI), None),
        "unsigned": (good("x509-unsigned-1.0-1.fc26", i=3), "unsigned (signature validation is on)"),
        "tampered": (tampered, f"bad signature: the message does not match what certificate '{KOJI}'"),
        "foreign CA": (
            signed(good("x509-foreign-1.0-1.fc26", i=4), foreign, KOJI),
            f"certificate '{KOJI}' (serial ",
        ),
        "revoked": (signed(good("x509-revoked-1.0-1.fc26", i=5), ssl, KOJI_REVOKED), ": certificate revoked"),
        "routing policy": (
            signed(good("x509-policy-1.0-1.fc26", i=6), ssl, BODHI),
            f"routing_policy does not let '{BODHI}' send '{TAG_TOPIC}' (allowed: {KOJI}, {KOJI_REVOKED})",
        ),
    }


def test_each_case_stored_or_dead_lettered_with_its_reason(pki: PKI, rules: RuleSet, tmp_path: Path) -> None:
    validator = Validator(max_body_bytes=65536, signatures=SignatureChecker(pki.crypto()))
    inbox = Inbox(tmp_path / "inbox.sqlite")
    ingestor = Ingestor(inbox, rules, validator)
    all_cases = cases(pki)
    for name, (message, reason) in all_cases.items():
        outcome = ingestor.frames(frames(message))
        if reason is None:
            assert outcome.kind == "stored", (name, outcome)
        else:
            assert outcome.kind == "invalid" and reason in (outcome.reason or ""), (name, outcome)
    status = inbox.status()
    letters = {letter["msg_id"]: letter for letter in status["dead_letters"]}
    assert status["dead_letters_total"] == len(all_cases) - 1
    for name, (message, reason) in all_cases.items():
        if reason is None:
            assert message["msg_id"] not in letters
            continue
        letter = letters[message["msg_id"]]  # the dead letter names the message and the cause
        assert (letter["topic"], letter["kind"]) == (TAG_TOPIC, "invalid"), name
        assert reason in letter["reason"], (name, letter["reason"])
    foreign_reason = letters[all_cases["foreign CA"][0]["msg_id"]]["reason"]
    assert foreign_reason.endswith(f"not trusted by the CA {pki.ca.ca_path}: unable to get local issuer certificate")
    inbox.close()


def test_a_signed_message_replayed_from_datagrepper_passes(pki: PKI) -> None:
    validator = Validator(max_body_bytes=65536, signatures=SignatureChecker(pki.crypto()))
    unsigned = good("x509-served-1.0-1.fc26", i=7)
    unsigned["timestamp"] = int(unsigned["timestamp"])  # fedmsg's own (FedMsgContext.publish: int(time.time()))
    message = signed(unsigned, pki.ca.ssldir, KOJI)
    served = {**message, "source_name": "datanommer", "source_version": "0.6.5", "headers": None}
    served["timestamp"] = float(message["timestamp"])  # datagrepper serves it as a float
    checked = validator.envelope(served, from_datagrepper=True)
    assert isinstance(checked, Envelope) and checked.publisher.startswith("koji@")


def test_verdicts_agree_with_fedmsg_x509_ng(pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    """fedmsg's own x509_ng.validate, given back the pyOpenSSL CRL loader pyOpenSSL 24.3 removed (its store takes
    cryptography's CRL), judges every case as :class:`X509Validator` does."""
    for name in ("X509Store", "X509StoreContext", "X509StoreContextError", "X509StoreFlags", "load_certificate"):
        monkeypatch.setattr(fedmsg.crypto.x509_ng, name, getattr(openssl_crypto, name), raising=False)
    monkeypatch.setattr(fedmsg.crypto.x509_ng, "FILETYPE_PEM", openssl_crypto.FILETYPE_PEM, raising=False)
    monkeypatch.setattr(
        fedmsg.crypto.x509_ng, "load_crl", lambda _type, pem: x509.load_pem_x509_crl(pem.encode()), raising=False
    )
    config = pki.crypto()
    ours = fedmsg_x509.X509Validator(
        ca_cert_location=config["ca_cert_location"],
        crl_location=config["crl_location"],
        routing_policy=config["routing_policy"],
    )
    verdicts = {}
    for name, (message, _) in cases(pki).items():
        theirs = bool(fedmsg.crypto.x509_ng.validate(copy.deepcopy(message), **config))
        verdicts[name] = theirs
        assert theirs == (ours.problem(message) is None), (name, ours.problem(message))
    assert verdicts == {n: n == "well signed" for n in verdicts}
    nitpicky = fedmsg_x509.X509Validator(
        ca_cert_location=config["ca_cert_location"], crl_location=config["crl_location"], routing_nitpicky=True
    )
    message = cases(pki)["well signed"][0]
    assert not fedmsg.crypto.x509_ng.validate(
        copy.deepcopy(message), **{**config, "routing_policy": {}, "routing_nitpicky": True}
    )
    assert (
        nitpicky.problem(message) == f"x509: routing_nitpicky is on and routing_policy has no entry for '{TAG_TOPIC}'"
    )


def test_a_rotated_ca_is_read_again_when_a_certificate_fails(
    pki: PKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As fedmsg: the CA and CRL are cached, and read again when a certificate does not verify."""
    old = FedmsgCA(tmp_path / "old")
    checker = fedmsg_x509.X509Validator(ca_cert_location=str(old.ca_path), crl_location=str(old.crl_path))
    message = signed(good("x509-rotated-1.0-1.fc26", i=8), pki.ca.ssldir, KOJI)
    assert "unable to get local issuer certificate" in (checker.problem(message) or "")
    old.ca_path.write_bytes(pki.ca.ca_path.read_bytes())  # the CA rotated under the same location
    old.crl_path.write_bytes(pki.ca.crl_path.read_bytes())
    assert "unable to get local issuer certificate" in (checker.problem(message) or "")  # read at most once a minute
    monkeypatch.setattr(fedmsg_x509, "RELOAD_INTERVAL", 0.0)
    assert checker.problem(message) is None


def test_a_missing_ca_stops_the_checker_at_start_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"cannot load the fedmsg CA/CRL from {tmp_path}/nope.crt"):
        SignatureChecker({"crypto_validate_backends": ["x509"], "ca_cert_location": str(tmp_path / "nope.crt")})
    with pytest.raises(ValueError, match="'rot13' is not a fedmsg crypto backend"):
        SignatureChecker({"crypto_validate_backends": ["rot13"]})


def test_a_backend_the_config_does_not_accept_is_refused(pki: PKI) -> None:
    checker = SignatureChecker({**pki.crypto(), "crypto_validate_backends": ["x509"]})
    gpg_signed = {**good("x509-gpg-1.0-1.fc26"), "signature": "abc", "crypto": "gpg"}
    assert (
        checker.problem(gpg_signed) == "bad signature: signed with gpg, which crypto_validate_backends (x509) refuses"
    )
    garbage = {**signed(good("x509-garbage-1.0-1.fc26"), pki.ca.ssldir, KOJI), "certificate": "!!!"}
    problem = Validator(max_body_bytes=65536, signatures=checker).envelope(garbage)
    assert isinstance(problem, Rejected) and problem.reason.startswith("x509: the ")


def test_a_signed_message_given_its_id_on_the_other_bus_is_signed_again_and_validates(pki: PKI) -> None:
    """The sandbox's services publish one message on both buses under the AMQP id (FedmsgPublisher's
    ``msg_id``): fedmsg signs before its pre-fire hook, so the hook must sign the renamed envelope again."""
    validator = Validator(max_body_bytes=65536, signatures=SignatureChecker(pki.crypto()))
    config = {"crypto_backend": "x509", "ssldir": str(pki.ca.ssldir), "certname": KOJI}
    message = signed(good("x509-renamed-1.0-1.fc26", i=8), pki.ca.ssldir, KOJI)
    old_signature = message["signature"]
    _with_msg_id("2026-7b0c1d9e-5a45-4f7e-9d51-3f1c2a6a0b11", config)(message)
    assert message["msg_id"] == "2026-7b0c1d9e-5a45-4f7e-9d51-3f1c2a6a0b11"
    assert message["signature"] != old_signature
    checked = validator.envelope(message)
    assert isinstance(checked, Envelope) and checked.msg_id == message["msg_id"]
    unsigned = good("x509-renamed-unsigned-1.0-1.fc26", i=9)
    _with_msg_id("2026-0d6d1c1c-0a1e-4a5f-8f0e-6c1e2b3a4d5f", config)(unsigned)
    assert "signature" not in unsigned  # an unsigned message is not signed by the renaming
    assert isinstance(validator.envelope(unsigned), Rejected)
