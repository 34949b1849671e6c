"""Helpers shared by the adapter and EOL-run integration tests (no tests here): the sandbox world's release
configuration rendered into a test directory, and adapters connected to the sandbox services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relengotron.adapters.bugzilla import Bugzilla, BugzillaConnection
from relengotron.adapters.pdc import PDC, PDCConnection
from relengotron.adapters.resultsdb import ResultsDB, ResultsDBConnection
from relengotron.config import ReleaseConfig
from relengotron.kojiclient import KojiClient, KojiConnection, connect
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World


def sandbox_config(directory: Path, world: World, built: Any, compose_url: str | None = None) -> ReleaseConfig:
    """The world's release configuration rendered with its key id into ``directory``, as ``sandbox up`` does
    (its relative paths — the ostree repository, the mirror trees — resolve there; ``compose_url``: the compose
    file server that serves them, if any)."""
    directory.mkdir(parents=True, exist_ok=True)
    return render_release_config(world, built.key_id, directory, compose_url=compose_url)


def pdc_of(endpoints: dict[str, Any]) -> PDC:
    return PDC.connect(PDCConnection.from_mapping({"server": endpoints["pdc"]["url"], "develop": "true"}))


def resultsdb_of(endpoints: dict[str, Any], **kwargs: Any) -> ResultsDB:
    return ResultsDB.connect(ResultsDBConnection(endpoints["resultsdb"]["url"], max_retries=0), **kwargs)


def bugzilla_of(endpoints: dict[str, Any]) -> Bugzilla:
    return Bugzilla(BugzillaConnection(endpoints["bugzilla"]["url"], api_key="sandbox-key"))


def koji_of(endpoints: dict[str, Any]) -> KojiClient:
    koji = endpoints["koji"]
    fields = {"hub": koji["hub"], "topurl": koji["topurl"], "login": "releng", "password": "sandbox"}
    return connect(KojiConnection.from_mapping({**fields, "poll_interval": 0.05}))
