"""The demo's story, played on the sandbox as Fedora's people and services play it: Koji tag operations (whose
``buildsys.tag`` messages the sandbox hub publishes itself) and ``bodhi-push`` runs on the sandbox Bodhi
(``POST /_sandbox/push``), which announces each push on the bus as Bodhi does (docs/bodhi-handshake.md).
Nothing here publishes a message or triggers a DAG: Koji and Bodhi publish, the listener's rules decide what runs.

Acts, in order (an act that pushes waits, as ``bodhi-push`` does, until Bodhi has finished the pushes before it:
their updates pushed and no compose left — ``push.complete`` alone is not enough, Bodhi finishes after it):

1. **signing** — builds land in ``f24-signing-pending`` and ``f23-signing-pending`` → ``autosign``.
2. **gating** — three Rawhide builds land in ``rawhide-pending``; one has a dependency no build provides →
   ``rawhide_gating`` gates each on its own: two promoted, that one quarantined.
3. **first push** — ``bodhi-push`` of the stable updates of f23 (sudo) and f24 (glibc, curl): Bodhi publishes
   ``bodhi.compose.start`` and one ``bodhi.compose.composing`` per compose → one ``updates_push`` run each.
   Nothing of either release was released yet, so every artifact is composed; the f24 cloud AMI's boot test
   fails (the world forces it): held back, never synced. Bodhi finishes on ``relengotron.push.complete``.
4. **second push** — f23's vim-minimal (in the Atomic Host only) and f24's anaconda (in the installer ISO only);
   the other artifacts are skipped as unchanged (the AMI, never released, is composed and held back again).
5. **Bodhi 2 push** — docker (f24, in the Atomic Host manifest) pushed as Bodhi 2 did: one
   ``bodhi.masher.start`` → ``masher_start`` → one ``updates_push`` run for f24 that recomposes the Atomic Host.

The story's data and its progress rules are pure (the unit tests route the sandbox Bodhi's bodies through the
shipped rules); :class:`Player` does the acts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

AGENT = "releng"  # who runs bodhi-push (the sandbox provider's default user)
PUSHED_COMMENT = "This update has been pushed to "  # how Bodhi's comment on a finished update begins


@dataclass(frozen=True)
class Update:
    """One of the world's Bodhi updates (worlds/fedora.yaml ``updates``) that the story pushes."""

    alias: str
    release: str
    builds: tuple[str, ...]

    @property
    def title(self) -> str:
        """Bodhi's title: the NVRs sorted and joined by spaces (how compose.composing names the update)."""
        return " ".join(sorted(self.builds))


@dataclass(frozen=True)
class BodhiPush:
    """One ``bodhi-push --yes`` of chosen updates (by alias) for one request; ``bodhi2``: announced with Bodhi 2's
    ``bodhi.masher.start`` instead of ``bodhi.compose.start`` and one ``bodhi.compose.composing`` per compose."""

    updates: tuple[Update, ...]
    request: str = "stable"
    bodhi2: bool = False

    @property
    def releases(self) -> list[str]:
        return sorted({u.release for u in self.updates})

    @property
    def aliases(self) -> list[str]:
        return [u.alias for u in self.updates]


@dataclass(frozen=True)
class Act:
    """One step of the story: Koji re-tags (a build landing in a tag), then a Bodhi push. ``after``: the acts
    whose pushes Bodhi must have finished first."""

    key: str
    title: str
    story: str
    after: tuple[str, ...] = ()
    retag: tuple[tuple[str, str], ...] = ()  # (tag, nvr)
    push: BodhiPush | None = None
    stable_requests: tuple[str, ...] = ()  # aliases whose submitter asks for stable first (bodhi updates request)

    @property
    def aliases(self) -> tuple[str, ...]:
        """The updates this act pushes: an act that follows it waits until Bodhi has finished them."""
        return tuple(self.push.aliases) if self.push else ()


@dataclass(frozen=True)
class Expected:
    """What the scenario must end with (the integration test and the summary's checks read it)."""

    promoted: tuple[str, ...]
    quarantined: tuple[str, ...]
    signed: dict[str, str] = field(default_factory=dict)  # nvr → the tag it is moved to
    held_back: tuple[str, ...] = ()  # artifact labels
    pushed: tuple[str, ...] = ()  # aliases Bodhi must show pushed to stable, request cleared
    held_back_in: dict[str, tuple[str, ...]] = field(default_factory=dict)  # alias → labels its comment names
    bugs_closed: dict[int, str] = field(default_factory=dict)  # bug → the alias whose push closes it


