"""Image artifacts made by a Koji image task: installer ISO, pxe2live, AMI, GCE.

Compose (:meth:`ImageArtifact.compose`, or its three steps for a caller that waits for Koji itself) writes only
the CANDIDATE under the staging tree's private area (``<staging>/.relengotron/candidates/<images path>/``, never
synced; :mod:`relengotron.artifacts.image_files`):

1. :meth:`~ImageArtifact.prepare` — nothing to build when the public staging tree already holds this
   manifest's image (released: ``changed`` False), or a complete candidate of it waits (reused);
2. :meth:`~ImageArtifact.submit` — the image is requested as Fedora requested it
   (:mod:`relengotron.imagerequest`): the artifact's kickstart (``image_request`` in the release configuration;
   uploaded as ``koji image-build --kickstart`` uploads it, or named in a ``ksurl``) and the kind's Koji method
   — ``buildImageOz`` (image-build: AMI, GCE) or ``buildImage(..., 'livemedia', ...)`` (installer ISO,
   pxe2live) — with the options Fedora set (``distro``, ``disk_size``, ``format``, ...). It installs from a yum
   repository Koji writes of the tag's latest builds, signed with the release's key only (``distRepo``), for
   the target's arch, as the build ``<koji name>-<release version>-<next release>`` (not tagged). The build
   target is one that builds from ``ComposeContext.image_tag`` (the tag the manifest was computed from;
   default the release's build tag), created as ``<tag>-image`` (``<tag>`` → ``<tag>``) when no target
   builds from that tag. The tag's latest builds must be the manifest (checked before the task is
   submitted). The task id is recorded beside the candidate (``<image>.koji-task.json``): submitting again
   for the same manifest returns that task unless it failed — a retry never builds twice;
3. :meth:`~ImageArtifact.finish` — once the task closed: the image must hold exactly the manifest's RPMs (the
   tag may have moved meanwhile), it is downloaded from Koji's topurl and checked against the digest Koji
   recorded, then placed (or the file a kind derives from it: pxe2live) as the candidate under the configured
   file name, followed by
   ``<image>.manifest.json`` (:mod:`relengotron.adapters.released`) and, last, the Fedora CHECKSUM file
   ``<image>-CHECKSUM`` (clear-signed when a signer is given). Written in that order, an interrupted finish
   leaves a CHECKSUM that does not match, which the next compose redoes.

Promotion (:meth:`ImageArtifact.promote`), once the tests passed and the CHECKSUM is signed: the three files are
renamed from the candidate area into the public images path — image, manifest JSON, CHECKSUM last — under the
staging lock, so the sync sees all of them or none. A candidate whose tests failed is never moved.

What is released is read back from the manifest JSON beside the image on the master mirror. The sync
classes (:mod:`relengotron.sync.classify`): the image is content, the JSON metadata, the CHECKSUM an index.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import requests

from relengotron.adapters.released import image_dir, image_manifest_path, image_path, read_image_manifest
from relengotron.adapters.released import write_image_manifest as _write_manifest
from relengotron.artifacts.base import (
    CANDIDATES,
    ArtifactError,
    ArtifactKind,
    ComposeContext,
    ComposeOutput,
    ImageOutput,
    PromoteContext,
    PromoteResult,
    Published,
    staging_lock,
)
from relengotron.artifacts.errors import COMPOSE_FAILURES, wrap
from relengotron.artifacts.image_files import (
    ImageFiles,
    apply_moves,
    plan_promotion,
    read_marker,
    remove_candidate,
    write_marker,
)
from relengotron.config import MirrorLayout, TranslatePaths
from relengotron.imagerequest import ImageRequest, koji_call, option_errors
from relengotron.kojiclient import KojiImage, KojiTransientError
from relengotron.manifest import Manifest
from relengotron.signing.base import Signer, SignResult, sha256_file
from relengotron.signing.checksum import ChecksumEntry, render_checksums, signed_body
from relengotron.tools.files import copy_atomic, write_atomic
from relengotron.tools.livepxe import LivePxeError, pxe_tarball_from_live_iso

# The test case that opens an image and compares the packages inside with its manifest (this project's proposal:
# no Fedora test case did; the sandbox Taskotron runs it). Live media must require it: Koji lists none of their RPMs.
CONTENT_TEST = "compose.image.content"
# The formats of the files image tasks write → their suffix: kojid's image-build formats (BaseImageTask, named as
# Pungi's image_build phase EXTENSIONS) and livemedia's ISO (LiveMediaTask: ``<name>-<arch>-<version>-<release>.iso``).
KOJI_SUFFIXES = {
    "raw": ".raw",
    "raw-xz": ".raw.xz",
    "tar-gz": ".tar.gz",
    "qcow2": ".qcow2",
    "vmdk": ".vmdk",
    "vpc": ".vhd",
    "vagrant-libvirt": ".vagrant-libvirt.box",
    "vagrant-virtualbox": ".vagrant-virtualbox.box",
    "liveimg-squashfs": ".liveimg.squashfs",
    "iso": ".iso",
}
CHECKSUM_SUFFIX = "-CHECKSUM"
FAILED_TASK_STATES = ("FAILED", "CANCELED")
_EXTENSION = re.compile(r"(\.raw\.xz|\.tar\.gz|\.tar\.xz|\.qcow2|\.iso|\.raw|\.vhd|\.box|\.tar)$")
_KOJI_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$")
_CHUNK = 1 << 20


class ImageArtifact(ArtifactKind):
    """An image file built by a Koji image task. Subclasses say the format and how productmd names it."""

    template_key = "image"
    compose_backends = ("koji",)
    default_compose = "koji"
    koji_task_compose = True  # prepare / submit / finish around the Koji image task
    koji_method: ClassVar[str] = "image"  # the Koji method that builds it: image (buildImageOz) | livemedia
    koji_format: ClassVar[str]  # the format of the file the task writes (KOJI_SUFFIXES)
    # the published file's format when the kind derives it from Koji's file (published_file); None: koji_format
    published_format: ClassVar[str | None] = None
    koji_options: ClassVar[Mapping[str, Any]] = {}  # the method's options every image of the kind is asked with
    suffix: ClassVar[str]  # how the configured image file name must end
    productmd_type: ClassVar[str]  # productmd's image type (images.json)
    productmd_format: ClassVar[str]  # productmd's image format

    @classmethod
    def template_error(cls, template: str) -> str | None:
        if not template.endswith(cls.suffix):
            return f"a {cls.kind} image file name ends in {cls.suffix!r}, not {template!r}"
        if not _KOJI_NAME.match(koji_name(template, cls.suffix)):
            return f"no Koji package name can be made of {template!r}"
        return None

    @classmethod
    def request_errors(cls, request: ImageRequest) -> list[tuple[str | None, str]]:
        """The Koji method's option checks (:func:`relengotron.imagerequest.option_errors`), and for image-build
        kinds a ``format`` list that includes the kind's own format. Pure."""
        problems = option_errors(cls.koji_method, request.options)
        formats = request.options.get("format")
        if cls.koji_method == "image" and isinstance(formats, list) and cls.koji_format not in formats:
            problems.append(("format", f"a {cls.kind} image is the {cls.koji_format} format: list it in 'format'"))
        if cls.koji_method != "image" and "format" in request.options:
            problems.append(("format", f"a {cls.kind} image is made by Koji's {cls.koji_method} method: no 'format'"))
        return problems

    # --- where it goes ------------------------------------------------------------------------------------

    @property
    def image_name(self) -> str:
        return self.artifact.image_name(self.release, self.arch)

    @property
    def checksum_name(self) -> str:
        return f"{self.image_name}{CHECKSUM_SUFFIX}"

    @property
    def koji_name(self) -> str:
        """The image build's package name: the file name template without version, arch and extension."""
        assert self.artifact.image is not None
        return koji_name(self.artifact.image, self.suffix)

    def mirror_paths(self, layout: MirrorLayout) -> list[str]:
        """The image, its manifest JSON and its CHECKSUM file (all in one directory)."""
        args = (layout, self.artifact, self.release, self.arch)
        return [image_path(*args), image_manifest_path(*args), f"{image_dir(*args)}/{self.checksum_name}"]

    def released(self, published: Published) -> Manifest | None:
        """The manifest JSON beside the image on the master mirror (read-only)."""
        rel = image_manifest_path(published.layout, self.artifact, self.release, self.arch)
        return read_image_manifest(published.mirror, rel)

    # --- compose ------------------------------------------------------------------------------------------

    def compose(self, ctx: ComposeContext, manifest: Manifest) -> ComposeOutput:
        """Prepare, or submit the Koji image task, wait for it and finish (module docstring): the candidate.

        Idempotent: a second compose of the same manifest submits no task and writes nothing (a CHECKSUM left
        unsigned is signed); a compose after a crash waits for the task recorded beside the candidate. A
        failed Koji task, an image that does not hold the manifest or a download that does not match is an
        :class:`ArtifactError` naming the image; neither the candidate nor the public tree is then changed.
        """
        output = self.prepare(ctx, manifest)
        if output is not None:
            return output
        task = self.submit(ctx, manifest)
        with self._named():
            ctx.koji.wait_task(task, item=f"{self.label}: Koji image task", timeout=ctx.task_timeout)
        return self.finish(ctx, manifest, task)

    def prepare(self, ctx: ComposeContext, manifest: Manifest) -> ComposeOutput | None:
        """The output when no image needs building: the public copy already is ``manifest``'s (``changed``
        False), or a complete candidate of it waits (reused). None: an image task is needed. With
        ``ctx.signer``, a CHECKSUM not yet signed is signed (idempotent); nothing else is written.
        """
        if ctx.signer is not None:
            ctx.signer.check()
        with self._named():
            for root, released in ((ctx.staging, True), (ctx.candidates, False)):
                files = self._files(root, ctx)
                digest = files.complete_digest(manifest)
                if digest is None:
                    continue
                if ctx.signer is not None:
                    ctx.signer.sign_images(files.image.parent, [self.image_name], self.checksum_name)
                return self._compose_output(ctx, manifest, self._output(files, digest, None, released=released))
        return None

    def submit(self, ctx: ComposeContext, manifest: Manifest) -> int:
        """The Koji image task building ``manifest``'s image: the one recorded beside the candidate unless it
        failed or was canceled, else a new one (then recorded). Checks first that the tag the task installs
        from holds exactly the manifest (:class:`ArtifactError` naming the difference, no task submitted).

        Idempotent: submitting again for the same manifest returns the same task (a crash between Koji's
        answer and the record, the only window, costs one extra task).
        """
        koji = ctx.koji
        files = self._files(ctx.candidates, ctx)
        with self._named():
            recorded = read_marker(files, manifest)
            if recorded is not None and koji.task_state(recorded) not in FAILED_TASK_STATES:
                return recorded
            tag = ctx.image_tag or self.release.tag("build")
            target = koji.build_target_for(tag)
            if target is None:
                target = f"{tag}-image"
                koji.ensure_build_target(target, tag, tag)
            packages = sorted(manifest.packages)
            holds = self.manifest(koji, packages, tag)
            if holds != manifest:
                wrong = sorted(set(holds.nvrs) - set(manifest.nvrs))
                raise ArtifactError(
                    self.label,
                    f"Koji tag {tag} does not hold its manifest (an image task installs from it): it has "
                    f"{', '.join(wrong)} instead of {', '.join(sorted(set(manifest.nvrs) - set(holds.nvrs)))}",
                )
            task = self._request(ctx, tag, target)
            write_marker(files, manifest, task, ctx.now())
        return task

    def _request(self, ctx: ComposeContext, tag: str, target: str) -> int:
        """Submit the image task as Pungi had the koji CLI submit it (:func:`relengotron.imagerequest.koji_call`):
        the configured kickstart — uploaded to Koji's work area as ``koji image-build --kickstart`` does, or named
        in its ``ksurl`` — and the kind's Koji method and options. The image installs from a yum repository Koji
        writes of ``tag``'s latest builds in their copies signed with the release's key only
        (:meth:`relengotron.kojiclient.KojiClient.dist_repo`), never from Koji's unsigned build repositories.

        Fedora's composes made that repository themselves (Pungi's pkgset phase with ``sigkeys``, on
        /mnt/koji/compose, reached by the builders over kojipkgs through ``translate_paths``); asking Koji for it
        puts it where the builders already read, under Koji's topurl. A release without a signing key has no
        signed repository: refused. Not idempotent (each call is a new repository, upload and task); the caller
        records the task.
        """
        request = self.artifact.image_request
        item = f"{self.label}: Koji image task"
        if request is None:
            raise ArtifactError(self.label, "no image_request in the release configuration: no kickstart to build from")
        repo = self.signed_repository(ctx, tag)
        koji = ctx.koji
        ksfile = None
        if request.path is not None:
            ksfile = koji.upload(request.path, prefix=f"cli-{self.koji_method}", item=f"{self.label}: kickstart")
        call = koji_call(
            self.koji_method,
            request,
            name=self.koji_name,
            version=self.release.version,
            arch=self.arch,
            target=target,
            ksfile=ksfile,
            repos=[f"{repo}/{self.arch}/"],
            ksversion=request.version_for(self.release.version),
            defaults=self.koji_options,
        )
        if call.method == "buildImageOz":
            return koji.build_image_oz(*call.args, call.opts, item=item)
        name, version, arches, target, kickstart, _ = call.args
        return koji.build_livemedia(name, version, arches, target, kickstart, call.opts, item=item)

    def finish(self, ctx: ComposeContext, manifest: Manifest, task: int) -> ComposeOutput:
        """Make the candidate from Koji task ``task`` (closed): check the image holds ``manifest``, download it,
        write it, its manifest JSON and its CHECKSUM (signed with ``ctx.signer``) into the candidate area.

        The file published is :meth:`published_file` of the download (for most kinds the download itself).
        Idempotent: the same task again gives the same files. Refused (:class:`ArtifactError`): the task made
        no single image of this format and arch, or one of other RPMs than the manifest's, or the download
        does not match Koji's record, or the published file cannot be made of it; the candidate area is then
        untouched.
        """
        if ctx.signer is not None:
            ctx.signer.check()
        item = f"{self.label}: Koji image task"
        files = self._files(ctx.candidates, ctx)
        with self._named():
            made = [
                i
                for i in ctx.koji.image_result(task, item=item)
                if i.arch == self.arch and i.filename.endswith(KOJI_SUFFIXES[self.koji_format])
            ]
            if len(made) != 1:
                raise ArtifactError(self.label, f"Koji image task {task} made {len(made)} {self.koji_format} images")
            built = made[0]
            self._check_content(ctx, manifest, built, ctx.image_tag or self.release.tag("build"))
            ctx.workdir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{self.id}.", dir=ctx.workdir))
            try:
                download = tmp / built.filename
                digest = self._download(built, download)
                image = self.published_file(download, tmp / "published")
                if image != download:
                    digest = sha256_file(image)
                _place(image, files.image)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            _write_manifest(ctx.candidates, ctx.layout, self.artifact, self.release, self.arch, manifest)
            output = self._output(files, digest, built, released=False)
            if ctx.signer is None:
                self._write_checksum(output)
            else:
                ctx.signer.sign_images(files.image.parent, [self.image_name], self.checksum_name)
        return self._compose_output(ctx, manifest, output)

    def published_file(self, downloaded: Path, work: Path) -> Path:
        """The file published for Koji's ``downloaded`` image (digest checked): by default that file, unchanged.
        A kind deriving its published form overrides this, writing into the new directory ``work``,
        deterministically (finish is idempotent), raising :class:`ArtifactError` naming the artifact."""
        del work
        return downloaded

    def _compose_output(self, ctx: ComposeContext, manifest: Manifest, image: ImageOutput) -> ComposeOutput:
        return ComposeOutput(
            target=self.id,
            kind=self.kind,
            label=self.label,
            manifest=manifest,
            changed=not image.released,
            paths=tuple(self.mirror_paths(ctx.layout)),
            image=image,
            composed_at=ctx.now().isoformat(),
        )

    @contextmanager
    def _named(self) -> Iterator[None]:
        """Failures of the tools and services as :class:`ArtifactError` naming the image (Koji being
        unreachable stays a KojiTransientError: worth a retry)."""
        try:
            yield
        except (KojiTransientError, ArtifactError):
            raise
        except COMPOSE_FAILURES as exc:
            raise wrap(self.label, exc) from exc

    def _files(self, root: Path, ctx: ComposeContext | PromoteContext) -> ImageFiles:
        return ImageFiles.under(root, image_path(ctx.layout, self.artifact, self.release, self.arch))

    def _output(self, files: ImageFiles, digest: str, built: KojiImage | None, *, released: bool) -> ImageOutput:
        return ImageOutput(
            path=str(files.image),
            sha256=digest,
            size=files.image.stat().st_size,
            checksum_file=str(files.checksum),
            manifest_file=str(files.manifest),
            koji_build=built.build if built else None,
            koji_task=built.task_id if built else None,
            released=released,
        )

    def _check_content(self, ctx: ComposeContext, manifest: Manifest, built: KojiImage, tag: str) -> None:
        """The image must hold the binary RPMs of exactly the manifest's builds (:func:`content_error`); Koji is
        asked which RPMs the builds made only when the task listed any."""
        owner: dict[str, str] = {}
        if built.rpms:
            builds = ctx.koji.builds(manifest.nvrs)
            rpms = ctx.koji.rpms_of(builds.values())
            owner = {
                f"{r.name}-{r.version}-{r.release}": b.nvr
                for b in builds.values()
                for r in rpms[b.id]
                if r.arch != "src"
            }
        opened_later = self.koji_method == "livemedia" and CONTENT_TEST in self.test_cases()
        problem = content_error(built.build, built.rpms, manifest.nvrs, owner, tag=tag, opened_later=opened_later)
        if problem is not None:
            raise ArtifactError(self.label, problem)

    def _download(self, built: KojiImage, dest: Path) -> str:
        """Fetch the image into ``dest``; its SHA256. Size and Koji's digest must match (ArtifactError)."""
        sha256, koji_digest = hashlib.sha256(), hashlib.new(built.checksum_type)
        try:
            with requests.get(built.url, stream=True, timeout=300) as answer:
                if answer.status_code >= 500:
                    raise KojiTransientError(self.label, f"{built.url} answered HTTP {answer.status_code}")
                if answer.status_code != 200:
                    raise ArtifactError(self.label, f"{built.url} answered HTTP {answer.status_code}")
                size = 0
                with open(dest, "wb") as out:
                    for chunk in answer.iter_content(_CHUNK):
                        sha256.update(chunk)
                        koji_digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise KojiTransientError(self.label, f"cannot fetch {built.url}: {exc}") from exc
        if (built.size and size != built.size) or (built.checksum and koji_digest.hexdigest() != built.checksum):
            raise ArtifactError(
                self.label,
                f"{built.url}: {size} bytes with {built.checksum_type} {koji_digest.hexdigest()}, "
                f"Koji recorded {built.size} bytes with {built.checksum}",
            )
        return sha256.hexdigest()

    def _write_checksum(self, output: ImageOutput) -> None:
        """The plain CHECKSUM file; idempotent (an equal one, signed or not, is left as it is)."""
        entry = ChecksumEntry(name=self.image_name, algo="SHA256", digest=output.sha256, size=output.size)
        text = render_checksums([entry])
        path = Path(output.checksum_file)
        if not path.is_file() or signed_body(path.read_text(errors="replace")) != text:
            write_atomic(path, text.encode())

    # --- signing and tests --------------------------------------------------------------------------------

    def sign(self, signer: Signer, output: ComposeOutput) -> list[SignResult]:
        """Clear-sign the CHECKSUM file where the output lies (the candidate, or the released copy).

        Idempotent: one already signed by this key for this image is kept.
        """
        self._check(output)
        assert output.image is not None
        directory = Path(output.image.checksum_file).parent
        return [signer.sign_images(directory, [self.image_name], self.checksum_name)]

    def promote(self, ctx: PromoteContext, output: ComposeOutput) -> PromoteResult:
        """Rename the tested candidate's image, manifest JSON and (signed) CHECKSUM into the public images path,
        in that order, under the staging lock; then drop the candidate's task record.

        Idempotent: files already released are left alone, so a rerun changes nothing (``changed`` False) and
        a rerun after a crash half-way moves the rest. Refused before anything moves (:class:`ArtifactError`):
        a candidate file that changed or vanished (compose again), a CHECKSUM not signed by ``ctx.signer``.
        """
        self._check(output)
        assert output.image is not None
        candidate = self._files(ctx.staging / CANDIDATES, ctx)
        public = self._files(ctx.staging, ctx)
        with self._named(), staging_lock(ctx.layout):
            if ctx.signer is not None:
                ctx.signer.check()
            moves = plan_promotion(
                self.label,
                candidate,
                public,
                sha256=output.image.sha256,
                manifest=output.manifest,
                signer=ctx.signer,
            )
            apply_moves(moves)
            remove_candidate(candidate, ctx.staging / CANDIDATES)
        return PromoteResult(
            target=self.id,
            kind=self.kind,
            label=self.label,
            manifest=output.manifest,
            identity=output.image.sha256,
            changed=bool(moves),
            steps=tuple(m.step for m in moves),
            paths=tuple(self.mirror_paths(ctx.layout)),
        )

    def _announce(self, output: ComposeOutput, served: TranslatePaths) -> dict[str, Any]:
        assert output.image is not None
        image = output.image
        return {
            "image": {
                "url": self._served_url(served, image.path, "image"),
                "sha256": image.sha256,
                "size": image.size,
                "format": self.published_format or self.koji_format,  # a Koji image format name (KOJI_SUFFIXES)
                "manifest_url": self._served_url(served, image.manifest_file, "manifest JSON"),
            }
        }


