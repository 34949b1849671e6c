"""Image builds as kojid makes them: ``buildImageOz`` → ``image`` task with ``createImage`` children (image-build),
``buildImage(..., 'livemedia', ...)`` → ``livemedia`` task with ``createLiveMedia`` children.

The request side follows koji 1.36 (kojihub ``buildImageOz``/``buildImage``, kojid ``BuildBaseImageTask``,
``BaseImageTask``, ``BuildLiveMediaTask``, ``LiveMediaTask``):

- the hub call checks its argument types, the ``image`` (or the image type's) permission and, for
  ``buildImage``, the image type (``livecd``, ``appliance``, ``livemedia``; the sandbox builds live media only).
  Real kojid reads ``opts`` with ``opts.get`` and silently ignores a key it does not know; the sandbox hub
  refuses a key the koji CLI never sends (koji_cli's pass-through lists,
  :data:`relengotron.imagerequest.KOJI_OPTIONS`) so that an invented option cannot go unnoticed;
- the parent task checks the target and arches, creates the image build (``<name>-<version>-<release>``, release
  from ``opts['release']`` or the next free one) in state BUILDING unless ``opts['scratch']``, runs one child per
  arch, imports their files as image archives under ``packages/<name>/<version>/<release>/images/`` (served
  under /kojifiles), completes the build and tags it into the target's destination tag with a ``tagBuild`` child
  (unless ``skip_tag``). Scratch images go to ``scratch/<user>/task_<id>/``. A child that fails fails the
  parent and the build (FAILED);
- a child reads the kickstart — the uploaded file ``opts['kickstart']`` (``work/<dir>/<name>``) for image-build,
  ``work/<ksfile>`` for live media; an SCM ``ksurl`` is refused: the sandbox checks nothing out — with
  pykickstart as kojid does (``ksversion``), checks ``distro`` (image-build: kojid's ``parseDistro``) and
  ``format``, selects the kickstart's ``%packages`` and their dependencies from ``opts['repo']``
  (:mod:`relengotron_sandbox.koji.imagecontent`; kojid replaces the kickstart's repo lines by those), installs
  exactly them into a root with gpgcheck on and writes the real image files
  (:mod:`relengotron_sandbox.koji.imageoutput`).

Files are named as kojid names them: ``<name>-<version>-<release>.<arch>.<ext>`` per ``format`` for
image-build, ``<name>-<arch>-<version>-<release>.iso`` for live media — with ``squashfs_only`` too (the live ISO
of a plain squashfs root, from which relengotron.artifacts.images.Pxe2Live derives its PXE tarball).
The result is kojid's dict (arch, task_id, logs, name, version, release, rpmlist, files); ``rpmlist`` is what
the image root's rpmdb holds for image-build, and empty for live media, as real kojid leaves it
(LiveMediaTask: "TODO - generate list of rpms in image"): what live media hold is checked by opening them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import koji
from koji.xmlrpcplus import Fault

from relengotron.imagerequest import IMAGE_FORMATS, KOJI_OPTIONS
from relengotron_sandbox.koji import imagecontent, imageoutput
from relengotron_sandbox.koji.builds import BuildExports
from relengotron_sandbox.koji.hub import Hub
from relengotron_sandbox.koji.tags import TagExports
from relengotron_sandbox.koji.tasks import TaskManager
from relengotron_sandbox.world import BrokenImage

# file suffix → Koji archive type (seeded from Koji's schema)
_ARCHIVE_TYPES = {".raw.xz": "raw-xz", ".tar.gz": "tar", ".raw": "raw", ".iso": "iso", ".qcow2": "qcow2"}
_SUFFIXES = {"raw": "raw", "raw-xz": "raw.xz", "qcow2": "qcow2", "tar-gz": "tar.gz"}  # kojid's, per image format
# kojid's OzImageTask.parseDistro
_DISTROS = ("RHEL", "Fedora", "CentOS", "SL")


def _archive_type(filename: str) -> str:
    return next(t for suffix, t in _ARCHIVE_TYPES.items() if filename.endswith(suffix))


class ImageBuilder:
    """The task handlers for ``image`` and ``createImage``."""

    def __init__(
        self,
        hub: Hub,
        tasks: TaskManager,
        tags: TagExports,
        builds: BuildExports,
        tmpdir: Path,
        gpgkey: Path,
        broken: Sequence[BrokenImage] = (),
    ) -> None:
        self.hub = hub
        self.tasks = tasks
        self.tags = tags
        self.builds = builds
        self.tmpdir = tmpdir
        self.gpgkey = gpgkey  # the public key of what the sandbox's Koji signs: every image root is checked with it
        self.broken = tuple(broken)  # the world's scenario: images built broken on purpose

    # --- parent task --------------------------------------------------------------------------------------

    def image_task(
        self,
        task_id: int,
        name: str,
        version: str,
        arches: list[str],
        target: Any,
        inst_tree: str,
        opts: dict[str, Any] | None = None,
    ) -> str:
        """kojid's BuildBaseImageTask: one ``createImage`` per arch (``inst_tree`` with ``$arch`` filled in)."""
        return self._governing(
            task_id, name, version, arches, target, opts, "createImage", lambda arch: inst_tree.replace("$arch", arch)
        )

    def livemedia_task(
        self,
        task_id: int,
        name: str,
        version: str,
        arches: list[str],
        target: Any,
        ksfile: str,
        opts: dict[str, Any] | None = None,
    ) -> str:
        """kojid's BuildLiveMediaTask: one ``createLiveMedia`` per arch, each given ``ksfile``."""
        return self._governing(
            task_id, name, version, sorted(set(arches)), target, opts, "createLiveMedia", lambda _: ksfile
        )

    def _governing(
        self,
        task_id: int,
        name: str,
        version: str,
        arches: list[str],
        target: Any,
        opts: dict[str, Any] | None,
        child: str,
        last_arg: Any,
    ) -> str:
        hub, store = self.hub, self.hub.store
        opts = dict(opts or {})
        caller = hub.caller
        assert caller.user_id is not None
        scratch, skip_tag = bool(opts.get("scratch")), bool(opts.get("skip_tag"))
        with store.transaction():
            target_info = self.tags.getBuildTarget(target, strict=True)
            assert target_info is not None
            config = self.tags.getBuildConfig(target_info["build_tag"])
            if not config["arches"]:
                raise koji.BuildError("No arches for tag {name} [{id}]".format(**config))
            tag_arches = [koji.canonArch(a) for a in config["arches"].split()]
            for arch in arches:
                if koji.canonArch(arch) not in tag_arches:
                    raise koji.BuildError(f"Invalid arch for build tag: {arch}")
            release = opts.get("release")
            if child == "createImage":
                if "-" in version:
                    raise koji.ApplianceError("The Version may not have a hyphen")
                if release and "-" in release:
                    raise koji.ApplianceError("The Release may not have a hyphen")
                for fmt in opts.get("format") or []:
                    if fmt not in IMAGE_FORMATS:
                        raise koji.ApplianceError(f"Invalid format: {fmt}")
            if not release:
                release = self.builds.getNextRelease({"name": name, "version": version})
            build_id = None
            if not scratch:
                build_id = self._init_build(task_id, name, version, release, target_info, skip_tag)
            children = [
                self.tasks.create(
                    child,
                    [name, version, release, arch, target_info, target_info["build_tag"], None, last_arg(arch), opts],
                    caller.user_id,
                    parent=task_id,
                    label=arch if child == "createImage" else f"livemedia {arch}",
                    arch=arch,
                    channel="image" if child == "createImage" else "livemedia",
                    weight=2.0 if child == "createImage" else 1.5,
                )
                for arch in arches
            ]
        results = self.tasks.wait(task_id, children)
        failed = [r for r in results.values() if isinstance(r, dict) and "faultCode" in r]
        if failed:
            if build_id is not None:
                with store.transaction():
                    store.execute(
                        "UPDATE builds SET state = ?, completion_ts = ? WHERE id = ?",
                        (koji.BUILD_STATES["FAILED"], time.time(), build_id),
                    )
            raise koji.convertFault(Fault(failed[0]["faultCode"], failed[0]["faultString"]))
        if build_id is None:
            dirs = self._keep_scratch(task_id, children)
            return "Scratch image build results in: " + ", ".join(dirs)
        imagedir = self._import(build_id, children, results)
        if not skip_tag:
            with store.transaction():
                tag_task = self.tasks.create(
                    "tagBuild",
                    [target_info["dest_tag"], build_id, False, None, True],
                    caller.user_id,
                    parent=task_id,
                    label="tag",
                    priority=10,
                    weight=0.1,
                )
            result = self.tasks.wait(task_id, [tag_task])[tag_task]
            if isinstance(result, dict) and "faultCode" in result:
                raise koji.convertFault(Fault(result["faultCode"], result["faultString"]))
        return f"image build results in: {imagedir}"

    def _init_build(
        self, task_id: int, name: str, version: str, release: str, target_info: dict[str, Any], skip_tag: bool
    ) -> int:
        hub, store = self.hub, self.hub.store
        if not skip_tag:
            entry = hub.package_list(target_info["dest_tag"]).get(
                store.value("SELECT id FROM packages WHERE name = ?", (name,))
            )
            if entry is None:
                raise koji.BuildError(f"package (image) {name} not in list for tag {target_info['dest_tag_name']}")
            if entry["blocked"]:
                raise koji.BuildError(f"package (image)  {name} is blocked for tag {target_info['dest_tag_name']}")
        pkg_id = store.value("SELECT id FROM packages WHERE name = ?", (name,))
        if pkg_id is None:
            pkg_id = store.execute("INSERT INTO packages (name) VALUES (?)", (name,)).lastrowid
        existing = hub.build({"name": name, "version": version, "release": release})
        if existing is not None:
            raise koji.GenericError(
                f"Build already exists (id={existing['id']}, state={koji.BUILD_STATES[existing['state']]}): "
                f"{name}-{version}-{release}"
            )
        return store.execute(
            "INSERT INTO builds (pkg_id, version, release, epoch, state, owner_id, task_id, create_event, start_ts) "
            "VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?)",
            (
                pkg_id,
                version,
                release,
                koji.BUILD_STATES["BUILDING"],
                hub.caller.user_id,
                task_id,
                store.event(),
                time.time(),
            ),
        ).lastrowid

    def _import(self, build_id: int, children: list[int], results: dict[int, Any]) -> str:
        """Move each arch's image files into the build's images dir and record them as archives."""
        hub, store = self.hub, self.hub.store
        with store.transaction():
            binfo = hub.build(build_id, strict=True)
            assert binfo is not None
            imagedir = Path(hub.pathinfo.imagebuild(binfo))
            imagedir.mkdir(parents=True, exist_ok=True)
            types = {r["name"]: r["id"] for r in store.rows("SELECT id, name FROM archivetypes")}
            for child in children:
                data = results[child]
                workdir = Path(hub.pathinfo.task(child))
                for filename in data["files"]:
                    dest = imagedir / filename
                    shutil.copy2(workdir / filename, dest)
                    checksum = hashlib.md5(dest.read_bytes()).hexdigest()
                    archive_id = store.execute(
                        "INSERT INTO archives (build_id, type_id, btype, filename, size, checksum, checksum_type, "
                        "arch, extra) VALUES (?, ?, 'image', ?, ?, ?, ?, ?, ?)",
                        (
                            build_id,
                            types[_archive_type(filename)],
                            filename,
                            dest.stat().st_size,
                            checksum,
                            koji.CHECKSUM_TYPES["md5"],
                            data["arch"],
                            json.dumps({"image": {"arch": data["arch"]}}),
                        ),
                    ).lastrowid
                    for rpm in data["rpmlist"]:
                        rinfo = hub.rpm(rpm)
                        if rinfo is not None:
                            store.execute(
                                "INSERT OR IGNORE INTO archive_rpm_components (archive_id, rpm_id) VALUES (?, ?)",
                                (archive_id, rinfo["id"]),
                            )
            store.execute("INSERT OR IGNORE INTO image_builds (build_id) VALUES (?)", (build_id,))
            store.execute(
                "UPDATE builds SET state = ?, completion_ts = ? WHERE id = ?",
                (koji.BUILD_STATES["COMPLETE"], time.time(), build_id),
            )
        return str(imagedir)

    def _keep_scratch(self, task_id: int, children: list[int]) -> list[str]:
        hub = self.hub
        user = hub.caller.user
        assert user is not None
        dest = Path(hub.pathinfo.scratch()) / user["name"] / f"task_{task_id}"
        dest.mkdir(parents=True, exist_ok=True)
        for child in children:
            workdir = Path(hub.pathinfo.task(child))
            for path in workdir.iterdir():
                if path.is_file():
                    shutil.copy2(path, dest / path.name)
        return [str(dest)]

    # --- child tasks ---------------------------------------------------------------------------------------

    def create_image_task(
        self,
        task_id: int,
        name: str,
        version: str,
        release: str,
        arch: str,
        target_info: dict[str, Any],
        build_tag: int,
        repo_info: Any,
        inst_tree: str,
        opts: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """kojid's BaseImageTask (createImage): the kickstart installed, then written in each ``format``."""
        del build_tag, repo_info
        opts = dict(opts or {})
        formats = list(opts.get("format") or ["raw"])
        for fmt in formats:
            if fmt not in IMAGE_FORMATS:
                raise koji.ApplianceError(f"Invalid format: {fmt}")
            if fmt not in imageoutput.DISK_FORMATS:
                raise koji.ApplianceError(f"the sandbox builder does not write {fmt} images")
        distro = str(opts.get("distro") or "")
        if not distro.startswith(_DISTROS):
            raise koji.BuildError(f"Unknown or supported distro given: {distro}")
        if opts.get("ksurl"):
            raise koji.BuildError("the sandbox builder checks out no SCM: upload the kickstart instead of ksurl")
        ksfile = opts.get("kickstart")
        kspath = (Path(self.hub.pathinfo.topdir) / str(ksfile)).resolve() if ksfile else None
        if kspath is None or not kspath.is_file() or Path(self.hub.pathinfo.work()).resolve() not in kspath.parents:
            raise koji.BuildError(f"Kickstart {ksfile} does not exist.")
        imgname = f"{name}-{version}-{release}.{arch}"
        outputs = [(f"{imgname}.{_SUFFIXES[fmt]}", fmt) for fmt in formats]
        log = [f"createImage {imgname} from {target_info['build_tag_name']} (install tree {inst_tree})"]
        return self._make(task_id, name, version, release, arch, kspath, opts, koji.BuildError, outputs, log, True)

    def create_livemedia_task(
        self,
        task_id: int,
        name: str,
        version: str,
        release: str,
        arch: str,
        target_info: dict[str, Any],
        build_tag: int,
        repo_info: Any,
        ksfile: str,
        opts: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """kojid's LiveMediaTask (createLiveMedia): ``<name>-<arch>-<version>-<release>.iso``, the live ISO of a
        plain squashfs root with ``squashfs_only`` (livemedia-creator ``--squashfs-only``), else the installer
        ISO."""
        del build_tag, repo_info
        opts = dict(opts or {})
        if opts.get("ksurl"):
            raise koji.LiveCDError("the sandbox builder checks out no SCM: upload the kickstart instead of ksurl")
        work = Path(self.hub.pathinfo.work()).resolve()
        kspath = (work / ksfile).resolve()
        if not kspath.is_file() or work not in kspath.parents:
            raise koji.BuildError(f"Kickstart {kspath} does not exist.")
        volid = opts.get("volid")
        if volid and len(volid) > 32:
            raise koji.LiveMediaError("volume ID is longer than 32 characters")
        base = f"{name}-{arch}-{version}-{release}"
        squashfs_only = bool(opts.get("squashfs_only"))
        output = (f"{base}.iso", "live-iso" if squashfs_only else "iso")
        flags = "--make-iso --squashfs-only" if squashfs_only else "--make-iso"
        log = [f"livemedia-creator {flags} for {base} from {target_info['build_tag_name']}"]
        return self._make(task_id, name, version, release, arch, kspath, opts, koji.LiveCDError, [output], log, False)

    def _make(
        self,
        task_id: int,
        name: str,
        version: str,
        release: str,
        arch: str,
        kspath: Path,
        opts: dict[str, Any],
        error: type[koji.GenericError],
        outputs: list[tuple[str, str]],
        log_lines: list[str],
        fill_arch: bool,
    ) -> dict[str, Any]:
        """Read the kickstart, install its packages from the task's repositories, write ``outputs`` (file name,
        format: a disk format for image-build, ``iso`` or ``live-iso`` (squashfs-only) for live media)."""
        workdir = self.tasks.workdir(task_id)
        parser = imagecontent.read_kickstart(kspath, opts.get("ksversion"), error)
        shutil.copy2(kspath, workdir / kspath.name)  # kojid uploads the kickstart it read with the task's output
        repos = opts.get("repo") or []
        if isinstance(repos, str):
            repos = repos.split(",")
        if not repos:
            raise koji.BuildError("the sandbox hub has no build repositories of its own: the task needs opts['repo']")
        urls = [r.replace("$arch", arch) if fill_arch else r for r in dict.fromkeys(repos)]
        log_lines += [f"repo --name=koji-override-{i} --baseurl={url}" for i, url in enumerate(urls)]
        available = [pkg for url in urls for pkg in imagecontent.read_repo(url)]
        chosen = imagecontent.resolve(parser, available)
        item = f"{'createImage' if fill_arch else 'createLiveMedia'} task {task_id} ({name}-{version}-{release})"
        with tempfile.TemporaryDirectory(dir=self.tmpdir) as tmp:
            root = Path(tmp) / "root"
            started = time.monotonic()
            try:
                installed = imageoutput.install(chosen, urls, self.gpgkey, root, releasever=version, item=item)
                log_lines += [f"installed {pkg.nvr}.{pkg.arch}" for pkg in installed]
                for broken in self.broken:
                    if (broken.name, broken.version, broken.arch) == (name, version, arch):
                        imageoutput.lose_package(root, broken.drop, item=item)
                        log_lines.append(f"the world's scenario: {broken.drop} lost from the image ({broken.reason})")
                log_lines.append(f"root installed in {time.monotonic() - started:.1f} s")
                if fill_arch:
                    imageoutput.write_disks(root, {fmt: workdir / filename for filename, fmt in outputs}, parser)
                else:
                    [(filename, fmt)] = outputs
                    downloads = Path(tmp) / "rpms"
                    downloads.mkdir()
                    imageoutput.write_livemedia(
                        root,
                        workdir / filename,
                        squashfs_only=fmt == "live-iso",
                        chosen=chosen,
                        downloads=downloads,
                        name=name,
                        version=version,
                        release=release,
                        arch=arch,
                        volid=opts.get("volid"),
                    )
            except imageoutput.BUILD_FAILURES as exc:
                raise error(str(exc) if str(exc).startswith(item) else f"{item}: {exc}") from None
            files = [filename for filename, _ in outputs]
            log_lines += [f"wrote {filename}" for filename in files]
            log_lines.append(f"image task done in {time.monotonic() - started:.1f} s")
        rpms = []
        with self.hub.store.transaction():
            for pkg in installed:
                rinfo = self.hub.rpm(f"{pkg.nvr}.{pkg.arch}")
                if rinfo is None:
                    raise error(f"{item}: the root holds {pkg.nvr}.{pkg.arch}, an RPM Koji does not know")
                rpms.append(rinfo)
        logname = f"oz-{arch}.log" if fill_arch else "livemedia-out.log"
        (workdir / logname).write_text("\n".join(log_lines) + "\n")
        keys = ("name", "version", "release", "arch", "epoch", "size", "payloadhash", "buildtime")
        return {
            "arch": arch,
            "task_id": task_id,
            "logs": [logname, kspath.name],
            "name": name,
            "version": version,
            "release": release,
            # kojid's LiveMediaTask reports no RPMs ("TODO - generate list of rpms in image"); its ImageTask does
            "rpmlist": [] if opts.get("scratch") or not fill_arch else [{k: r[k] for k in keys} for r in rpms],
            "files": files,
        }


class ImageExports:
    def __init__(self, hub: Hub, tasks: TaskManager) -> None:
        self._hub = hub
        self._tasks = tasks

    def buildImageOz(
        self,
        name: str,
        version: str,
        arches: list[str],
        target: Any,
        inst_tree: str,
        opts: dict[str, Any] | None = None,
        priority: int | None = None,
    ) -> int:
        """Start an ``image`` task (``image`` permission). Each call is a new task."""
        _check_strings(name, inst_tree, version)
        _check_opts("image", opts)
        caller = self._hub.caller
        caller.assert_perm("image")
        assert caller.user_id is not None
        return self._tasks.create(
            "image",
            [name, version, arches, target, inst_tree, opts],
            caller.user_id,
            channel="image",
            priority=self._priority(priority),
        )

    def buildImage(
        self,
        name: str,
        version: str,
        arch: Any,
        target: Any,
        ksfile: str,
        img_type: str,
        opts: dict[str, Any] | None = None,
        priority: int | None = None,
    ) -> int:
        """Start a ``livemedia`` task (the image type's permission; kojihub also takes livecd and appliance,
        which the sandbox does not build). Each call is a new task."""
        if img_type not in ("livecd", "appliance", "livemedia"):
            raise koji.GenericError(f"Unrecognized image type: {img_type}")
        _check_strings(name, ksfile, version)
        caller = self._hub.caller
        caller.assert_perm(img_type)
        if img_type != "livemedia":
            raise koji.GenericError(f"the sandbox hub builds no {img_type} images")
        _check_opts("livemedia", opts)
        assert caller.user_id is not None
        return self._tasks.create(
            img_type,
            [name, version, arch, target, ksfile, opts],
            caller.user_id,
            channel="livemedia",
            arch="noarch",
            priority=self._priority(priority),
        )

    def _priority(self, priority: int | None) -> int:
        prio = koji.PRIO_DEFAULT
        if priority:
            if priority < 0 and not self._hub.caller.has_perm("admin"):
                raise koji.ActionNotAllowed("only admins may create high-priority tasks")
            prio += priority
        return prio


def _check_strings(*values: Any) -> None:
    for value in values:
        if not isinstance(value, str):
            raise koji.ParameterError(f"Invalid type for value '{value}': {type(value)}, expected type <str>")


def _check_opts(method: str, opts: Any) -> None:
    """Refuse what the koji CLI never sends (real kojid would ignore it silently: see the module docstring)."""
    if opts is None:
        return
    if not isinstance(opts, dict):
        raise koji.ParameterError(f"Invalid type for opts: {type(opts)}, expected type <dict>")
    unknown = sorted(set(opts) - KOJI_OPTIONS[method])
    if unknown:
        raise koji.ParameterError(
            f"unknown {method} option(s) {', '.join(unknown)} "
            f"(koji's CLI sends only {', '.join(sorted(KOJI_OPTIONS[method]))})"
        )
