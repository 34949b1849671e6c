"""The sigul backend's pure parts: client command lines, RPM batching, and the signing settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron.signing import SignerSettings, SigulCommands, SigulSigner, parse_signer_settings, signer_from_settings
from relengotron.signing.sigul import rpm_batches
from relengotron.tools.remote import SSHRunner

FULL = SigulCommands(
    client=("sigul",), config_file="/etc/sigul/client.conf", user="autopen", passphrase_file="/etc/sigul/bound"
)


def test_base_options_come_before_the_command() -> None:
    assert FULL.sign_data("fedora-24", "/tmp/x/repomd.xml", "/tmp/x/out", armor=True) == [
        "sigul", "--batch", "--config-file", "/etc/sigul/client.conf", "--user-name", "autopen",
        "--passphrase-file", "/etc/sigul/bound",
        "sign-data", "--armor", "--output", "/tmp/x/out", "--", "fedora-24", "/tmp/x/repomd.xml",
    ]  # fmt: skip


def test_each_operation_uses_the_sigul_syntax() -> None:
    plain = SigulCommands()
    assert plain.sign_rpms("fedora-24", ["/t/a.rpm", "/t/b.rpm"], "/t/out") == [
        "sigul", "--batch", "sign-rpms", "--output", "/t/out", "--v3-signature", "--", "fedora-24", "/t/a.rpm",
        "/t/b.rpm",
    ]  # fmt: skip
    assert SigulCommands(v3_signature=False).sign_rpms("k", ["/a.rpm"], "/o")[2:] == [
        "sign-rpms", "--output", "/o", "--", "k", "/a.rpm",
    ]  # fmt: skip
    commit = "ab" * 32
    assert plain.sign_ostree("fedora-24", commit, "/t/c.commit", "/t/c.commitmeta") == [
        "sigul", "--batch", "sign-ostree", "--output", "/t/c.commitmeta", "--", "fedora-24", commit, "/t/c.commit",
    ]  # fmt: skip
    assert plain.sign_text("k", "/t/CHECKSUM", "/t/out")[2:] == [
        "sign-text",
        "--output",
        "/t/out",
        "--",
        "k",
        "/t/CHECKSUM",
    ]
    assert plain.sign_data("k", "/t/summary", "/t/sig", armor=False)[2:] == [
        "sign-data", "--output", "/t/sig", "--", "k", "/t/summary",
    ]  # fmt: skip
    assert plain.get_public_key("k") == ["sigul", "--batch", "get-public-key", "--", "k"]
    with pytest.raises(ValueError, match="at least one RPM"):
        plain.sign_rpms("k", [], "/o")


def test_rpm_batches_are_bounded_and_have_distinct_names() -> None:
    paths = [Path(f"/a/{i}.rpm") for i in range(5)] + [Path("/b/0.rpm"), Path("/c/0.rpm")]
    batches = rpm_batches(paths, 3)
    assert sorted(p for b in batches for p in b) == sorted(paths)
    for batch in batches:
        assert len(batch) <= 3
        assert len({p.name for p in batch}) == len(batch)


def test_gpg_settings() -> None:
    assert parse_signer_settings({"backend": "gpg", "gnupghome": "/srv/gnupg"}) == SignerSettings(
        backend="gpg", gnupghome="/srv/gnupg"
    )


def test_sigul_settings_from_an_ssh_connection() -> None:
    settings = parse_signer_settings(
        {
            "backend": "sigul",
            "host": "bridge.example.org",
            "port": 2222,
            "login": "releng",
            "key_file": "/k",
            "host_key": "ssh-ed25519 AAAA",
            "sigul_keys": {"81b46521": "fedora-24"},
            "client": "/usr/bin/sigul -v",
            "passphrase": "secret",
        }
    )
    assert settings.username == "releng" and settings.port == 2222
    assert settings.client == ("/usr/bin/sigul", "-v")
    assert settings.sigul_key("81b46521") == "fedora-24"
    assert "secret" not in repr(settings)
    with pytest.raises(ValueError, match="no sigul key for key id fdb19c98"):
        settings.sigul_key("fdb19c98")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"backend": "hsm"}, "backend must be one of gpg, sigul"),
        ({"backend": "gpg"}, "gnupghome is required"),
        ({"backend": "gpg", "gnupghome": "/g", "color": 1}, "unknown field 'color'"),
        ({"backend": "sigul", "host": "h", "host_key": "k"}, "sigul_keys must map"),
        ({"backend": "sigul", "host": "h", "host_key": "k", "sigul_keys": {"XYZ": "f"}}, "'XYZ' is not an 8-digit"),
        ({"backend": "sigul", "host_key": "k", "sigul_keys": {"81b46521": "f"}}, "host is required"),
        ({"backend": "sigul", "host": "h", "sigul_keys": {"81b46521": "f"}}, "host_key is required"),
        ({"backend": "sigul", "host": "h", "host_key": "k", "port": "22", "sigul_keys": {"81b46521": "f"}}, "port"),
        ({"backend": "sigul", "host": 7, "host_key": "k", "sigul_keys": {"81b46521": "f"}}, "host must be a string"),
    ],
)
def test_bad_settings_name_the_field(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_signer_settings(data)


HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJDGyp3dRUWV+jQsO+08GnJ2Vh+KfRaYYUFahSGDNQg"


def test_signer_from_sigul_settings_connects_lazily() -> None:
    settings = parse_signer_settings(
        {
            "backend": "sigul",
            "host": "bridge.invalid",
            "host_key": HOST_KEY,
            "sigul_keys": {"81b46521": "fedora-24"},
            "user": "autopen",
            "passphrase": "secret",
        }
    )
    signer = signer_from_settings(settings, "81b46521")
    assert isinstance(signer, SigulSigner) and isinstance(signer.runner, SSHRunner)
    assert signer.name == "sigul:fedora-24@root@bridge.invalid:22"
    assert signer.key_id == "81b46521" and signer.commands.user == "autopen"
    assert signer.runner._client is None  # nothing was contacted while building it
