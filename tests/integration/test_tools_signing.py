"""The gpg and rpmsign adapters on a tiny real RPM: generate, export, sign, verify, read the signer."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from relengotron.tools import gpg, rpmsign

pytestmark = pytest.mark.integration

SPEC = """\
Name: tiny
Version: 1.0
Release: 1
Summary: A tiny package to sign
License: MIT
BuildArch: noarch

%description
Tiny.

%install
mkdir -p %{buildroot}/usr/share/tiny
echo tiny > %{buildroot}/usr/share/tiny/README

%files
/usr/share/tiny/README
"""


@pytest.fixture(scope="module")
def tiny_rpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The built tiny RPMs (noarch and src), never signed; tests sign copies."""
    top = tmp_path_factory.mktemp("rpmbuild")
    spec = top / "tiny.spec"
    spec.write_text(SPEC)
    subprocess.run(
        ["rpmbuild", "-ba", "--quiet", "--define", f"_topdir {top}", "--define", f"_tmppath {top}", str(spec)],
        check=True,
        capture_output=True,
    )
    return {"noarch": top / "RPMS/noarch/tiny-1.0-1.noarch.rpm", "src": top / "SRPMS/tiny-1.0-1.src.rpm"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, gpg.GpgKey, Path]]:
    """Two signing keys, each in its own GNUPGHOME; the first one deep enough to need the short agent path."""
    base = tmp_path_factory.mktemp("keys")
    deep = base / ("d" * 90) / "gnupg"
    out = {}
    for name, home in (("release", deep), ("other", base / "other")):
        key = gpg.generate_key(home, f"{name} key", f"{name}@example.test")
        public = gpg.export_public_key(home, key.key_id, base / f"{name}.asc")
        out[name] = (home, key, public)
    return out


def copies(tiny_rpms: dict[str, Path], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(p, dest / p.name)) for p in tiny_rpms.values()]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_generate_key_is_idempotent_and_findable(keys) -> None:
    home, key, public = keys["release"]
    assert len(key.fingerprint) == 40 and key.fingerprint == key.fingerprint.upper()
    assert key.key_id == key.fingerprint[-8:].lower()
    assert key.uid == "release key <release@example.test>"
    assert gpg.generate_key(home, "release key", "release@example.test") == key
    assert gpg.secret_keys(home) == [key]
    assert gpg.find_key(home, key.key_id) == key
    assert gpg.find_key(home, key.fingerprint.lower()) == key
    assert gpg.find_key(home, key.uid) == key
    with pytest.raises(gpg.GpgError, match="no secret key"):
        gpg.find_key(home, keys["other"][1].key_id)
    # the exported key is the same key, as gpg itself reads it
    shown = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--show-keys", str(public)], capture_output=True, text=True, check=True
    ).stdout
    assert f"fpr:::::::::{key.fingerprint}:" in shown


def test_export_unknown_key_fails(keys, tmp_path: Path) -> None:
    home = keys["release"][0]
    with pytest.raises(gpg.GpgError, match="DEADBEEF"):
        gpg.export_public_key(home, "DEADBEEF", tmp_path / "x.asc")
    assert not (tmp_path / "x.asc").exists()


def test_sign_verify_and_key_id(tiny_rpms, keys, tmp_path: Path) -> None:
    home, key, public = keys["release"]
    files = copies(tiny_rpms, tmp_path / "rpms")
    assert rpmsign.signing_key_ids(files) == {f: "" for f in files}
    rpmsign.sign_rpms(files, home, key.key_id)
    assert rpmsign.signing_key_ids(files) == {f: key.key_id for f in files}
    assert rpmsign.signing_key_id(files[0]) == key.key_id
    assert rpmsign.verify_rpms(files, [public]) == {f: key.key_id for f in files}
    # and rpm itself agrees, with the key in a private database
    db = tmp_path / "db"
    db.mkdir()
    subprocess.run(["rpmkeys", "--dbpath", str(db), "--import", str(public)], check=True)
    checked = subprocess.run(["rpmkeys", "--dbpath", str(db), "-Kv", *map(str, files)], capture_output=True, text=True)
    assert checked.returncode == 0
    assert checked.stdout.count(f"key ID {key.key_id}: OK") == 2
    # the originals are untouched
    assert rpmsign.signing_key_ids(list(tiny_rpms.values())) == {p: "" for p in tiny_rpms.values()}


def test_signing_twice_is_a_no_op(tiny_rpms, keys, tmp_path: Path) -> None:
    home, key, _ = keys["release"]
    files = copies(tiny_rpms, tmp_path / "rpms")
    rpmsign.sign_rpms(files, home, key.fingerprint)
    before = {f: sha(f) for f in files}
    rpmsign.sign_rpms(files, home, key.key_id)
    assert {f: sha(f) for f in files} == before


def test_resigning_with_another_key_replaces_the_signature(tiny_rpms, keys, tmp_path: Path) -> None:
    files = copies(tiny_rpms, tmp_path / "rpms")
    rpmsign.sign_rpms(files, keys["release"][0], keys["release"][1].key_id)
    other_home, other, other_public = keys["other"]
    rpmsign.sign_rpms(files, other_home, other.key_id)
    assert rpmsign.verify_rpms(files, [other_public]) == {f: other.key_id for f in files}


def test_verify_with_wrong_key_names_the_file(tiny_rpms, keys, tmp_path: Path) -> None:
    home, key, _ = keys["release"]
    files = copies(tiny_rpms, tmp_path / "rpms")
    rpmsign.sign_rpms(files, home, key.key_id)
    with pytest.raises(rpmsign.RpmVerifyError) as info:
        rpmsign.verify_rpms(files, [keys["other"][2]])
    assert info.value.path == files[0]
    assert str(files[0]) in str(info.value)
    assert "NOKEY" in str(info.value)


def test_verify_unsigned_names_the_file(tiny_rpms, keys, tmp_path: Path) -> None:
    files = copies(tiny_rpms, tmp_path / "rpms")
    rpmsign.sign_rpms(files[:1], keys["release"][0], keys["release"][1].key_id)
    with pytest.raises(rpmsign.RpmVerifyError, match="not signed") as info:
        rpmsign.verify_rpms(files, [keys["release"][2]], dbpath=tmp_path / "db")
    assert info.value.path == files[1]


def test_sign_errors_name_the_file(tiny_rpms, keys, tmp_path: Path) -> None:
    home, key, _ = keys["release"]
    missing = tmp_path / "missing.rpm"
    with pytest.raises(rpmsign.RpmSignError, match="no such RPM file") as info:
        rpmsign.sign_rpms([missing], home, key.key_id)
    assert info.value.path == missing
    # a key the GNUPGHOME does not hold
    files = copies(tiny_rpms, tmp_path / "rpms")
    with pytest.raises(rpmsign.RpmSignError) as info:
        rpmsign.sign_rpms(files, home, keys["other"][1].key_id)
    assert info.value.path in files
    assert rpmsign.signing_key_ids(files) == {f: "" for f in files}
    # not an RPM at all
    bogus = tmp_path / "bogus.rpm"
    bogus.write_text("not an rpm")
    with pytest.raises(rpmsign.RpmSignError, match="rpm cannot read it") as info:
        rpmsign.signing_key_ids([files[0], bogus])
    assert info.value.path == bogus
