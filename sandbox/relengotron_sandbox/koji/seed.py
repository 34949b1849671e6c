"""Fill a fresh hub database from the world (what Koji holds) and the built world (the real RPMs).

Ids are deterministic and follow world order: tags release by release in ``TAG_ROLES`` order, targets one
per release, packages and builds in the order the world lists them, RPMs build by build (src first, as
built). Users: kojiadmin, releng, autosign, bodhi, then the package owners as they first appear.

Tag inheritance follows Fedora's (each role inherits from the first role of its list that the release has):

    updates → build            testing → updates, build          candidate → updates, build
    signing_pending → candidate, updates, build                  pending → build
    quarantine: no parent (rawhide-badnewsbears holds builds kept out of rawhide)

Build targets: ``<release id>-candidate``, building from the release's build tag into its candidate tag,
or its pending tag (rawhide), or its build tag when it has neither.

Package lists: every world package (owner = its owner) is listed on each root tag (the build tag and the
quarantine tag) and inherited from there, as Fedora lists packages on its base tags. Image builds need
their name listed too: each image artifact's name (its file name without arch, version and extension,
e.g. ``Fedora-Cloud-Base`` for ``Fedora-Cloud-Base-24.{arch}.raw.xz``) is listed on its release's build tag
with owner releng.

Every build looks built by Koji from Fedora's dist-git: a CLOSED ``build`` task (from
``git+https://src.fedoraproject.org/rpms/<name>.git#<commit>`` into ``<release>-candidate``), that source, the
dist-git branch in ``extra.source.original_url``, and one buildroot for its RPMs (as the message schemas of
koji-fedoramessaging expect of Fedora's builds).

Every RPM gets Koji's unsigned signature entry (sigkey ``''``) and, when the world signed it, an entry for
the world key whose sighdr is cached under ``data/sigcache`` as ``addRPMSig`` would have.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import koji
from koji.xmlrpcplus import dumps

from relengotron_sandbox.koji.store import Store
from relengotron_sandbox.koji.tasks import CHANNELS
from relengotron_sandbox.rpmdeps import evrcmp
from relengotron_sandbox.world import TAG_ROLES, World

HUB_USERS = ("kojiadmin", "releng", "autosign", "bodhi")
DIST_GIT = "https://src.fedoraproject.org/rpms"
# Koji's permissions, in the order of its schema (so their ids match a fresh real hub).
PERMISSIONS = (
    ("admin", "Full administrator access. Perform all actions."),
    ("appliance", "Create appliance builds - deprecated."),
    ("dist-repo", "Create a dist-repo."),
    ("host", "Add, remove, enable, disable hosts and channels."),
    ("image", "Start image tasks."),
    ("image-import", "Import image archives."),
    ("livecd", "Start livecd tasks."),
    ("maven-import", "Import maven archives."),
    ("repo", "Manage repos: newRepo, repoExpire, repoDelete, repoProblem."),
    ("sign", "Import RPM signatures and write signed RPMs."),
    ("tag", "Manage packages in tags: add, block, remove, and clone tags."),
    ("target", "Add, edit, and remove targets."),
    ("win-admin", 'The default hub policy rule for "vm" requires this permission to trigger Windows builds.'),
    ("win-import", "Import win archives."),
    ("draft-promoter", "The permission required to promote draft builds."),
)
USER_PERMS = {
    "kojiadmin": ("admin",),
    "releng": ("admin",),
    "autosign": ("sign",),
    "bodhi": ("tag", "target"),
}
# The archive types an image build can produce (names, descriptions and extensions as in Koji's schema).
ARCHIVE_TYPES = (
    ("tar", "Tar file", "tar tar.gz tar.bz2 tar.xz tgz", "tar"),
    ("xml", "XML file", "xml", None),
    ("iso", "CD/DVD Image", "iso", None),
    ("raw", "Raw disk image", "raw", None),
    ("qcow2", "QCOW2 image", "qcow2", None),
    ("ks", "Kickstart", "ks", None),
    ("txt", "Text file", "txt", None),
    ("raw-xz", "xz compressed raw disk image", "raw.xz", None),
)
PARENT_ROLES = {
    "stable": ("build",),
    "stable_pending": ("stable", "build"),
    "testing": ("stable", "build"),
    "testing_pending": ("testing", "stable", "build"),
    "candidate": ("stable", "build"),
    "signing_pending": ("candidate", "stable", "build"),
    "pending": ("build",),
}
TARGET_DEST_ROLES = ("candidate", "pending", "build")
_IMAGE_EXT = re.compile(r"(\.raw\.xz|\.tar\.gz|\.tar\.xz|\.qcow2|\.iso|\.raw|\.vhd|\.box)$")


def image_package_name(template: str, version: str) -> str:
    """The Koji package name of an image artifact: ``Fedora-Cloud-Base-24.{arch}.raw.xz`` → ``Fedora-Cloud-Base``."""
    name = _IMAGE_EXT.sub("", template)
    name = re.sub(r"[-.]?\{arch\}", "", name)
    return re.sub(rf"-{re.escape(version)}$", "", name)


def seed(store: Store, world: World, built: Any, topdir: Path) -> None:
    """Fill an empty database. Runs once per state dir (the caller checks ``meta.seeded``)."""
    now = time.time()
    with store.transaction():
        event = store.event()
        for pid, (name, desc) in enumerate(PERMISSIONS, 1):
            store.execute("INSERT INTO permissions (id, name, description) VALUES (?, ?, ?)", (pid, name, desc))
        for tid, (name, desc, ext, comp) in enumerate(ARCHIVE_TYPES, 1):
            store.execute(
                "INSERT INTO archivetypes (id, name, description, extensions, compression_type) VALUES (?, ?, ?, ?, ?)",
                (tid, name, desc, ext, comp),
            )
        users = _seed_users(store, world)
        tags = _seed_tags(store, world)
        _seed_targets(store, world, tags)
        packages = _seed_packages(store, world, tags, users)
        builds = _seed_builds(store, world, built, users, packages, event, topdir, now)
        _seed_listings(store, world, tags, builds, users["kojiadmin"], now)
        store.set_meta("seeded", world.digest)


def _seed_users(store: Store, world: World) -> dict[str, int]:
    users: dict[str, int] = {}
    names = list(HUB_USERS) + [pkg.owner for pkg in world.packages.values()]
    for name in names:
        if name in users:
            continue
        users[name] = store.execute(
            "INSERT INTO users (name, status, usertype) VALUES (?, ?, ?)",
            (name, koji.USER_STATUS["NORMAL"], koji.USERTYPES["NORMAL"]),
        ).lastrowid
    perm_ids = {name: pid for pid, (name, _) in enumerate(PERMISSIONS, 1)}
    for user, perms in USER_PERMS.items():
        for perm in perms:
            store.execute("INSERT INTO user_perms (user_id, perm_id) VALUES (?, ?)", (users[user], perm_ids[perm]))
    return users


def _seed_tags(store: Store, world: World) -> dict[str, int]:
    tags: dict[str, int] = {}
    for rel in world.releases.values():
        for role in TAG_ROLES:
            name = rel.tags.get(role)
            if name is None:
                continue
            root = role in ("build", "quarantine")
            tags[name] = store.execute(
                "INSERT INTO tags (name, arches, locked) VALUES (?, ?, ?)",
                (name, " ".join(rel.arches) if root else None, int(rel.state == "eol")),
            ).lastrowid
        for role, parents in PARENT_ROLES.items():
            child = rel.tags.get(role)
            parent = next((rel.tags[p] for p in parents if p in rel.tags), None)
            if child and parent:
                store.execute(
                    "INSERT INTO tag_inheritance (tag_id, parent_id, priority) VALUES (?, ?, 0)",
                    (tags[child], tags[parent]),
                )
    return tags


def _seed_targets(store: Store, world: World, tags: dict[str, int]) -> None:
    for rel in world.releases.values():
        dest = next(rel.tags[role] for role in TARGET_DEST_ROLES if role in rel.tags)
        store.execute(
            "INSERT INTO build_targets (name, build_tag, dest_tag) VALUES (?, ?, ?)",
            (f"{rel.id}-candidate", tags[rel.tags["build"]], tags[dest]),
        )


def _seed_packages(store: Store, world: World, tags: dict[str, int], users: dict[str, int]) -> dict[str, int]:
    packages: dict[str, int] = {}
    for pkg in world.packages.values():
        packages[pkg.name] = store.execute("INSERT INTO packages (name) VALUES (?)", (pkg.name,)).lastrowid
    for rel in world.releases.values():
        for role in ("build", "quarantine"):
            if role not in rel.tags:
                continue
            for pkg in world.packages.values():
                store.execute(
                    "INSERT INTO tag_packages (tag_id, package_id, owner_id) VALUES (?, ?, ?)",
                    (tags[rel.tags[role]], packages[pkg.name], users[pkg.owner]),
                )
    for art in world.artifacts:
        if not art.image:
            continue
        rel = world.releases[art.release]
        name = image_package_name(art.image, rel.version)
        if name not in packages:
            packages[name] = store.execute("INSERT INTO packages (name) VALUES (?)", (name,)).lastrowid
        store.execute(
            "INSERT OR IGNORE INTO tag_packages (tag_id, package_id, owner_id) VALUES (?, ?, ?)",
            (tags[rel.tags["build"]], packages[name], users["releng"]),
        )
    return packages


def _seed_builds(
    store: Store,
    world: World,
    built: Any,
    users: dict[str, int],
    packages: dict[str, int],
    event: int,
    topdir: Path,
    now: float,
) -> dict[str, int]:
    builds: dict[str, int] = {}
    releases = world.tag_release()
    for buildroot_id, build in enumerate(world.builds(), start=1):
        rpms = built.rpms.get(build.nvr, ())
        if not rpms:
            raise ValueError(f"the built world has no RPMs for build {build.nvr}")
        completion = float(max(r.buildtime for r in rpms))
        branch = releases[build.tags[0]].id if build.tags else "rawhide"
        source, extra = dist_git(build.package, build.nvr, branch)
        task_id = store.execute(
            "INSERT INTO tasks (state, create_ts, start_ts, completion_ts, owner, method, arch, priority, weight, "
            "channel_id, request, result) VALUES (?, ?, ?, ?, ?, 'build', 'noarch', ?, 0.2, ?, ?, ?)",
            (
                koji.TASK_STATES["CLOSED"],
                completion,
                completion,
                completion,
                users[build.owner],
                koji.PRIO_DEFAULT,
                CHANNELS["default"],
                dumps((source, f"{branch}-candidate", {}), methodname="build", allow_none=1),
                dumps((None,), methodresponse=1, allow_none=1),
            ),
        ).lastrowid
        build_id = store.execute(
            "INSERT INTO builds (pkg_id, version, release, epoch, state, owner_id, task_id, create_event, start_ts, "
            "completion_ts, source, extra) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                packages[build.package],
                build.version,
                build.release,
                koji.BUILD_STATES["COMPLETE"],
                users[build.owner],
                task_id,
                event,
                completion,
                completion,
                source,
                json.dumps(extra),
            ),
        ).lastrowid
        builds[build.nvr] = build_id
        for rpm in rpms:
            rpm_id = store.execute(
                "INSERT INTO rpms (build_id, name, version, release, epoch, arch, payloadhash, size, buildtime, "
                "buildroot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    build_id,
                    rpm.name,
                    rpm.version,
                    rpm.release,
                    rpm.epoch,
                    rpm.arch,
                    rpm.payloadhash,
                    rpm.size,
                    rpm.buildtime,
                    buildroot_id,
                ),
            ).lastrowid
            _seed_sigs(store, rpm, rpm_id, built.key_id, topdir)
    return builds


def dist_git(package: str, nvr: str, branch: str) -> tuple[str, dict[str, Any]]:
    """(source, extra) of a build Koji built from Fedora's dist-git: the commit (a stable stand-in derived from
    the NVR) and the branch it was asked for, as ``buildsys.*`` messages carry them."""
    repo = f"git+{DIST_GIT}/{package}.git"
    return f"{repo}#{hashlib.sha1(nvr.encode()).hexdigest()}", {"source": {"original_url": f"{repo}#{branch}"}}


def _seed_sigs(store: Store, rpm: Any, rpm_id: int, key_id: str, topdir: Path) -> None:
    unsigned = topdir / rpm.relpath
    sighdr = koji.rip_rpm_sighdr(str(unsigned))
    store.execute(
        "INSERT INTO rpmsigs (rpm_id, sigkey, sighash) VALUES (?, '', ?)", (rpm_id, hashlib.md5(sighdr).hexdigest())
    )
    if not rpm.signed_relpath:
        return
    signed_hdr = koji.rip_rpm_sighdr(str(topdir / rpm.signed_relpath))
    builddir = unsigned.parent.parent  # packages/<n>/<v>/<r>
    rinfo = {"name": rpm.name, "version": rpm.version, "release": rpm.release, "arch": rpm.arch}
    cache = builddir / koji.pathinfo.sighdr(rinfo, key_id)
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(signed_hdr)
    store.execute(
        "INSERT INTO rpmsigs (rpm_id, sigkey, sighash) VALUES (?, ?, ?)",
        (rpm_id, key_id, hashlib.md5(signed_hdr).hexdigest()),
    )


def _seed_listings(
    store: Store, world: World, tags: dict[str, int], builds: dict[str, int], creator: int, now: float
) -> None:
    """Tag the world's builds, oldest version first, so the highest version is each tag's latest."""
    order = {name: index for index, name in enumerate(world.packages)}

    def compare(a: Any, b: Any) -> int:
        if a.package != b.package:
            return order[a.package] - order[b.package]
        return evrcmp(f"{a.version}-{a.release}", f"{b.version}-{b.release}")

    for build in sorted(world.builds(), key=functools.cmp_to_key(compare)):
        for tag in build.tags:
            event = store.execute("INSERT INTO events (ts) VALUES (?)", (now,)).lastrowid
            store.execute(
                "INSERT INTO tag_listing (tag_id, build_id, create_event, creator_id, active) VALUES (?, ?, ?, ?, 1)",
                (tags[tag], builds[build.nvr], event, creator),
            )
