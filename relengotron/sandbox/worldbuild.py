"""Build a world: real tiny noarch RPMs with rpmbuild, signed with a key generated at build time.

CONTRACT (implemented by the world-builder work): ``build_world(world, cache_dir)`` returns a
:class:`BuiltWorld`, building it only when ``cache_dir/<world.digest>`` holds no complete build.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BuiltRPM:
    build: str  # NVR of the build this RPM belongs to
    name: str
    version: str
    release: str
    epoch: int | None
    arch: str  # "noarch" or "src"
    filename: str  # e.g. bash-4.3.42-5.fc24.noarch.rpm
    relpath: str  # relative to topdir, Koji layout: packages/<n>/<v>/<r>/<arch>/<filename>
    size: int
    payloadhash: str  # hex SIGMD5 of the header+payload, as Koji records it
    buildtime: int
    requires: tuple[str, ...]
    provides: tuple[str, ...]
    signed_relpath: str | None  # packages/<n>/<v>/<r>/data/signed/<key_id>/<arch>/<filename>, if signed

    @property
    def nvra(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}"


@dataclass(frozen=True)
class BuiltWorld:
    root: Path  # cache_dir/<digest>
    digest: str  # the world file's digest
    topdir: Path  # Koji topdir layout: packages/... (unsigned RPMs, signed copies, sigcache)
    gnupghome: Path  # holds the world's secret signing key (no passphrase)
    key_id: str  # 8 lowercase hex digits: Koji's sigkey
    fingerprint: str  # 40 hex digits
    public_key: Path  # ASCII-armored public key
    rpms: dict[str, tuple[BuiltRPM, ...]]  # build NVR → its RPMs (src first)
