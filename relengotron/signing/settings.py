"""Which signer to build, from the signing connection's settings (in production an Airflow connection).

The release configuration says which key signs a release (its 8-hex-digit id); the connection says where
keys live. Parsing is pure (a mapping in, a frozen :class:`SignerSettings` out, errors naming the field);
:func:`signer_from_settings` builds the backend.

Local GPG::

    {"backend": "gpg", "gnupghome": "/srv/signing/gnupg"}

sigul on the signing bridge host (reached over SSH with a pinned host key)::

    {"backend": "sigul", "host": "sign-bridge.example.org", "port": 22, "username": "releng",
     "key_file": "/etc/releng/id_ed25519", "host_key": "ssh-ed25519 AAAA...",
     "sigul_keys": {"81b46521": "fedora-24"}, "config_file": "~/.sigul/client.conf",
     "user": "autosign", "passphrase": "...", "passphrase_file": null, "client": "sigul"}
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relengotron.names import KEY_ID
from relengotron.signing.base import Signer

BACKENDS = ("gpg", "sigul")


@dataclass(frozen=True)
class SignerSettings:
    backend: str  # gpg | sigul
    gnupghome: str | None = None
    host: str | None = None
    port: int = 22
    username: str = "root"
    key_file: str | None = None
    host_key: str = ""
    sigul_keys: dict[str, str] = field(default_factory=dict)  # key id → sigul key name
    client: tuple[str, ...] = ("sigul",)
    config_file: str | None = None
    user: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    passphrase_file: str | None = None
    v3_signature: bool = True

    def sigul_key(self, key_id: str) -> str:
        try:
            return self.sigul_keys[key_id]
        except KeyError:
            known = ", ".join(sorted(self.sigul_keys)) or "none"
            raise ValueError(f"signing settings: no sigul key for key id {key_id} (sigul_keys has {known})") from None


def parse_signer_settings(data: Mapping[str, Any]) -> SignerSettings:
    """Validate the settings mapping; a ValueError names the field."""
    known = {f for f in SignerSettings.__dataclass_fields__} | {"login"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"signing settings: unknown field {unknown[0]!r}")
    backend = data.get("backend")
    if backend not in BACKENDS:
        raise ValueError(f"signing settings: backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "gpg":
        gnupghome = _text(data, "gnupghome", required=True)
        return SignerSettings(backend="gpg", gnupghome=gnupghome)
    keys = data.get("sigul_keys") or {}
    if not isinstance(keys, Mapping) or not keys:
        raise ValueError("signing settings: sigul_keys must map key ids to sigul key names")
    for key_id, name in keys.items():
        if not isinstance(key_id, str) or not KEY_ID.match(key_id):
            raise ValueError(f"signing settings: sigul_keys: {key_id!r} is not an 8-digit lowercase hex key id")
        if not isinstance(name, str) or not name:
            raise ValueError(f"signing settings: sigul_keys.{key_id}: a sigul key name is required")
    port = data.get("port", 22)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError(f"signing settings: port must be a TCP port number, not {port!r}")
    client = data.get("client", "sigul")
    if not isinstance(client, str) or not client.strip():
        raise ValueError("signing settings: client must be the sigul client command")
    v3 = data.get("v3_signature", True)
    if not isinstance(v3, bool):
        raise ValueError("signing settings: v3_signature must be true or false")
    return SignerSettings(
        backend="sigul",
        host=_text(data, "host", required=True),
        port=port,
        username=_text(data, "username") or _text(data, "login") or "root",
        key_file=_text(data, "key_file"),
        host_key=_text(data, "host_key", required=True) or "",
        sigul_keys=dict(keys),
        client=tuple(shlex.split(client)),
        config_file=_text(data, "config_file"),
        user=_text(data, "user"),
        passphrase=_text(data, "passphrase"),
        passphrase_file=_text(data, "passphrase_file"),
        v3_signature=v3,
    )


def signer_from_settings(settings: SignerSettings, key_id: str) -> Signer:
    """The signer for ``key_id`` (the release's signing key). For sigul, the SSH connection opens on first use."""
    from relengotron.signing.local import LocalGpgSigner
    from relengotron.signing.sigul import SigulCommands, SigulSigner
    from relengotron.tools.remote import SSHRunner

    if settings.backend == "gpg":
        assert settings.gnupghome is not None
        return LocalGpgSigner(settings.gnupghome, key_id)
    assert settings.host is not None
    runner = SSHRunner(settings.host, settings.port, settings.username, settings.key_file, settings.host_key)
    commands = SigulCommands(
        client=settings.client,
        config_file=settings.config_file,
        user=settings.user,
        passphrase_file=settings.passphrase_file,
        v3_signature=settings.v3_signature,
    )
    return SigulSigner(runner, settings.sigul_key(key_id), key_id, commands=commands, passphrase=settings.passphrase)


def _text(data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"signing settings: {key} is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"signing settings: {key} must be a string, not {type(value).__name__}")
    return value
