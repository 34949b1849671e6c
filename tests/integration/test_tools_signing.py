"""The gpg and rpmsign adapters on a tiny real RPM: generate, export, sign, verify, read the signer."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from relengotron.ostree.repo import OSTreeRepo
from relengotron.signing.verify import Keyring
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


def test_show_key_reads_exactly_one_public_key(keys) -> None:
    _, key, public = keys["release"]
    assert gpg.show_key(public.read_text()) == key
    with pytest.raises(gpg.GpgError, match="exactly one public key, found 2"):
        gpg.show_key(public.read_bytes() + keys["other"][2].read_bytes())


def _agents(under: str) -> list[int]:
    """Live (not zombie) gpg-agent processes whose command line names a path under ``under``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "gpg-agent" in cmdline and under in cmdline and state != "Z":
            found.append(int(entry))
    return found


def test_concurrent_signers_and_a_key_generator_share_one_gnupghome(tiny_rpms, tmp_path: Path, monkeypatch) -> None:
    """4 threads x 3 rounds sign RPMs, clear-sign and ostree gpg-sign with one GNUPGHOME while a fifth thread
    adds keys to it: every operation succeeds and verifies, and no gpg-agent started here survives."""
    private_root = tempfile.mkdtemp(prefix="gt-", dir="/tmp")
    monkeypatch.setattr(gpg, "PRIVATE_ROOT", private_root)
    home = tmp_path / ("d" * 60) / "gnupg"  # deep: a socket path there would be too long
    key = gpg.generate_key(home, "shared key", "shared@example.test")
    keyring = Keyring(gpg.public_key(home, key.fingerprint).decode())
    public = gpg.export_public_key(home, key.fingerprint, tmp_path / "shared.asc")
    threads, rounds = 4, 3
    repos = [OSTreeRepo(tmp_path / f"repo{n}").init("archive") for n in range(threads)]

    def signer(n: int) -> list[tuple[Path, Path, str]]:
        done = []
        for r in range(rounds):
            work = tmp_path / f"w{n}" / f"r{r}"
            work.mkdir(parents=True)
            rpm = Path(shutil.copy(tiny_rpms["noarch"], work / "tiny.rpm"))
            rpmsign.sign_rpms([rpm], home, key.key_id)
            text = work / "CHECKSUM"
            text.write_text(f"SHA256 (thread {n} round {r}) = {'0' * 64}\n")
            signed = work / "CHECKSUM.asc"
            signed.write_bytes(gpg.clearsign(home, key.key_id, text))
            tree = work / "tree"
            tree.mkdir()
            (tree / "content").write_text(f"{n}-{r}")
            commit = repos[n].commit(trees=[f"dir={tree}"], subject=f"{n}-{r}")
            with gpg.private_home(home) as private:
                subprocess.run(
                    [
                        "ostree",
                        "gpg-sign",
                        f"--repo={repos[n].path}",
                        f"--gpg-homedir={private}",
                        commit,
                        key.fingerprint,
                    ],
                    check=True,
                    capture_output=True,
                )
            done.append((rpm, signed, commit))
        return done

    def generator() -> list[gpg.GpgKey]:
        return [gpg.generate_key(home, f"extra {i}", f"extra{i}@example.test") for i in range(2)]

    with ThreadPoolExecutor(max_workers=threads + 1) as pool:
        generated = pool.submit(generator)
        results = [pool.submit(signer, n) for n in range(threads)]
        outcomes = [future.result() for future in results]  # raises the first failure, naming it
        extra = generated.result()

    assert {k.uid for k in gpg.secret_keys(home)} == {key.uid, *(k.uid for k in extra)}
    for n, done in enumerate(outcomes):
        assert len(done) == rounds
        rpms = [rpm for rpm, _, _ in done]
        assert rpmsign.verify_rpms(rpms, [public]) == {rpm: key.key_id for rpm in rpms}
        for _, signed, commit in done:
            assert keyring.check_clearsigned(signed).good_by(key.fingerprint)
            assert repos[n].show(commit).signatures == (key.long_id.upper(),)
    deadline = time.monotonic() + 5
    while (_agents(private_root) or _agents(str(home))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _agents(private_root) == [] and _agents(str(home)) == []
    assert os.listdir(private_root) == []  # every private home was removed
    os.rmdir(private_root)
