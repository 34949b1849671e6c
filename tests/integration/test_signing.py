"""Both signing backends on real content: RPMs from the built world, an OSTree repo, CHECKSUM files, repomd.

The sigul backend runs through a real sshd on 127.0.0.1 whose ``sigul`` is a stand-in doing the work with
gpg/rpmsign/ostree, so every signature checked here is real: rpmkeys, gpgv and ``ostree pull`` with GPG
verification of commits and summary.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd import SshServer, sshd
from sshd_signing import install_sigul_standin

from relengotron.ostree import gvariant_binary, publish
from relengotron.ostree.repo import OSTreeRepo
from relengotron.signing import (
    LocalGpgSigner,
    SignatureConflict,
    Signer,
    SigningError,
    SigulCommands,
    SigulSigner,
)
from relengotron.tools import gpg, rpmsign
from relengotron.tools.remote import RemoteError, SSHRunner

pytestmark = pytest.mark.integration

PASSPHRASE = "correct horse"
REF = "fedora/24/x86_64/atomic-host"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, gpg.GpgKey]]:
    base = tmp_path_factory.mktemp("sk")
    out = {}
    for name in ("release", "other"):
        home = base / name
        out[name] = (home, gpg.generate_key(home, f"{name} key", f"{name}@example.test"))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """The signing bridge host: a real sshd on 127.0.0.1 whose sessions find the stand-in ``sigul`` on PATH."""
    with sshd(tmp_path_factory.mktemp("sshd")) as running:
        yield running


@pytest.fixture(scope="module")
def standin(server: SshServer, tmp_path_factory: pytest.TempPathFactory, keys) -> tuple[Path, Path, Path]:
    home, key = keys["release"]
    conf = tmp_path_factory.mktemp("sigul")
    return install_sigul_standin(server.bin, conf, home, {"fedora-24": key.fingerprint}, PASSPHRASE)


@pytest.fixture(scope="module")
def runner(server: SshServer) -> Iterator[SSHRunner]:
    with SSHRunner(server.host, server.port, server.user, server.client_key, server.host_key) as ssh:
        yield ssh


def make_sigul(runner: SSHRunner, standin, key_id: str, *, passphrase: str = PASSPHRASE) -> SigulSigner:
    _, config, _ = standin
    commands = SigulCommands(config_file=str(config), user="autosign")  # runs "sigul" from the session's PATH
    return SigulSigner(runner, "fedora-24", key_id, commands=commands, passphrase=passphrase)


@pytest.fixture(params=["gpg", "sigul"])
def signer(request, keys, runner, standin) -> Signer:
    home, key = keys["release"]
    if request.param == "gpg":
        return LocalGpgSigner(home, key.key_id)
    return make_sigul(runner, standin, key.key_id)


@pytest.fixture
def other_signer(keys) -> LocalGpgSigner:
    home, key = keys["other"]
    return LocalGpgSigner(home, key.key_id)


def unsigned_rpms(built_world, dest: Path, count: int = 3) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    rpms = [rpm for rpms in built_world.rpms.values() for rpm in rpms if rpm.arch == "noarch"][:count]
    return [Path(shutil.copy(built_world.topdir / rpm.relpath, dest / rpm.filename)) for rpm in rpms]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def calls(standin) -> list[str]:
    log = standin[2]
    return log.read_text().splitlines() if log.exists() else []


def make_repo(path: Path, ref: str = REF, content: str = "one") -> str:
    subprocess.run(["ostree", "init", f"--repo={path}", "--mode=archive"], check=True)
    return commit(path, ref, content)


def commit(repo: Path, ref: str, content: str) -> str:
    tree = repo.parent / f"tree-{content}"
    (tree / "usr").mkdir(parents=True, exist_ok=True)
    (tree / "usr" / "content").write_text(content)
    subprocess.run(
        ["ostree", "commit", f"--repo={repo}", "-b", ref, f"--tree=dir={tree}", "-s", content],
        check=True,
        capture_output=True,
    )
    head = OSTreeRepo(repo).rev_parse(ref)
    assert head is not None
    return head


def pull_verified(repo: Path, public_key: Path, client: Path, ref: str = REF) -> subprocess.CompletedProcess:
    """``ostree pull`` from ``repo`` over file:// with commit and summary GPG verification."""
    subprocess.run(["ostree", "init", f"--repo={client}", "--mode=archive"], check=True)
    subprocess.run(
        [
            "ostree",
            "remote",
            "add",
            f"--repo={client}",
            "--set=gpg-verify=true",
            "--set=gpg-verify-summary=true",
            "origin",
            f"file://{repo}",
        ],
        check=True,
    )
    subprocess.run(["ostree", "remote", "gpg-import", f"--repo={client}", "-k", str(public_key), "origin"], check=True)
    return subprocess.run(["ostree", "pull", f"--repo={client}", "origin", ref], capture_output=True, text=True)


