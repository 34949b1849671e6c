"""What each page and endpoint shows, from the runs a reader hands back (``reader(dag_id)``: the newest runs
of that DAG as :class:`RunFacts`, newest first — :func:`relengotron.dashboard.records.latest_runs` in the
api-server, recorded facts in a test). Pure given the reader: every page is a function of Airflow's records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from relengotron.dashboard import excuses, gate, pushes, signing, testing
from relengotron.dashboard.facts import RunFacts
from relengotron.dashboard.listener import ListenerFacts, listener_view

Reader = Callable[[str], Sequence[RunFacts]]


@dataclass(frozen=True)
class Views:
    reader: Reader
    resultsdb_api: str | None = None
    latest: int = 5  # pushes shown per release
    probe: Callable[[], ListenerFacts] | None = None  # what the listener answers now (None: not asked)

    def push_list(self, release: str | None = None) -> list[dict[str, Any]]:
        """The newest pushes (of ``release`` only, when given), newest first."""
        found = [pushes.push_view(f) for f in self.reader(pushes.DAG_ID)]
        return [p for p in found if release is None or release in (p["release"], p["repo"])]

    def pushes_by_release(self, release: str | None = None) -> dict[str, list[dict[str, Any]]]:
        return pushes.by_release(self.push_list(release), self.latest)

    def gate(self) -> dict[str, Any]:
        return gate.gate_view(self.reader(gate.DAG_ID), self.resultsdb_api)

    def autosign(self) -> dict[str, Any]:
        return signing.autosign_view(self.reader(signing.DAG_ID))

    def listener(self) -> dict[str, Any]:
        """The listener's health as it answers now (the probe asks it over HTTP with a short timeout)."""
        if self.probe is None:
            raise ValueError("no listener probe given")
        return listener_view(self.probe())

    def testing(self) -> list[dict[str, Any]]:
        return testing.candidates(self.push_list())

    def excuses(self, item: str) -> list[dict[str, Any]]:
        """Every entry about ``item``: the newest push's view of an artifact label or update alias, the gate's
        view of a build NVR (an item may be several: a build NVR is also in an update's builds)."""
        out: list[dict[str, Any]] = []
        push_runs = list(self.reader(pushes.DAG_ID))
        for facts in push_runs:
            view = pushes.push_view(facts)
            for artifact in view["artifacts"]:
                if artifact["label"] == item or artifact["id"] == item:
                    results = _results(facts, artifact)
                    out.append({**excuses.artifact_excuses(artifact, results, self.resultsdb_api), "push": _head(view)})
            for update in view["updates"]:
                if item == update.get("alias") or item in update.get("builds", ()):
                    entry = excuses.update_excuses(update, view["artifacts"], self.resultsdb_api)
                    out.append({**entry, "push": _head(view), "links": view["links"]})
            if out:
                break  # the newest push that knows the item says why
        for build in (b for section in self.gate()["sections"].values() for b in section):
            if build["nvr"] == item:
                out.append(excuses.build_excuses(build, self.resultsdb_api))
        return out


def _head(view: dict[str, Any]) -> dict[str, Any]:
    return {k: view[k] for k in ("run_id", "push_id", "repo", "release", "status", "started")}


def _results(facts: RunFacts, artifact: dict[str, Any]) -> list[dict[str, Any]]:
    """The results the artifact's tests task decided on (its XCom ``results``)."""
    index = artifact["links"]["map_index"]
    found = facts.xcom(f"{artifact['kind']}.tests", int(index), "results")
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []
