"""The world's Bodhi updates: what the sandbox Bodhi holds when the sandbox starts.

A world file's ``updates`` list names, per update, its alias, release, builds (NVRs of the world's Koji), type,
severity, status and request, bugs and notes. Loading checks each against the rest of the world (the builds
exist and are tagged in the update's release, the release has every tag Bodhi needs, the bugs exist, no build
is in two updates) and names the file, the line and the item of the first error. Pure: no service is touched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from relengotron.yamlfile import Fields

# Bodhi's enums (bodhi-server models.py: UpdateType, UpdateSeverity, UpdateStatus, UpdateRequest).
UPDATE_TYPES = ("bugfix", "security", "newpackage", "enhancement")
SEVERITIES = ("unspecified", "urgent", "high", "medium", "low")
STATUSES = ("pending", "testing", "stable", "unpushed", "obsolete")
REQUESTS = ("testing", "stable")
# The release configuration's tag roles a Bodhi release needs (its candidate_tag, pending_signing_tag, ...).
BODHI_TAG_ROLES = ("candidate", "signing_pending", "testing_pending", "testing", "stable_pending", "stable")
ALIAS = re.compile(r"^FEDORA-\d{4}-[0-9a-f]{10}$")
SUBMITTED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
DEFAULT_SUBMITTED = "2016-06-01 12:00:00"


@dataclass(frozen=True)
class WorldUpdate:
    alias: str  # FEDORA-<year>-<10 hex>
    release: str  # the world's release id (f24)
    builds: tuple[str, ...]  # NVRs
    type: str
    severity: str
    status: str
    request: str | None
    notes: str
    bugs: tuple[int, ...]
    user: str  # the submitter (a package owner of the world)
    submitted: str  # "YYYY-MM-DD HH:MM:SS", Bodhi's date format

    @property
    def title(self) -> str:
        """Bodhi's title: the NVRs sorted and joined by spaces (``Update.get_title()``)."""
        return " ".join(sorted(self.builds))


def bodhi_releases(release_tags: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The world's releases Bodhi manages: those with every tag Bodhi needs (Rawhide has none of them)."""
    return [rel for rel, tags in release_tags.items() if all(role in tags for role in BODHI_TAG_ROLES)]


def parse_updates(
    top: Fields,
    release_tags: Mapping[str, Mapping[str, str]],
    build_release: Mapping[str, str],
    owners: Mapping[str, str],
    bug_ids: set[int],
) -> tuple[WorldUpdate, ...]:
    """The ``updates`` list of a world file, validated against the world.

    ``release_tags``: release id → tag role → tag; ``build_release``: NVR → the release its tags belong to;
    ``owners``: NVR → its package's owner; ``bug_ids``: the world's bugs.
    """
    managed = set(bodhi_releases(release_tags))
    updates: list[WorldUpdate] = []
    aliases: set[str] = set()
    taken: dict[str, str] = {}  # NVR → alias of the update holding it
    for _, uf in top.items("updates", []):
        alias = uf.text("alias")
        if not ALIAS.match(alias):
            raise uf.error("alias", f"bad alias {alias!r} (FEDORA-<year>-<10 hex digits>)")
        if alias in aliases:
            raise uf.error("alias", f"duplicate update {alias}")
        release = uf.text("release")
        if release not in release_tags:
            raise uf.error("release", f"unknown release {release!r}")
        if release not in managed:
            missing = [r for r in BODHI_TAG_ROLES if r not in release_tags[release]]
            raise uf.error("release", f"release {release} has no {', '.join(missing)} tag: Bodhi cannot manage it")
        builds = tuple(uf.strings("builds"))
        if not builds:
            raise uf.error("builds", "an update needs at least one build")
        for index, nvr in enumerate(builds):
            if nvr not in build_release:
                raise uf.item_error("builds", index, f"unknown build {nvr!r}")
            if build_release[nvr] != release:
                raise uf.item_error("builds", index, f"{nvr} is tagged in {build_release[nvr]}, not {release}")
            if nvr in taken:
                raise uf.item_error("builds", index, f"{nvr} is already in update {taken[nvr]}")
            taken[nvr] = alias
        status = uf.choice("status", STATUSES, "pending")
        request = uf.get("request", str, None)
        if request is not None and request not in REQUESTS:
            raise uf.error("request", f"must be one of {', '.join(REQUESTS)}, not {request!r}")
        if request is not None and request == status:
            raise uf.error("request", f"an update in {status} cannot be requested for {request}")
        bugs = tuple(uf.get("bugs", list, []))
        for index, bug in enumerate(bugs):
            if isinstance(bug, bool) or not isinstance(bug, int) or bug not in bug_ids:
                raise uf.item_error("bugs", index, f"unknown bug {bug!r}")
        submitted = uf.text("submitted", DEFAULT_SUBMITTED)
        if not SUBMITTED.match(submitted):
            raise uf.error("submitted", f"bad date {submitted!r} (YYYY-MM-DD HH:MM:SS)")
        update = WorldUpdate(
            alias=alias,
            release=release,
            builds=builds,
            type=uf.choice("type", UPDATE_TYPES, "bugfix"),
            severity=uf.choice("severity", SEVERITIES, "unspecified"),
            status=status,
            request=request,
            notes=uf.get("notes", str, ""),
            bugs=bugs,
            user=uf.text("user", owners[builds[0]]),
            submitted=submitted,
        )
        uf.done()
        aliases.add(alias)
        updates.append(update)
    return tuple(updates)
