"""The demo's story, played on the sandbox as Fedora's services would play it: Koji tag operations (whose
``buildsys.tag`` messages the sandbox hub publishes itself) and Bodhi's messages, in Bodhi 2's body shapes,
published with the sandbox's fedmsg config. Nothing here triggers a DAG: the listener's rules decide what runs.

Acts, in order (an act waits for the pushes of the acts it follows, as Bodhi waits for ``push.complete``):

1. **signing** — builds land in ``f24-signing-pending`` and ``f23-signing-pending`` → ``autosign``.
2. **gating** — three Rawhide builds land in ``rawhide-pending``; one has a dependency no build provides →
   ``rawhide_gating`` promotes two and quarantines it.
3. **first push** — Bodhi pushes the stable updates waiting in f23 and f24: nothing of either release was ever
   released in this sandbox, so every artifact is composed; the f24 cloud AMI's boot test fails (the world
   forces it): held back, never synced.
4. **push** — the next Bodhi push, for two releases: f23's batch touches the Atomic Host manifest only, f24's
   the installer ISO only; the other artifacts are skipped as unchanged (the AMI, never released, is composed
   and held back again).
5. **refresh** — docker, a package of the Atomic Host manifest, goes stable in f24
   (``bodhi.update.complete.stable``) → the listener's ostree-refresh rule recomposes that OSTree.

The builders of message bodies are pure (the unit tests route them through the shipped rules).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relengotron.config import Release

BODHI_AGENT = "bodhi"
BODHI_URL = "https://bodhi.fedoraproject.org/updates/"
# Where a build waits before Bodhi moves it into the stable tag, in the order they are looked at.
WAITING_ROLES = ("stable_pending", "testing", "testing_pending", "candidate")


@dataclass(frozen=True)
class UpdateSpec:
    """One Bodhi update of the scenario."""

    release: str
    builds: tuple[str, ...]
    type: str = "bugfix"
    severity: str = "medium"
    bugs: tuple[int, ...] = ()
    notes: str = ""

    @property
    def alias(self) -> str:
        """A stable alias per release and builds (``FEDORA-2016-<10 hex>``), the same in every demo."""
        digest = hashlib.sha1(" ".join((self.release, *self.builds)).encode()).hexdigest()[:10]
        return f"FEDORA-2016-{digest}"

    @property
    def title(self) -> str:
        return " ".join(self.builds)


@dataclass(frozen=True)
class Act:
    """One step of the story: Koji re-tags (a build landing in a tag), then Bodhi's stable requests and
    stable completions. ``after``: acts whose stable requests must have been pushed (``push.complete``) first."""

    key: str
    title: str
    story: str
    after: tuple[str, ...] = ()
    retag: tuple[tuple[str, str], ...] = ()  # (tag, nvr)
    request_stable: tuple[UpdateSpec, ...] = ()
    complete_stable: tuple[UpdateSpec, ...] = ()

    @property
    def aliases(self) -> tuple[str, ...]:
        """The updates this act has pushed: an act that follows it waits for their ``push.complete``."""
        return tuple(u.alias for u in (*self.request_stable, *self.complete_stable))


@dataclass(frozen=True)
class Expected:
    """What the scenario must end with (the integration test and the summary's checks read it)."""

    promoted: tuple[str, ...]
    quarantined: tuple[str, ...]
    signed: dict[str, str] = field(default_factory=dict)  # nvr → the tag it is moved to
    held_back: tuple[str, ...] = ()  # artifact labels


GLIBC = UpdateSpec("f24", ("glibc-2.23.1-8.fc24",), "bugfix", "low", (1300105,), "Fixes a crash in getaddrinfo.")
CURL = UpdateSpec("f24", ("curl-7.47.1-5.fc24",), "security", "high", (), "CVE-2016-5419.")
SUDO = UpdateSpec("f23", ("sudo-1.8.15-2.fc23",), "security", "medium", (), "Fixes a privilege check.")
VIM = UpdateSpec("f23", ("vim-minimal-7.4.1989-2.fc23",), "bugfix", "low", (), "Upstream patch level 1989.")
ANACONDA = UpdateSpec("f24", ("anaconda-24.13.8-1.fc24",), "bugfix", "medium", (), "Fixes btrfs subvolumes.")
DOCKER = UpdateSpec("f24", ("docker-1.10.3-26.fc24",), "security", "high", (), "Fixes a mount leak.")

SCENARIO: tuple[Act, ...] = (
    Act(
        "signing",
        "Signing",
        "Three packagers' builds land in the signing-pending tags: autosign signs them and moves them on.",
        retag=(
            ("f24-signing-pending", "bash-4.3.42-6.fc24"),
            ("f24-signing-pending", "openssh-7.2p2-10.fc24"),
            ("f23-signing-pending", "curl-7.43.0-8.fc23"),
        ),
    ),
    Act(
        "gating",
        "Rawhide gating",
        "Three Rawhide builds land in rawhide-pending; python3-requests needs a urllib3 nobody built.",
        retag=(
            ("rawhide-pending", "coreutils-8.25-15.fc26"),
            ("rawhide-pending", "python3-requests-2.12.1-1.fc26"),
            ("rawhide-pending", "etcd-3.0.15-1.fc26"),
        ),
    ),
    Act(
        "first-push",
        "First push",
        "Bodhi pushes the stable updates of f23 and f24: nothing was released yet, every artifact is composed.",
        request_stable=(SUDO, GLIBC, CURL),
    ),
    Act(
        "push",
        "Push",
        "Bodhi pushes f23 (vim-minimal: Atomic Host only) and f24 (anaconda: installer ISO only).",
        after=("first-push",),
        request_stable=(VIM, ANACONDA),
    ),
    Act(
        "refresh",
        "OSTree refresh",
        "docker's f24 update goes stable; docker is in the Atomic Host manifest, so its OSTree is refreshed.",
        after=("push",),
        complete_stable=(DOCKER,),
    ),
)

EXPECTED = Expected(
    promoted=("coreutils-8.25-15.fc26", "etcd-3.0.15-1.fc26"),
    quarantined=("python3-requests-2.12.1-1.fc26",),
    signed={
        "bash-4.3.42-6.fc24": "f24-updates-testing-pending",
        "openssh-7.2p2-10.fc24": "f24-updates-testing-pending",
        "curl-7.43.0-8.fc23": "f23-updates-testing-pending",
    },
    held_back=("Fedora-Cloud-Base-24.x86_64.raw.xz",),
)


# --------------------------------------------------------------------------- Bodhi 2's message bodies


def bodhi_release(release: Release) -> dict[str, Any]:
    """A release as Bodhi 2 serialises it into update messages (tags from the release configuration)."""
    tags = release.tags
    return {
        "name": release.id.upper(),
        "long_name": release.name,
        "version": release.version,
        "id_prefix": "FEDORA",
        "branch": release.id,
        "dist_tag": release.id,
        "stable_tag": tags.get("stable"),
        "testing_tag": tags.get("testing"),
        "candidate_tag": tags.get("candidate"),
        "pending_stable_tag": tags.get("stable_pending"),
        "pending_testing_tag": tags.get("testing_pending"),
        "override_tag": f"{release.id}-override",
        "state": "current",
        "mail_template": "fedora_errata_template",
    }


def bodhi_update(
    spec: UpdateSpec, release: Release, *, request: str | None, status: str, submitter: str
) -> dict[str, Any]:
    """An update as Bodhi 2 serialises it into its messages."""
    if spec.release != release.id:
        raise ValueError(f"update {spec.alias} is for {spec.release}, not {release.id}")
    return {
        "alias": spec.alias,
        "title": spec.title,
        "type": spec.type,
        "severity": spec.severity,
        "suggest": "unspecified",
        "status": status,
        "request": request,
        "locked": request is not None,
        "pushed": status != "pending",
        "critpath": False,
        "stable_karma": 3,
        "unstable_karma": -3,
        "karma": 3,
        "date_submitted": "2016-06-01 12:00:00",
        "notes": spec.notes,
        "user": {"name": submitter, "id": 1, "avatar": None},
        "release": bodhi_release(release),
        "builds": [{"nvr": nvr, "epoch": 0, "signed": True} for nvr in spec.builds],
        "bugs": [
            {"bug_id": bug, "title": "", "security": spec.type == "security", "parent": False, "feedback": 0}
            for bug in spec.bugs
        ],
        "comments": [],
        "url": BODHI_URL + spec.alias,
    }


def request_stable_body(spec: UpdateSpec, release: Release, submitter: str) -> dict[str, Any]:
    """``bodhi.update.request.stable``: the packager asked for stable; Bodhi's next push takes it."""
    update = bodhi_update(spec, release, request="stable", status="testing", submitter=submitter)
    return {"update": update, "agent": submitter}


def complete_stable_body(spec: UpdateSpec, release: Release, submitter: str) -> dict[str, Any]:
    """``bodhi.update.complete.stable``: the update is in the stable repository."""
    update = bodhi_update(spec, release, request=None, status="stable", submitter=submitter)
    return {"update": update, "agent": BODHI_AGENT}


# --------------------------------------------------------------------------- progress through the acts


def completed_aliases(push_complete_bodies: Iterable[Mapping[str, Any]]) -> set[str]:
    """The updates ``relengotron.push.complete`` messages say were pushed (complete or held back)."""
    done: set[str] = set()
    for body in push_complete_bodies:
        for update in body.get("updates") or []:
            if isinstance(update, Mapping) and isinstance(update.get("alias"), str):
                done.add(update["alias"])
    return done


def ready_acts(acts: Sequence[Act], played: set[str], pushed: set[str]) -> list[Act]:
    """The acts not played yet whose ``after`` acts are played and whose updates were all pushed (pure)."""
    by_key = {act.key: act for act in acts}
    ready = []
    for act in acts:
        if act.key in played:
            continue
        if all(key in played and set(by_key[key].aliases) <= pushed for key in act.after):
            ready.append(act)
    return ready


def waiting_tag(release: Release, tags: set[str]) -> str | None:
    """Which of the release's waiting tags holds a build (``tags``: the build's tags), None if none does."""
    for role in WAITING_ROLES:
        tag = release.tags.get(role)
        if tag and tag in tags:
            return tag
    return None


# --------------------------------------------------------------------------- playing it


class Player:
    """Plays acts on a running sandbox: Koji operations through :class:`relengotron.kojiclient.KojiClient`
    (logged in as releng), Bodhi's messages through a :class:`relengotron.messaging.FedmsgPublisher` built from
    the sandbox's fedmsg config. Not idempotent: every act played again sends its messages again."""

    def __init__(self, koji: Any, publisher: Any, releases: Mapping[str, Release]) -> None:
        self.koji = koji
        self.publisher = publisher
        self.releases = releases

    def play(self, act: Act) -> list[str]:
        """Do what ``act`` says; one line per thing done, for the terminal."""
        lines: list[str] = []
        for tag, nvr in act.retag:
            self.koji.untag_build(tag, nvr)
            self.koji.tag_build(tag, nvr)
            lines.append(f"koji: {nvr} tagged into {tag}")
        for topic, specs in (
            ("update.request.stable", act.request_stable),
            ("update.complete.stable", act.complete_stable),
        ):
            for spec in specs:
                release = self.releases[spec.release]
                lines += self._to_stable(spec, release)
                submitter = self._owner(spec.builds[0])
                body = (request_stable_body if topic.endswith("request.stable") else complete_stable_body)(
                    spec, release, submitter
                )
                self.publisher.publish("bodhi", topic, body)
                lines.append(f"bodhi: {topic} {spec.alias} ({spec.title})")
        return lines

    def _to_stable(self, spec: UpdateSpec, release: Release) -> list[str]:
        """Bodhi moves the update's builds into the release's stable tag (builds already there stay)."""
        stable = release.tag("stable")
        lines = []
        for nvr in spec.builds:
            tags = self.koji.tags_of(nvr)
            if stable in tags:
                continue
            source = waiting_tag(release, tags)
            if source is None:
                raise ValueError(f"update {spec.alias}: {nvr} is in none of {release.id}'s waiting tags ({tags})")
            self.koji.move_build(source, stable, nvr)
            lines.append(f"koji: {nvr} moved {source} → {stable}")
        return lines

    def _owner(self, nvr: str) -> str:
        build = self.koji.builds([nvr])[nvr]
        return build.owner or "releng"