def content_error(
    build: str,
    listed: Sequence[str],
    manifest_nvrs: Sequence[str],
    owner: Mapping[str, str],
    *,
    tag: str,
    opened_later: bool,
) -> str | None:
    """What is wrong with the RPMs (NVRs) Koji ``listed`` in image build ``build`` against the manifest's builds
    (``owner``: binary RPM NVR → its build NVR); None when it holds exactly them. Pure.

    An empty list is what kojid's createLiveMedia always reports (LiveMediaTask: "TODO - generate list of rpms in
    image"): what such an image holds is known only by opening it, so it is accepted only when its tests do that
    (``opened_later``: live media whose tests include :data:`CONTENT_TEST`)."""
    if not listed:
        if opened_later:
            return None
        return (
            f"Koji image build {build} lists no RPMs: what it holds cannot be checked here, and the artifact's "
            f"tests do not include {CONTENT_TEST}, which opens the image"
        )
    strangers = sorted(nvr for nvr in listed if nvr not in owner)
    missing = sorted(set(manifest_nvrs) - {owner[nvr] for nvr in listed if nvr in owner})
    if not (strangers or missing):
        return None
    return (
        f"Koji image build {build} does not hold its manifest (did tag {tag} change meanwhile?): "
        f"missing {', '.join(missing) or 'nothing'}; not in the manifest {', '.join(strangers) or 'nothing'}"
    )


