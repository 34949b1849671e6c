"""Automatic signing of builds waiting for a signature: the decisions, pure (no I/O).

A packager's update builds wait in the release's signing-pending tag until they are signed with the release's
key; then they move on along the release's signing chain (``fNN-signing-pending → fNN-updates-testing-pending``,
from the release configuration) where Bodhi can push them. This module decides, from what Koji says, which
builds a run works on (:func:`select`) and what happens to each one (:func:`plan_build`):

* **done** — nothing to do: the build is already in the chain's next tag (and no longer waiting), or it left
  the signing-pending tag with every RPM carrying the release key;
* **sign** — sign the RPMs Koji has no signature of the release key for (possibly none: a run interrupted
  between signing and moving only finishes the move), record the signed copies in Koji, verify, move;
* **refuse** — leave the build where it is and say why: its tag has no signing key configured, one of its
  RPMs is signed with a different key, the key is not available to the signer, it is not waiting for
  signing at all (a named build in neither place), it has no RPMs, or no chain step leads out of its tag.

One message per build a run signed or moved (:func:`messages`; topic ``<release>.autosign.signed``, modname
``relengotron``), carrying the NVR, the key id, the tags it left and entered, the package and the packager
(``packages``/``usernames``, what FMN reads); and one summary of the run (:func:`summary`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from relengotron.config import Release

MODNAME = "relengotron"
# At most this many builds per run: one mapped task instance each, under Airflow's [core] max_map_length
# (1024). A sweep leaves the rest for the next run; a conf naming more builds is refused when triggered.
MAX_BUILDS = 1000
_NAMED = 10  # how many RPMs a refusal lists before "and N more"

Action = Literal["done", "sign", "refuse"]
SIGNED, DONE = "signed", "done"
REFUSED_XCOM = "refused"  # the XCom key of a refused build's sign_build task: {"nvr", "reason"}


class AutosignError(RuntimeError):
    """A build (or a run) is refused; permanent. ``item`` names the build, release or field concerned."""

    def __init__(self, item: str, reason: str) -> None:
        self.item = item
        self.reason = reason
        super().__init__(f"{item}: {reason}")


@dataclass(frozen=True)
class Step:
    """One step of a release's signing chain: builds signed in ``from_tag`` move to ``to_tag``.

    ``to_tag`` None: the release has a signing-pending tag but no chain (it has no signing key either, since
    the configuration requires one for a chain) — its builds are refused, never moved.
    """

    from_tag: str
    to_tag: str | None


def release_steps(release: Release) -> tuple[Step, ...]:
    """The release's signing chain; without one, its signing_pending tag going nowhere. AutosignError when the
    release has neither (no build of it ever waits for signing)."""
    if release.signing_chain:
        return tuple(Step(source, target) for source, target in release.signing_chain)
    pending = release.tags.get("signing_pending")
    if pending:
        return (Step(pending, None),)
    raise AutosignError(
        f"release {release.id}", "has neither a signing chain nor a signing_pending tag: no build waits for signing"
    )


@dataclass(frozen=True)
class Item:
    """One build of a run (one mapped task instance, named by its NVR) and the chain step it is on."""

    nvr: str
    release: str
    from_tag: str
    to_tag: str | None

    @property
    def step(self) -> Step:
        return Step(self.from_tag, self.to_tag)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Item:
        """From :meth:`as_dict`; ValueError naming what is missing."""
        try:
            to_tag = data.get("to_tag")
            return cls(str(data["nvr"]), str(data["release"]), str(data["from_tag"]), str(to_tag) if to_tag else None)
        except KeyError as exc:
            raise ValueError(f"autosign item {dict(data)!r}: missing {exc}") from None


@dataclass(frozen=True)
class Selection:
    items: tuple[Item, ...]  # in the order named, or by NVR for a sweep
    not_waiting: tuple[str, ...]  # named builds in none of the chain's from-tags (each one's plan says why)
    left_over: tuple[str, ...]  # a sweep's builds beyond the limit, for the next run


def select(
    release_id: str,
    steps: Sequence[Step],
    waiting: Mapping[str, Sequence[str]],
    wanted: Sequence[str] = (),
    *,
    limit: int = MAX_BUILDS,
) -> Selection:
    """The builds a run works on. ``waiting``: from-tag → NVRs tagged there now.

    No ``wanted``: every waiting build (a sweep), by NVR, at most ``limit`` (the rest are ``left_over``).
    With ``wanted``: exactly those (duplicates dropped), each on the step whose from-tag holds it; one that
    is waiting nowhere goes on the first step and is listed in ``not_waiting`` (its plan then finds it done
    or refuses it). More than ``limit`` wanted is an AutosignError.
    """
    if not steps:
        raise AutosignError(f"release {release_id}", "no signing chain step")
    where: dict[str, Step] = {}
    for step in steps:
        for nvr in waiting.get(step.from_tag, ()):
            where.setdefault(nvr, step)

    def item(nvr: str) -> Item:
        step = where.get(nvr, steps[0])
        return Item(nvr, release_id, step.from_tag, step.to_tag)

    if wanted:
        names = list(dict.fromkeys(wanted))
        if len(names) > limit:
            raise AutosignError("builds", f"{len(names)} builds named; at most {limit} per run")
        return Selection(tuple(item(n) for n in names), tuple(n for n in names if n not in where), ())
    ordered = sorted(where)
    return Selection(tuple(item(n) for n in ordered[:limit]), (), tuple(ordered[limit:]))


@dataclass(frozen=True)
class RpmSigs:
    """One RPM of a build and the keys Koji has recorded signatures of (lower case; unsigned ``''`` left out)."""

    id: int
    filename: str
    sigkeys: frozenset[str]


@dataclass(frozen=True)
class BuildState:
    """What Koji says about a build now: its tags and its RPMs' signatures."""

    nvr: str
    tags: frozenset[str]
    rpms: tuple[RpmSigs, ...]