def test_public_key_is_the_configured_key(signer: Signer, keys, tmp_path: Path) -> None:
    _, key = keys["release"]
    assert signer.fingerprint == key.fingerprint
    dest = signer.export_public_key(tmp_path / "RPM-GPG-KEY-fedora-24")
    first = dest.read_bytes()
    assert b"BEGIN PGP PUBLIC KEY BLOCK" in first
    signer.export_public_key(dest)
    assert dest.read_bytes() == first


def test_sign_rpms_then_rpmkeys_verifies_and_a_rerun_changes_nothing(
    signer: Signer, built_world, tmp_path: Path, standin
) -> None:
    rpms = unsigned_rpms(built_world, tmp_path / "rpms")
    assert all(not rpmsign.signing_key_id(p) for p in rpms)
    results = signer.sign_rpms(rpms)
    assert [r.action for r in results] == ["signed"] * len(rpms)
    key_file = signer.export_public_key(tmp_path / "key.asc")
    assert set(rpmsign.verify_rpms(rpms, [key_file]).values()) == {signer.key_id}
    before = {p: sha(p) for p in rpms}
    log_before = calls(standin)
    again = signer.sign_rpms(rpms)
    assert [r.action for r in again] == ["already-signed"] * len(rpms)
    assert {p: sha(p) for p in rpms} == before
    assert calls(standin) == log_before  # nothing was sent to sigul the second time


def test_rpm_signed_by_another_key_is_refused_before_anything_is_signed(
    signer: Signer, other_signer: LocalGpgSigner, built_world, tmp_path: Path
) -> None:
    unsigned, foreign = unsigned_rpms(built_world, tmp_path / "rpms", 2)
    other_signer.sign_rpms([foreign])
    foreign_sha = sha(foreign)
    with pytest.raises(SignatureConflict) as info:
        signer.sign_rpms([unsigned, foreign])
    message = str(info.value)
    assert str(foreign) in message and other_signer.key_id in message and signer.key_id in message
    assert sha(foreign) == foreign_sha
    assert rpmsign.signing_key_id(unsigned) == ""  # the batch was refused as a whole


def test_half_signed_batch_is_finished_by_the_next_run(signer: Signer, built_world, tmp_path: Path) -> None:
    rpms = unsigned_rpms(built_world, tmp_path / "rpms")
    signer.sign_rpms(rpms[:1])  # a run that stopped after the first RPM
    results = signer.sign_rpms(rpms)
    assert [r.action for r in results] == ["already-signed", "signed", "signed"]


def test_ostree_commit_and_summary_signatures_verify_on_pull(signer: Signer, tmp_path: Path, standin) -> None:
    repo = tmp_path / "repo"
    head = make_repo(repo)
    assert signer.sign_ostree_commit(repo, REF).action == "signed"
    assert signer.sign_ostree_summary(repo).action == "signed"
    key = signer.export_public_key(tmp_path / "key.asc")
    pulled = pull_verified(repo, key, tmp_path / "client")
    assert pulled.returncode == 0, pulled.stderr
    assert OSTreeRepo(tmp_path / "client").rev_parse(f"origin:{REF}") == head

    meta = OSTreeRepo(repo).commitmeta_path(head).read_bytes()
    summary = (repo / "summary").read_bytes()
    log_before = calls(standin)
    assert signer.sign_ostree_commit(repo, head).action == "already-signed"
    assert signer.sign_ostree_summary(repo).action == "already-signed"
    assert OSTreeRepo(repo).commitmeta_path(head).read_bytes() == meta
    assert (repo / "summary").read_bytes() == summary
    assert calls(standin) == log_before


