"""Content checks: the candidate, opened with stock tools, holds exactly the builds of its manifest.

``compose.image.content`` and ``compose.ostree.content`` are this project's proposal (Fedora's test systems had no
test case comparing an artifact's packages with what was meant to go in; openQA and the cloud tests booted it):

- image: the manifest JSON is fetched from ``image.manifest_url`` (its input hash must be the announced one), the
  downloaded image is opened for its format with :func:`relengotron_sandbox.imagebuild.openers.open_image`
  (well-formed: ``qemu-img check``, ``xz -t``, ``e2fsck``, ``unsquashfs -l``, ``xorriso`` + ``dnf --installroot``
  of the ISO's repository, ...) and the builds its rpmdb's packages came from are compared with the manifest;
- OSTree: the commit pulled from ``ostree.url`` (:func:`relengotron_sandbox.taskotron.integrity.pull_commit`)
  records its manifest (``relengotron.manifest``, whose input hash must be the announced one); its rpmdb
  (``usr/share/rpm``, rpm-ostree's layout) is checked out and its builds compared with the manifest, and its
  ``rpmostree.rpmdb.pkglist`` must list exactly the rpmdb's packages.

The manifest lists BUILD NVRs; an rpmdb lists packages (subpackages too) with their source RPM: a package's build
is its source RPM's NVR (:attr:`relengotron.tools.rootfs.InstalledPackage.build`), so the comparison is by build.
A malformed image, a missing or foreign manifest, or builds that differ (the note names the missing and the extra
ones) FAIL; what cannot run raises :class:`CheckError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from relengotron.manifest import Manifest, ManifestError
from relengotron.ostree.metadata import KEY_PKGLIST
from relengotron.ostree.repo import OSTreeRepo, RepoError
from relengotron.tools.rootfs import InstalledPackage, read_rpmdb
from relengotron.tools.run import ToolError
from relengotron_sandbox.imagebuild.openers import FORMATS, open_image
from relengotron_sandbox.taskotron.integrity import FetchedImage, PulledCommit, download, http_url, ostree, tail
from relengotron_sandbox.taskotron.outcome import CheckError, CheckOutcome

# The opener of an announced image: its format (image.format), except where the kind says more — a pxe2live
# image is a tar-gz holding kernel, initrd, squashfs root and PXE_CONFIG (relengotron.tools.livepxe).
OPENER_OF_KIND = {"pxe2live": "pxe2live"}
OSTREE_RPMDB = "usr/share/rpm"  # where rpm-ostree's layout keeps a commit's rpmdb
_LISTED = 8  # builds named in a note before "and N more"


def _names(items: Iterable[str]) -> str:
    items = sorted(items)
    more = f" and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return ", ".join(items[:_LISTED]) + more


def compare_builds(installed: Iterable[InstalledPackage], manifest: Manifest, where: str) -> CheckOutcome:
    """PASSED when the builds of ``installed`` are exactly the manifest's NVRs; FAILED naming the difference."""
    packages = list(installed)
    builds, wanted = {package.build for package in packages}, set(manifest.nvrs)
    missing, extra = wanted - builds, builds - wanted
    if not missing and not extra:
        return CheckOutcome("PASSED", f"{where}: {len(packages)} packages of the manifest's {len(wanted)} builds")
    parts = [f"missing {_names(missing)}" if missing else "", f"extra {_names(extra)}" if extra else ""]
    return CheckOutcome("FAILED", f"{where}: builds differ from the manifest: {'; '.join(p for p in parts if p)}")


def fetch_manifest(spec: dict[str, Any], input_hash: Any, scratch: Path) -> Manifest | CheckOutcome:
    """The manifest JSON at ``spec["manifest_url"]``, or the FAILED outcome saying why it is not this compose's."""
    url = http_url(spec, "manifest_url", "image.manifest_url")
    dest = scratch / "manifest.json"
    if not download(url, dest):
        return CheckOutcome("FAILED", f"the image's manifest is not there: {url} (HTTP 404)")
    try:
        manifest = Manifest.from_json(dest.read_text(errors="replace"), source=url)
    except ManifestError as exc:
        return CheckOutcome("FAILED", str(exc))
    if input_hash and manifest.input_hash != input_hash:
        return CheckOutcome("FAILED", f"{url}: input hash {manifest.input_hash}, not the announced {input_hash}")
    return manifest