@dataclass(frozen=True)
class BuildPlan:
    nvr: str
    action: Action
    reason: str  # done: why there is nothing to do; refuse: why it is refused; sign: what will be done
    to_sign: tuple[int, ...] = ()  # ids of the RPMs without a signature of the key (sign only)


def settled(state: BuildState, step: Step, key: str | None) -> str | None:
    """Why the build needs nothing more (None when it does): already in the next tag and out of the
    signing-pending one, or out of the signing-pending tag with every RPM signed with ``key``."""
    in_from = step.from_tag in state.tags
    if step.to_tag and step.to_tag in state.tags and not in_from:
        return f"already in {step.to_tag}"
    if not in_from and key and state.rpms and all(key in r.sigkeys for r in state.rpms):
        return f"every RPM already carries key {key} and it left {step.from_tag} (tags: {_tags(state)})"
    return None


def plan_build(state: BuildState, item: Item, key: str | None, *, signer_problem: str | None = None) -> BuildPlan:
    """What to do with one build; the first refusal that applies wins.

    ``key``: the release's signing key (None: not configured). ``signer_problem``: why the signer cannot sign
    with it (None: it can, or it was not asked — the caller asks only when the plan is to sign).
    """
    step = item.step
    done = settled(state, step, key)
    if done:
        return BuildPlan(state.nvr, "done", done)

    def refuse(reason: str) -> BuildPlan:
        return BuildPlan(state.nvr, "refuse", reason)

    if key is None:
        return refuse(f"tag {step.from_tag} has no signing key configured (release {item.release})")
    if step.from_tag not in state.tags:
        return refuse(
            f"not waiting for signing: not in {step.from_tag} (tags: {_tags(state)}) and not signed with key {key}"
        )
    if step.to_tag is None:
        return refuse(f"no signing chain step of release {item.release} leads out of {step.from_tag}")
    if not state.rpms:
        return refuse("the build has no RPMs to sign")
    foreign = [
        f"{r.filename} (signed with {', '.join(sorted(r.sigkeys))})"
        for r in state.rpms
        if r.sigkeys and key not in r.sigkeys
    ]
    if foreign:
        shown = ", ".join(foreign[:_NAMED]) + (f" and {len(foreign) - _NAMED} more" if len(foreign) > _NAMED else "")
        return refuse(f"{len(foreign)} RPM(s) signed with a different key than the release key {key}: {shown}")
    if signer_problem:
        return refuse(f"the release key {key} is not available to the signer: {signer_problem}")
    to_sign = tuple(r.id for r in state.rpms if key not in r.sigkeys)
    what = f"sign {len(to_sign)} of {len(state.rpms)} RPM(s) with {key}" if to_sign else f"every RPM carries {key}"
    return BuildPlan(state.nvr, "sign", f"{what}; move {step.from_tag} → {step.to_tag}", to_sign)


@dataclass(frozen=True)
class Outcome:
    """What a run did to one build. ``outcome`` is ``signed`` when it changed anything (signed RPMs or moved
    the build), ``done`` when the build needed nothing."""

    nvr: str
    release: str
    key: str | None
    from_tag: str
    to_tag: str | None
    outcome: str  # signed | done
    rpms_signed: int
    moved: bool
    reason: str
    package: str | None = None
    owner: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def messages(outcomes: Iterable[Mapping[str, Any] | None], *, run_id: str | None = None) -> list[dict[str, Any]]:
    """One ``{"modname", "topic", "body"}`` per build signed (``outcome == "signed"``), in NVR order. Pure.

    ``outcomes``: :meth:`Outcome.as_dict` results; None entries (a build whose task failed) are skipped.
    """
    out: list[dict[str, Any]] = []
    for found in sorted((o for o in outcomes if o), key=lambda o: o["nvr"]):
        if found["outcome"] != SIGNED:
            continue
        body: dict[str, Any] = {
            "release": found["release"],
            "nvr": found["nvr"],
            "key": found["key"],
            "from_tag": found["from_tag"],
            "to_tag": found["to_tag"],
            "rpms_signed": found["rpms_signed"],
            "packages": [found["package"]] if found.get("package") else [],
            "usernames": [found["owner"]] if found.get("owner") else [],
        }
        if run_id is not None:
            body["run_id"] = run_id  # the same in every retry of the run: consumers may de-duplicate on it
        out.append({"modname": MODNAME, "topic": f"{found['release']}.autosign.signed", "body": body})
    return out


def summary(
    items: Sequence[Mapping[str, Any]], outcomes: Iterable[Mapping[str, Any] | None], left_over: Sequence[str] = ()
) -> dict[str, Any]:
    """The run in numbers: builds listed, signed, already done, not done (refused or failed: their task has
    no outcome), and left for the next run. Pure."""
    found = {o["nvr"]: o for o in outcomes if o}
    listed = [str(i["nvr"]) for i in items]
    signed = sorted(n for n in listed if n in found and found[n]["outcome"] == SIGNED)
    done = sorted(n for n in listed if n in found and found[n]["outcome"] == DONE)
    failed = sorted(n for n in listed if n not in found)
    return {
        "listed": len(listed),
        "signed": len(signed),
        "already_done": len(done),
        "not_done": len(failed),
        "left_for_next_run": len(left_over),
        "builds": {"signed": signed, "already_done": done, "not_done": failed},
    }


def _tags(state: BuildState) -> str:
    return ", ".join(sorted(state.tags)) or "none"