def test_unsigned_summary_fails_verified_pull_and_stale_summary_is_regenerated(signer: Signer, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = make_repo(repo)
    signer.sign_ostree_commit(repo, REF)
    subprocess.run(["ostree", "summary", "-u", f"--repo={repo}"], check=True)
    key = signer.export_public_key(tmp_path / "key.asc")
    refused = pull_verified(repo, key, tmp_path / "c1")
    assert refused.returncode != 0  # the check below is meaningful: an unsigned summary is refused
    signer.sign_ostree_summary(repo)
    second = commit(repo, "fedora/24/x86_64/testing/atomic-host", "two")
    assert not OSTreeRepo(repo).summary_current()
    assert signer.sign_ostree_summary(repo).action == "signed"
    assert (
        OSTreeRepo(repo).summary().refs
        == OSTreeRepo(repo).refs()
        == {REF: first, "fedora/24/x86_64/testing/atomic-host": second}
    )
    signer.sign_ostree_commit(repo, second)
    pulled = pull_verified(repo, key, tmp_path / "c2", "fedora/24/x86_64/testing/atomic-host")
    assert pulled.returncode == 0, pulled.stderr

    third = commit(repo, REF, "three")
    signer.sign_ostree_commit(repo, third)
    assert signer.sign_ostree_summary(repo).action == "signed"
    subprocess.run(["ostree", "static-delta", "generate", f"--repo={repo}", REF], check=True, capture_output=True)
    assert not OSTreeRepo(repo).summary_current()  # a new delta makes the summary stale too
    assert signer.sign_ostree_summary(repo).action == "signed"
    assert OSTreeRepo(repo).summary().deltas == OSTreeRepo(repo).static_deltas() != frozenset()
    assert signer.sign_ostree_summary(repo).action == "already-signed"


def test_commit_signed_by_another_key_keeps_that_signature(
    signer: Signer, other_signer: LocalGpgSigner, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    head = make_repo(repo)
    other_signer.sign_ostree_commit(repo, head)
    assert signer.sign_ostree_commit(repo, head).action == "signed"
    signatures = gvariant_binary.gpg_signatures(OSTreeRepo(repo).commitmeta_path(head).read_bytes())
    assert len(signatures) == 2
    commit_file = OSTreeRepo(repo).commit_path(head)
    assert other_signer._any_good(signatures, commit_file) and signer._any_good(signatures, commit_file)


def test_image_checksum_is_clearsigned_and_verifies(
    signer: Signer, other_signer: LocalGpgSigner, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "Fedora-Atomic-24.x86_64.iso").write_bytes(b"iso" * 1000)
    (images / "Fedora-Cloud-Base-24.x86_64.raw.xz").write_bytes(b"raw" * 500)
    names = sorted(p.name for p in images.iterdir())
    result = signer.sign_images(images, names, "Fedora-24-x86_64-CHECKSUM")
    assert result.action == "signed"
    checksum = images / "Fedora-24-x86_64-CHECKSUM"
    text = checksum.read_text()
    assert text.startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    digest = hashlib.sha256((images / names[0]).read_bytes()).hexdigest()
    assert f"SHA256 ({names[0]}) = {digest}" in text and f"# {names[1]}: 1500 bytes" in text
    empty = tmp_path / "verify"
    empty.mkdir(mode=0o700)
    key = signer.export_public_key(tmp_path / "key.asc")
    with gpg.private_home(empty) as home:  # gpg itself checks it; the agent --import starts is stopped after
        subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--import", str(key)], check=True, capture_output=True
        )
        verified = subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--verify", str(checksum)], capture_output=True
        )
    assert verified.returncode == 0, verified.stderr

    assert signer.sign_images(images, names, checksum.name).action == "already-signed"
    assert checksum.read_text() == text

    checksum.write_text(text.replace(digest, "0" * 64))
    with pytest.raises(SigningError, match="does not verify"):
        signer.clearsign_checksum(checksum)

    foreign = images / "OTHER-CHECKSUM"
    foreign.write_text(f"SHA256 ({names[0]}) = {digest}\n")
    other_signer.clearsign_checksum(foreign)
    with pytest.raises(SignatureConflict, match=other_signer.key_id):
        signer.clearsign_checksum(foreign)


