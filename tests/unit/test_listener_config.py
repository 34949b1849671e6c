"""The listener's config file: the shipped example loads; every mistake names the file, the line and the key;
the Airflow password is never in the file and is read only when needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron.listener.config import load_config
from relengotron.yamlfile import FileError

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """\
bus:
  endpoints: [tcp://127.0.0.1:9940]
airflow:
  url: http://127.0.0.1:8080
  username: releng
  password_file: secret
inbox:
  path: state/inbox.sqlite
rules: rules.yaml
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "listener.yaml"
    path.write_text(text)
    return path


def test_the_shipped_example_loads() -> None:
    config = load_config(REPO / "config" / "listener.yaml")
    assert config.rules_path == REPO / "config" / "listener-rules.yaml"
    assert config.endpoints == ("tcp://hub.fedoraproject.org:9940",)
    assert (config.http_host, config.signatures, config.synchronous) == ("127.0.0.1", True, "FULL")
    assert config.crypto == {  # Fedora's fedmsg x509 settings (fedora-infra ansible roles/fedmsg/base ssl.py.j2)
        "crypto_validate_backends": ["x509"],
        "ca_cert_location": "https://fedoraproject.org/fedmsg/ca.crt",
        "crl_location": "https://fedoraproject.org/fedmsg/crl.pem",
        "routing_policy": {},
        "routing_nitpicky": False,
    }


def test_x509_settings_files_relative_to_the_config(tmp_path: Path) -> None:
    crypto = (
        "validation:\n  signatures: true\n  crypto:\n    crypto_validate_backends: [x509, gpg]\n"
        "    ca_cert_location: pki/ca.crt\n    crl_location: /etc/pki/fedmsg/crl.pem\n"
        "    routing_policy:\n      org.fedoraproject.prod.buildsys.tag: [koji-koji01.phx2.fedoraproject.org]\n"
        "    routing_nitpicky: true\n"
    )
    config = load_config(write(tmp_path, MINIMAL + crypto))
    assert config.crypto == {
        "crypto_validate_backends": ["x509", "gpg"],
        "ca_cert_location": str(tmp_path / "pki" / "ca.crt"),
        "crl_location": "/etc/pki/fedmsg/crl.pem",
        "routing_policy": {"org.fedoraproject.prod.buildsys.tag": ["koji-koji01.phx2.fedoraproject.org"]},
        "routing_nitpicky": True,
    }


def test_defaults_relative_paths_and_the_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.inbox_path == tmp_path / "state" / "inbox.sqlite"
    assert config.runtime_path == tmp_path / "state" / "inbox.sqlite.runtime.json"
    assert config.rules_path == tmp_path / "rules.yaml"
    assert (config.datagrepper_url, config.max_body_bytes, config.http_port) == (None, 1024 * 1024, 9910)
    assert (config.airflow.retry_initial, config.airflow.retry_max) == (1.0, 60.0)
    with pytest.raises(ValueError, match=r"password_file .*secret"):
        config.airflow.password()
    (tmp_path / "secret").write_text("hunter2\n")
    assert config.airflow.password() == "hunter2"

    from_env = load_config(write(tmp_path, MINIMAL.replace("password_file: secret", "password_env: LISTENER_PW")))
    monkeypatch.delenv("LISTENER_PW", raising=False)
    with pytest.raises(ValueError, match="set LISTENER_PW"):
        from_env.airflow.password()
    monkeypatch.setenv("LISTENER_PW", "s3cret")
    assert from_env.airflow.password() == "s3cret"


def test_endpoints_from_a_fedmsg_config_file(tmp_path: Path) -> None:
    (tmp_path / "fedmsg.py").write_text(
        "config = {'endpoints': {'relay_outbound': ['tcp://127.0.0.1:4001'], 'bodhi.app01': 'tcp://127.0.0.1:4002',"
        " 'relay_inbound': ['tcp://127.0.0.1:4000']}}\n"
    )
    text = MINIMAL.replace("  endpoints: [tcp://127.0.0.1:9940]", "  fedmsg_config: fedmsg.py")
    assert set(load_config(write(tmp_path, text)).endpoints) == {"tcp://127.0.0.1:4001", "tcp://127.0.0.1:4002"}


@pytest.mark.parametrize(
    ("change", "line", "key", "reason"),
    [
        (
            ("  endpoints: [tcp://127.0.0.1:9940]", "  endpoints: [127.0.0.1:9940]"),
            2,
            "bus.endpoints[0]",
            "not a ZeroMQ",
        ),
        (("  endpoints: [tcp://127.0.0.1:9940]", "  endpoints: []"), 2, "bus", "needs endpoints"),
        (("  url: http://127.0.0.1:8080", "  url: 127.0.0.1:8080"), 4, "airflow.url", "not an http(s) URL"),
        (("  password_file: secret", "  password: hunter2"), 6, "airflow.password", "not written here"),
        (("rules: rules.yaml", "rules: rules.yaml\nhttp: {port: 70000}"), 10, "http.port", "TCP port"),
        (("rules: rules.yaml", "rules: rules.yaml\ncolour: red"), 10, "colour", "unknown key"),
        (
            ("rules: rules.yaml", "rules: rules.yaml\nvalidation: {signatures: true}"),
            10,
            "validation.signatures",
            "crypto",
        ),
        (
            ("rules: rules.yaml", "rules: rules.yaml\nvalidation: {crypto: {key: x}}"),
            10,
            "validation.crypto.key",
            "unknown",
        ),
        (
            ("rules: rules.yaml", "rules: rules.yaml\nvalidation: {crypto: {crl_cache: /var/run/fedmsg/crl.pem}}"),
            10,
            "validation.crypto.crl_cache",
            "fedmsg 1.1.7 ignores it",
        ),
        (
            (
                "rules: rules.yaml",
                "rules: rules.yaml\nvalidation: {crypto: {ca_cert_location: 'http://10.5.126.88/ca'}}",
            ),
            10,
            "validation.crypto.ca_cert_location",
            "fetches only https:// URLs",
        ),
        (
            ("rules: rules.yaml", "rules: rules.yaml\nvalidation: {crypto: {crypto_validate_backends: [x509, rot13]}}"),
            10,
            "validation.crypto.crypto_validate_backends[1]",
            "'rot13' is not a fedmsg backend",
        ),
        (
            ("rules: rules.yaml", "rules: rules.yaml\nvalidation: {crypto: {routing_policy: {bodhi: [x]}}}"),
            10,
            "validation.crypto.routing_policy.bodhi",
            "not a dotted topic",
        ),
        (
            ("rules: rules.yaml", "rules: rules.yaml\nvalidation: {max_body_bytes: 1}"),
            10,
            "validation.max_body_bytes",
            "between",
        ),
        (("  path: state/inbox.sqlite", "  path: i.sqlite\n  synchronous: EXTREME"), 9, "inbox.synchronous", "one of"),
        (
            ("  password_file: secret", "  password_file: s\n  retry: {initial_seconds: 5, max_seconds: 1}"),
            7,
            "airflow.retry.max_seconds",
            "less than",
        ),
        (("rules: rules.yaml", "rules: rules.yaml\ndatagrepper: {url: ftp://x}"), 10, "datagrepper.url", "http(s)"),
        (("rules: rules.yaml\n", ""), None, None, "missing required key 'rules'"),
    ],
)
def test_mistakes_name_the_file_line_and_key(tmp_path: Path, change, line, key, reason) -> None:
    old, new = change
    assert old in MINIMAL
    path = write(tmp_path, MINIMAL.replace(old, new))
    with pytest.raises(FileError) as caught:
        load_config(path)
    assert (caught.value.path, caught.value.key) == (str(path), key), str(caught.value)
    if line is not None:
        assert caught.value.line == line, str(caught.value)
    assert reason in caught.value.reason


# --------------------------------------------------------------------------- bus.transport: amqp

AMQP_BASE = """\
airflow: {url: 'http://127.0.0.1:8080', username: admin, password_file: pw}
inbox: {path: inbox.sqlite}
rules: rules.yaml
"""


def _amqp_config(tmp_path, bus: str):
    from relengotron.listener.config import load_config

    path = tmp_path / "listener.yaml"
    path.write_text(bus + AMQP_BASE)
    return load_config(path)


def test_amqp_transport_loads_its_settings(tmp_path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    config = _amqp_config(
        tmp_path,
        "bus:\n  transport: amqp\n  amqp:\n    url: amqps://rabbitmq.fedoraproject.org/%2Fpubsub\n"
        "    queue: relengotron\n    tls: {ca_cert: ca.pem, certfile: cert.pem, keyfile: key.pem}\n"
        "    prefetch: 5\n    heartbeat_seconds: 3\n",
    )
    assert config.transport == "amqp" and config.endpoints == ()
    assert config.amqp is not None
    assert config.amqp.queue == "relengotron" and config.amqp.prefetch == 5 and config.amqp.heartbeat == 3
    assert config.amqp.certfile == tmp_path / "cert.pem" and config.amqp.routing_keys == ()
    assert config.amqp.endpoint == "amqps://rabbitmq.fedoraproject.org:5671/%2Fpubsub"


def test_amqp_transport_errors_name_the_key(tmp_path) -> None:
    import pytest

    from relengotron.yamlfile import FileError

    cases = [
        ("url: amqp://u:secret@h/%2F\n    queue: q\n", "bus.amqp.url", "passwords are not written here"),
        ("url: http://h/\n    queue: q\n", "bus.amqp.url", "not an amqp:// or amqps:// URL"),
        ("url: amqps://fedora:@h/%2Fpublic_pubsub\n    queue: mine\n", "bus.amqp.queue", "UUID queue names"),
        ("url: amqp://h/\n    queue: q\n    routing_keys: ['a..b']\n", "bus.amqp.routing_keys", "topic pattern"),
        ("url: amqp://h/\n    queue: q\n    tls: {ca_cert: nowhere.pem}\n", "bus.amqp.tls.ca_cert", "no such file"),
        ("url: amqp://h/\n    queue: q\n    heartbeat_seconds: 0\n", "bus.amqp.heartbeat_seconds", "between"),
    ]
    for block, key, message in cases:
        with pytest.raises(FileError) as caught:
            _amqp_config(tmp_path, f"bus:\n  transport: amqp\n  amqp:\n    {block}")
        assert key in str(caught.value) and message in str(caught.value), (block, str(caught.value))
    with pytest.raises(FileError, match="fedmsg setting"):
        _amqp_config(
            tmp_path, "bus:\n  transport: amqp\n  endpoints: ['tcp://h:1']\n  amqp: {url: 'amqp://h/', queue: q}\n"
        )
    with pytest.raises(FileError, match="fedmsg signatures do not exist on AMQP"):
        _amqp_config(
            tmp_path,
            "bus:\n  transport: amqp\n  amqp: {url: 'amqp://h/', queue: q}\n"
            "validation: {signatures: true, crypto: {crypto_validate_backends: [gpg]}}\n",
        )


def test_routing_keys_cover_the_rules_topics() -> None:
    from fnmatch import fnmatchcase

    from relengotron.listener.amqp_bus import routing_keys

    globs = [
        "*.buildsys.tag",
        "org.fedoraproject.*.bodhi.update.request.*",
        "org.fedoraproject.prod.pungi.compose.status.change",
    ]
    keys = routing_keys(globs)
    assert keys == [
        "#.buildsys.tag",
        "org.fedoraproject.#.bodhi.update.request.#",
        "org.fedoraproject.prod.pungi.compose.status.change",
    ]
    assert routing_keys(["*"]) == ["#"]
    # every topic a glob matches is matched by its key (AMQP: # is zero or more words, * exactly one)
    import re

    def amqp_match(key: str, topic: str) -> bool:
        pattern = "^" + re.escape(key).replace(r"\#", ".*").replace(r"\*", "[^.]+") + "$"
        return re.match(pattern, topic) is not None

    for topic in ["org.fedoraproject.prod.buildsys.tag", "org.fedoraproject.stg.bodhi.update.request.stable"]:
        assert any(fnmatchcase(topic, g) for g in globs)
        assert any(amqp_match(k, topic) for k in keys)