SUDO = Update("FEDORA-2016-f976b705cc", "f23", ("sudo-1.8.15-2.fc23",))
GLIBC = Update("FEDORA-2016-1d1d97e08f", "f24", ("glibc-2.23.1-8.fc24",))
CURL = Update("FEDORA-2016-3529251174", "f24", ("curl-7.47.1-5.fc24",))
VIM = Update("FEDORA-2016-ae02ecfbd5", "f23", ("vim-minimal-7.4.1989-2.fc23",))
ANACONDA = Update("FEDORA-2016-d9f90dc905", "f24", ("anaconda-24.13.8-1.fc24",))
DOCKER = Update("FEDORA-2016-110e4b3ae2", "f24", ("docker-1.10.3-26.fc24",))
AMI_24 = "Fedora-Cloud-Base-24.x86_64.raw.xz"

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
        "bodhi-push of the stable updates of f23 (sudo) and f24 (glibc, curl): one compose each, nothing was "
        "released yet, so every artifact is composed.",
        push=BodhiPush((SUDO, GLIBC, CURL)),
    ),
    Act(
        "push",
        "Second push",
        "bodhi-push of f23's vim-minimal (Atomic Host only) and f24's anaconda (installer ISO only).",
        after=("first-push",),
        push=BodhiPush((VIM, ANACONDA)),
    ),
    Act(
        "bodhi2",
        "Bodhi 2 push",
        "docker (f24, in the Atomic Host) pushed as Bodhi 2 did: one masher.start, split by masher_start.",
        after=("push",),
        push=BodhiPush((DOCKER,), bodhi2=True),
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
    held_back=(AMI_24,),
    pushed=tuple(alias for act in SCENARIO for alias in act.aliases),
    held_back_in={GLIBC.alias: (AMI_24,), CURL.alias: (AMI_24,)},  # the f24 AMI carries glibc and curl
    bugs_closed={1300103: DOCKER.alias},  # docker's daemon leaked mounts
)


# --------------------------------------------------------------------------- progress through the acts


def finished(update: Mapping[str, Any], request: str = "stable") -> bool:
    """Whether Bodhi has finished pushing ``update`` (its JSON) to ``request``: pushed, in that status, its
    request cleared (pure)."""
    return bool(update.get("pushed")) and update.get("status") == request and update.get("request") is None


def finished_aliases(updates: Iterable[Mapping[str, Any]]) -> set[str]:
    """The aliases of the updates (Bodhi's JSON) Bodhi has finished pushing to stable (pure)."""
    return {str(u["alias"]) for u in updates if finished(u)}


def ready_acts(acts: Sequence[Act], played: set[str], done: set[str], *, composing: bool = False) -> list[Act]:
    """The acts not played yet whose ``after`` acts are played and whose updates Bodhi has finished (``done``);
    while Bodhi still has composes (``composing``), no act that pushes (``bodhi-push`` would resume those
    composes instead of pushing its own). Pure."""
    by_key = {act.key: act for act in acts}
    ready = []
    for act in acts:
        if act.key in played or (act.push is not None and composing):
            continue
        if all(key in played and set(by_key[key].aliases) <= done for key in act.after):
            ready.append(act)
    return ready


def pushed_comment(update: Mapping[str, Any]) -> str | None:
    """The newest comment Bodhi's composer wrote on ``update`` (its JSON) when it finished a push (pure)."""
    for comment in reversed(update.get("comments") or []):
        user = (comment.get("user") or {}).get("name")
        if user == "bodhi" and str(comment.get("text", "")).startswith(PUSHED_COMMENT):
            return str(comment["text"])
    return None


# --------------------------------------------------------------------------- playing it


class Player:
    """Plays acts on a running sandbox: Koji operations through :class:`relengotron.kojiclient.KojiClient`
    (logged in as releng), pushes through :class:`relengotron_sandbox.bodhi.api.SandboxBodhi` (``bodhi-push``).
    Not idempotent: an act played again tags and pushes again."""

    def __init__(self, koji: Any, bodhi: Any, agent: str = AGENT, as_user: Callable[[str], Any] | None = None) -> None:
        self.koji = koji
        self.bodhi = bodhi
        self.agent = agent
        self.as_user = as_user  # user → a SandboxBodhi logged in as them (for stable requests)

    def play(self, act: Act) -> list[str]:
        """Do what ``act`` says; one line per thing done, for the terminal. A :class:`ValueError` when Bodhi
        did not compose exactly the updates the act pushes (one unsigned, not requested, or composes resumed)."""
        lines: list[str] = []
        for tag, nvr in act.retag:
            self.koji.untag_build(tag, nvr)
            self.koji.tag_build(tag, nvr)
            lines.append(f"koji: {nvr} tagged into {tag}")
        for alias in act.stable_requests:
            lines.append(self._request_stable(alias))
        if act.push is not None:
            lines += self._push(act.push)
        return lines

    def _request_stable(self, alias: str) -> str:
        """``bodhi updates request ALIAS stable``, as the update's submitter."""
        if self.as_user is None:
            raise ValueError(f"{alias}: a stable request needs a Bodhi login (Player(as_user=...))")
        [update] = self.bodhi.updates(updateid=alias)
        submitter = str(update["user"]["name"])
        self.as_user(submitter).request(alias, "stable")
        return f"bodhi updates request {alias} stable (as {submitter})"

    def _push(self, push: BodhiPush) -> list[str]:
        result = self.bodhi.push(
            agent=self.agent,
            releases=push.releases,
            requests_=[push.request],
            updates=push.aliases,
            bodhi2=push.bodhi2,
        )
        composed = {s["alias"] for c in result["composes"] for s in c.get("update_summary") or []}
        if result.get("resumed") or composed != set(push.aliases):
            raise ValueError(
                f"bodhi-push composed {sorted(composed)} (resumed: {bool(result.get('resumed'))}), not "
                f"{sorted(push.aliases)}; unsigned: {result.get('unsigned') or 'none'}"
            )
        how = "--bodhi2 (bodhi.masher.start)" if push.bodhi2 else "(bodhi.compose.start, compose.composing)"
        lines = [f"bodhi-push --releases {','.join(push.releases)} --request {push.request} {how}"]
        for compose in result["composes"]:
            titles = ", ".join(f"{s['alias']} {s['title']}" for s in compose["update_summary"])
            lines.append(f"  compose {compose['release']['name']} {compose['request']}: {titles}")
        return lines