def test_repomd_asc_verifies_and_is_renewed_when_repomd_changes(signer: Signer, built_world, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    rpms = unsigned_rpms(built_world, repo, 2)
    subprocess.run(["createrepo_c", "--quiet", str(repo)], check=True)
    asc = repo / "repodata" / "repomd.xml.asc"
    assert signer.sign_repomd(repo).action == "signed"
    assert asc.read_text().startswith("-----BEGIN PGP SIGNATURE-----")
    assert signer.keyring.check_detached(asc.read_bytes(), repo / "repodata" / "repomd.xml").good_by(signer.fingerprint)
    assert signer.sign_repomd(repo).action == "already-signed"

    rpms[0].unlink()
    subprocess.run(["createrepo_c", "--quiet", "--update", str(repo)], check=True)
    assert signer.sign_repomd(repo).action == "signed"
    assert signer.keyring.check_detached(asc.read_bytes(), repo / "repodata" / "repomd.xml").good_by(signer.fingerprint)


def test_sigul_wrong_passphrase_is_a_clear_error(runner, standin, keys, tmp_path: Path) -> None:
    _, key = keys["release"]
    sigul = make_sigul(runner, standin, key.key_id, passphrase="wrong")
    with pytest.raises(SigningError, match="Authentication failed") as info:
        sigul.public_key()
    assert runner.name in str(info.value)


def test_sigul_key_that_is_not_the_configured_key_id(runner, standin, keys, built_world, tmp_path: Path) -> None:
    _, other = keys["other"]
    sigul = make_sigul(runner, standin, other.key_id)
    (rpm,) = unsigned_rpms(built_world, tmp_path, 1)
    with pytest.raises(SigningError, match=f"not the configured key {other.key_id}"):
        sigul.sign_rpms([rpm])
    assert rpmsign.signing_key_id(rpm) == ""


def test_ssh_runner_refuses_a_host_with_another_key(server: SshServer, tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    wrong = " ".join((tmp_path / "k.pub").read_text().split()[:2])
    with (
        SSHRunner(server.host, server.port, server.user, server.client_key, wrong) as ssh,
        pytest.raises(RemoteError, match="does not match the pinned host key"),
    ):
        ssh.run(["true"])


def test_ssh_runner_runs_argv_with_input_and_moves_files(runner: SSHRunner, tmp_path: Path) -> None:
    status, out, err = runner.run(["sh", "-c", 'cat; echo "$1" >&2; exit 3', "sh", "it's quoted"], input=b"in")
    assert (status, out, err) == (3, b"in", b"it's quoted\n")
    source = tmp_path / "a"
    source.write_bytes(b"payload")
    runner.put(source, str(tmp_path / "b"))
    runner.get(str(tmp_path / "b"), tmp_path / "c")
    assert (tmp_path / "c").read_bytes() == b"payload"


def test_the_ostree_publication_signs_through_either_backend(signer: Signer, keys, tmp_path: Path) -> None:
    """relengotron.ostree signs with the release-signing interface itself: commit, summary, idempotently."""
    repo = OSTreeRepo(tmp_path / "repo")
    head = make_repo(repo.path)
    signer.check()
    assert not signer.commit_signed(repo.path, head) and not signer.summary_signed(repo.path)
    assert publish.finish(repo, REF, signer=signer, static_deltas=False) == ("sign", "summary")
    assert signer.commit_signed(repo.path, head) and signer.summary_signed(repo.path)
    assert publish.finish(repo, REF, signer=signer, static_deltas=False) == ()
    assert len(gvariant_binary.gpg_signatures(repo.commitmeta_path(head).read_bytes())) == 1
    assert repo.show(head).signatures == (keys["release"][1].long_id.upper(),)
    pulled = pull_verified(repo.path, signer.export_public_key(tmp_path / "key.asc"), tmp_path / "client")
    assert pulled.returncode == 0, pulled.stderr
