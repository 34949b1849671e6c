"""Image builds: ``buildImageOz`` → an ``image`` task with one ``createImage`` child per arch.

What the sandbox's image task does, in Koji's task layout (kojid's BuildBaseImageTask/BaseImageTask):

- ``image`` (parent): checks the target and arches, creates the image build (``<name>-<version>-<release>``,
  release from ``opts['release']`` or the next free one) in state BUILDING unless ``opts['scratch']``, runs
  the ``createImage`` children, imports their files as image archives under
  ``packages/<name>/<version>/<release>/images/`` (listArchives, served under /kojifiles), completes the
  build and tags it into the target's destination tag with a ``tagBuild`` child (unless ``skip_tag``).
  Scratch images are not imported: their files go to ``scratch/<user>/task_<id>/``. Result: the text
  ``image build results in: <dir>``, as kojid's.
- ``createImage`` (per arch): the image content is the latest builds of the target's build tag (with
  inheritance) — or, when ``opts['packages']`` lists package names, the latest build of each of those —
  unpacked from their RPMs into a tree with a manifest (see imagefile) and packed as each of
  ``opts['format']`` (``raw`` by default as in Koji; ``raw-xz``, ``tar-gz``) into
  ``<name>-<version>-<release>.<arch>.<ext>``. ``inst_tree`` is recorded but not read. Result: kojid's dict
  (arch, task_id, logs, name, version, release, rpmlist, files).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import koji
from koji.xmlrpcplus import Fault

from relengotron.mash import is_debug
from relengotron_sandbox.koji import imagefile
from relengotron_sandbox.koji.builds import BuildExports
from relengotron_sandbox.koji.hub import Hub
from relengotron_sandbox.koji.tagged import read_tagged_builds
from relengotron_sandbox.koji.tags import TagExports
from relengotron_sandbox.koji.tasks import TaskManager

_ARCHIVE_TYPES = {"raw": "raw", "raw-xz": "raw-xz", "tar-gz": "tar"}


class ImageBuilder:
    """The task handlers for ``image`` and ``createImage``."""

    def __init__(self, hub: Hub, tasks: TaskManager, tags: TagExports, builds: BuildExports, tmpdir: Path) -> None:
        self.hub = hub
        self.tasks = tasks
        self.tags = tags
        self.builds = builds
        self.tmpdir = tmpdir

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
            if "-" in version:
                raise koji.ApplianceError("The Version may not have a hyphen")
            if release and "-" in release:
                raise koji.ApplianceError("The Release may not have a hyphen")
            for fmt in opts.get("format") or []:
                if fmt not in imagefile.FORMATS:
                    raise koji.ApplianceError(f"Invalid format: {fmt}")
            if not release:
                release = self.builds.getNextRelease({"name": name, "version": version})
            build_id = None
            if not scratch:
                build_id = self._init_build(task_id, name, version, release, target_info, skip_tag)
            children = [
                self.tasks.create(
                    "createImage",
                    [
                        name,
                        version,
                        release,
                        arch,
                        target_info,
                        target_info["build_tag"],
                        None,
                        inst_tree.replace("$arch", arch),
                        opts,
                    ],
                    caller.user_id,
                    parent=task_id,
                    label=arch,
                    arch=arch,
                    channel="image",
                    weight=2.0,
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
                    fmt = next(f for f, (ext, _) in imagefile.FORMATS.items() if filename.endswith(f".{ext}"))
                    dest = imagedir / filename
                    shutil.copy2(workdir / filename, dest)
                    checksum = hashlib.md5(dest.read_bytes()).hexdigest()
                    archive_id = store.execute(
                        "INSERT INTO archives (build_id, type_id, btype, filename, size, checksum, checksum_type, "
                        "arch, extra) VALUES (?, ?, 'image', ?, ?, ?, ?, ?, ?)",
                        (
                            build_id,
                            types[_ARCHIVE_TYPES[fmt]],
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

    # --- child task ---------------------------------------------------------------------------------------

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
        opts = dict(opts or {})
        formats = list(opts.get("format") or ["raw"])
        for fmt in formats:
            if fmt not in imagefile.FORMATS:
                raise koji.ApplianceError(f"Invalid format: {fmt}")
        imgname = f"{name}-{version}-{release}.{arch}"
        workdir = self.tasks.workdir(task_id)
        logname = f"oz-{arch}.log"
        log_lines = [f"createImage {imgname} from {target_info['build_tag_name']} (install tree {inst_tree})"]
        rpms = self._select_rpms(build_tag, arch, opts.get("packages"))
        with tempfile.TemporaryDirectory(dir=self.tmpdir) as tmp:
            tree = Path(tmp) / "tree"
            tree.mkdir()
            for rpm, path in rpms:
                count = imagefile.unpack_rpm(path, tree)
                log_lines.append(
                    f"installed {rpm['name']}-{rpm['version']}-{rpm['release']}.{rpm['arch']} ({count} entries)"
                )
            imagefile.write_manifest(tree, (f"{r['name']}-{r['version']}-{r['release']}.{r['arch']}" for r, _ in rpms))
            files = []
            for fmt in formats:
                filename = f"{imgname}.{imagefile.FORMATS[fmt][0]}"
                imagefile.pack_tree(tree, workdir / filename, fmt)
                log_lines.append(f"wrote {filename}")
                files.append(filename)
        (workdir / logname).write_text("\n".join(log_lines) + "\n")
        rpmlist = [
            {k: rpm[k] for k in ("name", "version", "release", "arch", "epoch", "size", "payloadhash", "buildtime")}
            for rpm, _ in rpms
        ]
        return {
            "arch": arch,
            "task_id": task_id,
            "logs": [logname],
            "name": name,
            "version": version,
            "release": release,
            "rpmlist": [] if opts.get("scratch") else rpmlist,
            "files": files,
        }

    def _select_rpms(self, build_tag: int, arch: str, packages: list[str] | None) -> list[tuple[dict[str, Any], Path]]:
        hub = self.hub
        with hub.store.transaction():
            tag = hub.tag(build_tag, strict=True)
            assert tag is not None
            latest = read_tagged_builds(hub, build_tag, inherit=True, latest=True, type="rpm")
            by_name = {b["name"]: b for b in latest}
            if packages:
                missing = [p for p in packages if p not in by_name]
                if missing:
                    raise koji.BuildError(f"No build of {', '.join(missing)} in tag {tag['name']}")
                chosen = [by_name[p] for p in packages]
            else:
                chosen = latest
            out = []
            for build in chosen:
                builddir = Path(hub.pathinfo.build(build))
                for row in hub.store.rows(
                    f"{hub.RPM_SQL} WHERE build_id = ? AND arch IN ('noarch', ?) ORDER BY id", (build["id"], arch)
                ):
                    rinfo = hub.rpm_dict(row)
                    if is_debug(rinfo["name"]):  # an installer installs packages, never their debuginfo
                        continue
                    out.append((rinfo, builddir / hub.pathinfo.rpm(rinfo)))
        return out


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
        for value in (name, inst_tree, version):
            if not isinstance(value, str):
                raise koji.ParameterError(f"Invalid type for value '{value}': {type(value)}, expected type <str>")
        caller = self._hub.caller
        caller.assert_perm("image")
        prio = koji.PRIO_DEFAULT
        if priority:
            if priority < 0 and not caller.has_perm("admin"):
                raise koji.ActionNotAllowed("only admins may create high-priority tasks")
            prio += priority
        assert caller.user_id is not None
        return self._tasks.create(
            "image", [name, version, arches, target, inst_tree, opts], caller.user_id, channel="image", priority=prio
        )