def image_content(fetched: FetchedImage, body: dict[str, Any], scratch: Path, *, gpg_key: Path | None) -> CheckOutcome:
    """``compose.image.content``: the downloaded image opens as its format and holds exactly its manifest's builds."""
    spec = body.get("image") or {}
    kind, koji_format = str(body.get("kind")), str(spec.get("format") or "")
    fmt = OPENER_OF_KIND.get(kind, koji_format)
    if fmt not in FORMATS:
        raise CheckError(f"the sandbox cannot open a {kind} image of format {koji_format!r} (known: {FORMATS})")
    manifest = fetch_manifest(spec, body.get("input_hash"), scratch)
    if isinstance(manifest, CheckOutcome):
        return manifest
    if fetched.path is None:
        return CheckOutcome("FAILED", f"image not found: {fetched.url} (HTTP 404)")
    try:
        opened = open_image(fetched.path, fmt, gpg_key=gpg_key)
    except ValueError as exc:  # the opener's own preconditions (the ISO's key): the check cannot run
        raise CheckError(str(exc)) from None
    where = f"{fetched.url} ({fmt})"
    if not opened.well_formed or opened.installed is None:
        return CheckOutcome("FAILED", f"{where} is malformed: {opened.message.replace(str(fetched.path), 'the image')}")
    return compare_builds(opened.installed, manifest, where)


def ostree_content(pulled: PulledCommit, body: dict[str, Any], scratch: Path) -> CheckOutcome:
    """``compose.ostree.content``: the pulled commit's rpmdb holds exactly its manifest's builds, and its
    ``rpmostree.rpmdb.pkglist`` lists exactly the rpmdb's packages."""
    if pulled.repo is None:
        return CheckOutcome("FAILED", pulled.note)
    where = f"commit {pulled.commit} from {pulled.url}"
    try:
        metadata = OSTreeRepo(pulled.repo).show(pulled.commit).metadata
        manifest = Manifest.from_metadata(metadata, source=where)
    except (RepoError, ToolError) as exc:
        raise CheckError(f"cannot read {where}: {exc}") from None
    except ManifestError as exc:
        return CheckOutcome("FAILED", str(exc))
    if manifest is None:
        return CheckOutcome("FAILED", f"{where} records no manifest (relengotron.manifest)")
    announced = body.get("input_hash")
    if announced and manifest.input_hash != announced:
        return CheckOutcome(
            "FAILED", f"{where}: manifest input hash {manifest.input_hash}, not the announced {announced}"
        )
    rpmdb = scratch / "rpmdb"
    checkout = ostree(pulled.repo, "checkout", "-U", f"--subpath=/{OSTREE_RPMDB}", pulled.commit, str(rpmdb))
    if checkout.returncode != 0:
        return CheckOutcome("FAILED", f"{where} has no rpmdb at /{OSTREE_RPMDB}: {tail(checkout.stderr, 1)}")
    try:
        installed = read_rpmdb(rpmdb, item=where)
    except ToolError as exc:
        return CheckOutcome("FAILED", f"{where}: its rpmdb at /{OSTREE_RPMDB} cannot be read: {exc}")
    listed = {tuple(entry) for entry in metadata.get(KEY_PKGLIST) or ()}
    in_rpmdb = {(p.name, p.epoch, p.version, p.release, p.arch) for p in installed}
    if listed != in_rpmdb:
        differ = _names("-".join(entry) for entry in listed ^ in_rpmdb)
        return CheckOutcome("FAILED", f"{where}: {KEY_PKGLIST} and the rpmdb disagree on {differ}")
    return compare_builds(installed, manifest, where)
