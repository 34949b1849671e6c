"""Dist repos: ``distRepo(tag, keys, **opts)`` → a ``distRepo`` task writing a yum repository of the tag's signed RPMs.

As Koji's (kojihub ``distRepo``/``dist_repo_init``, kojid ``DistRepoTask``/``createDistRepoTask``): the repo gets
an id and a directory ``repos-dist/<tag>/<repo id>/<arch>/`` under the topdir (served under topurl, where the
builders read it), with ``Packages/<first letter>/`` and ``repodata/`` (createrepo_c). For each arch of
``opts['arch']`` it holds the arch's and the noarch RPMs of the tag's latest builds (``latest``, ``inherit``) in
their copies signed with the first of ``keys`` Koji has a signature of; an RPM with none of them fails the task
("Unsigned packages found", as kojid without ``allow_missing_signatures``). ``repos-dist/<tag>/latest`` points at
the newest. The sandbox leaves debuginfo out (kojid would put it in a ``debug`` subrepo with
``split_debuginfo``): images never install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import koji

from relengotron.mash import is_debug
from relengotron_sandbox.koji.hub import Hub
from relengotron_sandbox.koji.tagged import read_tagged_builds
from relengotron_sandbox.koji.tasks import TaskManager

# kojihub's dist_repo_init reads these task_opts; the CLI sends the rest of koji dist-repo's options too.
KNOWN_OPTS = frozenset(
    {
        "arch",
        "comps",
        "delta",
        "event",
        "volume",
        "inherit",
        "multilib",
        "split_debuginfo",
        "skip_missing_signatures",
        "allow_missing_signatures",
        "zck",
        "zck_dict_dir",
        "write_signed_rpms",
        "latest",
        "createrepo_skip_stat",
    }
)
UNSUPPORTED = ("comps", "delta", "multilib", "volume", "zck", "zck_dict_dir", "event")


class DistRepoExports:
    def __init__(self, hub: Hub, tasks: TaskManager) -> None:
        self._hub = hub
        self._tasks = tasks

    def distRepo(self, tag: Any, keys: list[str], **task_opts: Any) -> int:
        """Create the repo (state INIT) and its ``distRepo`` task (``dist-repo`` permission). Each call is new."""
        hub, store = self._hub, self._hub.store
        caller = hub.caller
        caller.assert_perm("dist-repo")
        if not isinstance(keys, list):
            raise koji.ParameterError(f"Invalid type for value '{keys}': {type(keys)}, expected type <list>")
        unknown = sorted(set(task_opts) - KNOWN_OPTS)
        if unknown:
            raise koji.ParameterError(f"distRepo: unexpected option(s) {', '.join(unknown)}")
        given = sorted(k for k in UNSUPPORTED if task_opts.get(k))
        if given:
            raise koji.GenericError(f"the sandbox hub does not make dist repos with {', '.join(given)}")
        if "arch" not in task_opts:
            raise koji.GenericError("distRepo needs opts['arch'] (the koji CLI always sends it)")
        info = hub.tag(tag, strict=True)
        assert info is not None and caller.user_id is not None
        arches = sorted({koji.canonArch(a) for a in task_opts["arch"]})
        event = store.event()
        repo_id = store.execute(
            "INSERT INTO repos (tag_id, create_event, state, dist) VALUES (?, ?, ?, 1)",
            (info["id"], event, koji.REPO_STATES["INIT"]),
        ).lastrowid
        for arch in arches:
            (Path(hub.pathinfo.distrepo(repo_id, info["name"])) / arch).mkdir(parents=True, exist_ok=True)
        opts = {**task_opts, "arch": arches, "event": event}
        return self._tasks.create(
            "distRepo", [info["name"], repo_id, keys, opts], caller.user_id, channel="createrepo", priority=15
        )


class DistRepoBuilder:
    """The ``distRepo`` task handler."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def dist_repo_task(self, task_id: int, tag: str, repo_id: int, keys: list[str], opts: dict[str, Any]) -> None:
        del task_id
        hub = self.hub
        keys = [k.lower() for k in keys]
        repodir = Path(hub.pathinfo.distrepo(repo_id, tag))
        try:
            for arch in opts["arch"]:
                self._write_arch(repodir / arch, tag, arch, keys, opts)
        except Exception:
            with hub.store.transaction():
                hub.store.execute("UPDATE repos SET state = ? WHERE id = ?", (koji.REPO_STATES["PROBLEM"], repo_id))
            raise
        latest = repodir.parent / "latest"
        tmp = repodir.parent / f".latest.{repo_id}"
        tmp.unlink(missing_ok=True)
        os.symlink(str(repo_id), tmp)
        os.replace(tmp, latest)
        with hub.store.transaction():
            hub.store.execute("UPDATE repos SET state = ? WHERE id = ?", (koji.REPO_STATES["READY"], repo_id))

    def _write_arch(self, dest: Path, tag: str, arch: str, keys: list[str], opts: dict[str, Any]) -> None:
        hub = self.hub
        picked: list[tuple[str, Path]] = []
        missing: list[str] = []
        with hub.store.transaction():
            info = hub.tag(tag, strict=True)
            assert info is not None
            builds = read_tagged_builds(
                hub, info["id"], inherit=bool(opts.get("inherit")), latest=opts.get("latest", True), type="rpm"
            )
            for build in builds:
                builddir = Path(hub.pathinfo.build(build))
                for row in hub.store.rows(
                    f"{hub.RPM_SQL} WHERE build_id = ? AND arch IN ('noarch', ?) ORDER BY id", (build["id"], arch)
                ):
                    rinfo = hub.rpm_dict(row)
                    if is_debug(rinfo["name"]):
                        continue
                    sigs = {
                        r["sigkey"].lower()
                        for r in hub.store.rows("SELECT sigkey FROM rpmsigs WHERE rpm_id = ?", (rinfo["id"],))
                    }
                    key = next((k for k in keys if k in sigs), None)
                    signed = builddir / hub.pathinfo.signed(rinfo, key) if key else None
                    nvra = "{name}-{version}-{release}.{arch}".format(**rinfo)
                    if signed is None or not signed.is_file():
                        missing.append(f"{nvra} (signed by: {', '.join(sorted(sigs)) or 'none'})")
                        continue
                    picked.append((f"{nvra}.rpm", signed))
        if missing and not opts.get("allow_missing_signatures"):
            raise koji.GenericError(
                f"Unsigned packages found (keys {', '.join(keys)}): {', '.join(missing[:10])}"
                + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            )
        for filename, source in picked:
            target = dest / "Packages" / filename[0].lower() / filename
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)
        proc = subprocess.run(["createrepo_c", "--quiet", str(dest)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise koji.GenericError(f"createrepo_c failed for {dest}: {proc.stderr.strip()}")
