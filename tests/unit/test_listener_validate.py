"""Bad input never crashes the listener: the hostile corpus (tests/listener_corpus.py) judged without servers —
each case is refused by validation or by the rules with its reason; fedmsg's gpg signatures are checked (x509:
test_listener_x509.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from listener_corpus import Signer, corpus, good, listening_rule, signer, unknown_topics

from relengotron.listener.ingest import view
from relengotron.listener.rules import RuleSet, load_rules
from relengotron.listener.validate import Envelope, Rejected, SignatureChecker, Validator

REPO = Path(__file__).resolve().parents[2]
GPG = {"crypto_validate_backends": ["gpg"]}  # fedmsg's default is x509 (tests/unit/test_listener_x509.py)


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[Signer, Signer]]:
    with signer("Relay") as trusted, signer("Stranger") as stranger:
        yield trusted, stranger


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The shipped schemas, and the corpus's rule: rawhide-pending builds named s5-*, not tagged by 'evil'."""
    shipped = yaml.safe_load((REPO / "config" / "listener-rules.yaml").read_text())
    rule = {
        "name": "s5-gate",
        "topics": ["*.buildsys.tag"],
        "match": {"tag": "rawhide-pending", "name": "s5-*"},
        "when": "msg.user != 'evil'",
        "dag_id": "rawhide_gating",
        "conf": {"release": "rawhide", "builds": ["{{ msg.name }}-{{ msg.version }}-{{ msg.release }}"]},
    }
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump({"schemas": shipped["schemas"], "rules": [rule, listening_rule()]}))
    return load_rules(path)


def test_every_hostile_case_is_refused_with_its_reason(keys, rules: RuleSet) -> None:
    trusted, stranger = keys
    validator = Validator(max_body_bytes=65536, signatures=SignatureChecker(GPG | {"gpg_home": str(trusted.home)}))
    cases = corpus(trusted, stranger)
    assert len(cases) >= 50
    refused_by_airflow = []
    for case in cases:
        checked = validator.frames(case.frames)
        if isinstance(checked, Rejected):
            assert case.reason in checked.reason, (case.name, checked.reason)
            if case.msg_id:
                assert checked.msg_id == case.msg_id
            assert len(checked.raw) <= 64 * 1024 and checked.dedupe
            continue
        routing = rules.route(view(checked))
        if routing.problems:
            assert any(case.reason in p for p in routing.problems), (case.name, routing.problems)
        else:  # well-formed and routed: only the DAG's Params refuse these (Airflow answers 400)
            assert case.reason == "HTTP 400", case.name
            refused_by_airflow.append(routing.routes[0].conf["builds"][0])
    assert sorted(refused_by_airflow) == ["s5-a/b-1-1.fc26", "s5-sp-1 0-1.fc26"]


def test_signed_good_messages_pass_and_unknown_topics_are_only_unrouted(keys, rules: RuleSet) -> None:
    trusted, _ = keys
    validator = Validator(max_body_bytes=65536, signatures=SignatureChecker(GPG | {"gpg_home": str(trusted.home)}))
    message = trusted.sign(good("s5-good-1.0-1.fc26", i=3, username="koji"))
    checked = validator.envelope(message)
    assert isinstance(checked, Envelope) and (checked.i, checked.publisher) == (3, "koji")
    (route,) = rules.route(view(checked)).routes
    assert route.conf == {"release": "rawhide", "builds": ["s5-good-1.0-1.fc26"]}
    # as datagrepper serves it (with its own keys added, the timestamp a float)
    served = {**message, "source_name": "datanommer", "source_version": "0.6.5", "headers": None}
    assert isinstance(validator.envelope(served, from_datagrepper=True), Envelope)
    for other in unknown_topics(trusted, 2):
        assert rules.route(view(validator.envelope(other))).unrouted


def test_without_signature_validation_unsigned_messages_are_accepted() -> None:
    validator = Validator(max_body_bytes=4096)
    message = good("a-1-1.fc26")
    assert isinstance(validator.envelope(message), Envelope)
    certified = {**message, "certificate": "LS0tLS1CRUdJTi...", "signature": "abc", "crypto": "x509"}
    assert validator.envelope(certified).publisher.startswith("koji@")