def koji_name(template: str, suffix: str = "") -> str:
    """``Fedora-Cloud-Base-{version}.{arch}.raw.xz`` → ``Fedora-Cloud-Base`` (pure): the file name template
    without ``suffix`` (or a known image extension), ``{arch}`` and ``{version}``."""
    name = template[: -len(suffix)] if suffix and template.endswith(suffix) else _EXTENSION.sub("", template)
    for placeholder in ("{arch}", "{version}"):
        name = re.sub(rf"[-._]?{re.escape(placeholder)}", "", name)
    return name.strip("-._")


def _place(source: Path, dest: Path) -> None:
    """Move ``source`` over ``dest`` in one rename (copied beside it first across filesystems)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(source, 0o644)
    try:
        os.replace(source, dest)
    except OSError:
        copy_atomic(source, dest, mode=0o644)


class InstallerISO(ImageArtifact):
    """The installer DVD (``Fedora-Server-dvd-x86_64-24.iso``), requested as Koji live media.

    Fedora's DVD came from Pungi's buildinstall phase (lorax in a Koji runroot task: the installer tree) and its
    createiso phase (the tree and the packages' repository in an ISO, again in runroot). Runroot tasks leave
    their output in the compose directory: no image build, no archives, no list of the RPMs inside — nothing
    this flow could check against the manifest before anything is promoted. releng-o-tron therefore asks Koji
    for the installer ISO as ``livemedia`` (livemedia-creator ``--make-iso``, lorax's own tool; the method
    Fedora used for its installable live ISOs from Fedora 24 on, Pungi's live_media phase), from a kickstart
    whose ``%packages`` is the installer's package set: an image build with its ISO as archive, like every
    other kind. This is this project's proposal, not what Fedora did for the DVD.
    """

    kind = "installer-iso"
    koji_method = "livemedia"
    koji_format = "iso"
    suffix = ".iso"
    productmd_type = "dvd"
    productmd_format = "iso"


class Pxe2Live(ImageArtifact):
    """Atomic's PXE-to-live tarball: the kernel, initrd and squashfs root to boot over the network.

    Fedora's kickstart for it is fedora-kickstarts' ``fedora-cloud-atomic-pxetolive.ks`` ("PXE boot directly
    into a running Atomic Host"), written for livemedia-creator. Koji has no PXE method: releng-o-tron asks for
    ``livemedia`` with ``squashfs_only`` (livemedia-creator ``--make-iso --squashfs-only``: the root as a plain
    squashfs, the form dracut's live module boots over the network), and kojid uploads the live ISO — the only
    file its LiveMediaTask keeps. The published ``.tar.gz`` is derived from that ISO
    (:func:`relengotron.tools.livepxe.pxe_tarball_from_live_iso`: kernel, initrd and squashfs taken out with
    xorriso, as livecd-tools' ``livecd-iso-to-pxeboot`` takes them out of a live ISO, with lorax's PXE_CONFIG).
    The request, and the tarball as the published form, are this project's proposal.
    """

    kind = "pxe2live"
    koji_method = "livemedia"
    koji_format = "iso"
    published_format = "tar-gz"
    koji_options = {"squashfs_only": True}
    suffix = ".tar.gz"
    productmd_type = "tar-gz"
    productmd_format = "tar.gz"

    def published_file(self, downloaded: Path, work: Path) -> Path:
        """The PXE tarball made of the live ISO Koji built; deterministic (the same ISO, the same bytes). An ISO
        lacking the kernel, initrd or squashfs is an :class:`ArtifactError` naming the artifact and the path."""
        try:
            return pxe_tarball_from_live_iso(downloaded, work / self.image_name, item=self.label)
        except LivePxeError as exc:
            raise wrap(self.label, exc) from exc


class AMI(ImageArtifact):
    """The Cloud Base raw disk image, xz-compressed: the source of the EC2 AMIs. Koji image-build (Pungi's
    image_build phase) of fedora-kickstarts' ``fedora-cloud-base.ks``, format ``raw-xz`` (``qcow2`` too where
    the configuration lists it)."""

    kind = "ami"
    koji_method = "image"
    koji_format = "raw-xz"
    koji_options = {"format": ["raw-xz"]}
    suffix = ".raw.xz"
    productmd_type = "raw-xz"
    productmd_format = "raw.xz"


class GCE(ImageArtifact):
    """The Cloud Base image for Google Compute Engine: a disk.raw in a gzipped tarball. Koji image-build of the
    cloud kickstart, format ``tar-gz`` (kojid's _buildTarGZ packs the raw disk as ``disk.raw``, GCE's form)."""

    kind = "gce"
    koji_method = "image"
    koji_format = "tar-gz"
    koji_options = {"format": ["tar-gz"]}
    suffix = ".tar.gz"
    productmd_type = "tar-gz"
    productmd_format = "tar.gz"
