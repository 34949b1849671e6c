"""Helpers of the updates_push operator unit tests (no tests here): the sandbox world's release configuration
rendered into a test directory as the ``relengotron_config`` Variable would give it, a fake task instance and
context, and image files as a compose leaves them."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from relengotron.manifest import Manifest
from relengotron.signing.base import SignResult, sha256_file
from relengotron.signing.checksum import ChecksumEntry, render_checksums

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))  # as Airflow puts plugins/ on sys.path

GCE = "linux/releases/24/gce/x86_64/Fedora-Cloud-Base-GCE-24.x86_64.tar.gz"
GCE_MANIFEST = Manifest.of(["bash-4.3.42-5.fc24", "glibc-2.23.1-8.fc24"])
GLIBC = {"alias": "FEDORA-2016-aaaa", "builds": ["glibc-2.23.1-8.fc24"], "type": "bugfix", "bugs": [1]}
UPDATES = [GLIBC]  # the updates task's XCom: the compose's updates as Bodhi describes them
PARAMS = {"push_id": "2016-06-14.0", "repo": "f24-updates", "updates": ["glibc-2.23.1-8.fc24"], "agent": "releng"}
RUN_AFTER = datetime(2016, 6, 14, 12, 0, tzinfo=UTC)


class FakeTI:
    """The task instance an operator sees: XComs pushed, task states and run states it asks for."""

    dag_id = "updates_push"

    def __init__(self, task_states: dict[str, str] | None = None, run_states: dict[str, str] | None = None) -> None:
        self.xcoms: dict[str, Any] = {}
        self.upstream: dict[tuple[str, str], Any] = {}
        self.task_states = dict(task_states or {})
        self.run_states = dict(run_states or {})

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str, key: str = "return_value", **_: Any) -> Any:
        """What an upstream task pushed (``upstream[(task_id, key)]``), None when nothing was."""
        return self.upstream.get((task_ids, key))

    def get_task_states(self, dag_id: str, run_ids: list[str], **_: Any) -> dict[str, dict[str, str]]:
        return {run_ids[0]: dict(self.task_states)}

    def get_dagrun_state(self, dag_id: str, run_id: str) -> str:
        """A run's state; "deleted" and "unreachable" fail as the Execution API's 404 and 500 reach a task run
        by a supervisor, "deleted-in-process" as its 404 reaches one run by dag.test()."""
        import httpx
        from airflow.sdk.api.client import ServerResponseError
        from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
        from airflow.sdk.execution_time.comms import ErrorResponse

        state = self.run_states.get(run_id, "running")
        if state == "deleted-in-process":
            request = httpx.Request("GET", f"http://api/dag-runs/{dag_id}/{run_id}/state")
            raise ServerResponseError("not found", request=request, response=httpx.Response(404, request=request))
        codes = {"deleted": 404, "unreachable": 500}
        if state in codes:
            detail = {"status_code": codes[state], "message": f"Server error for dag-runs/{dag_id}/{run_id}/state"}
            raise AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail=detail))
        return state


def context(params: dict[str, Any] | None = None, ti: FakeTI | None = None, run_id: str = "run-1") -> dict[str, Any]:
    return {
        "params": dict(params or PARAMS),
        "ti": ti or FakeTI(),
        "run_id": run_id,
        "dag_run": SimpleNamespace(run_after=RUN_AFTER),
    }


def put_image(top: Path, rel: str, data: bytes = b"GCE-IMAGE", manifest: Manifest = GCE_MANIFEST) -> str:
    """An image, its manifest JSON and a plain CHECKSUM under ``top``; the image's SHA256."""
    image = top / rel
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(data)
    image.with_name(image.name + ".manifest.json").write_text(manifest.to_json())
    entry = ChecksumEntry(image.name, "SHA256", sha256_file(image), len(data))
    image.with_name(image.name + "-CHECKSUM").write_text(render_checksums([entry]))
    return sha256_file(image)


class FakeSigner:
    """Records what it was asked to sign; signs nothing."""

    key_id = "0123abcd"

    def __init__(self) -> None:
        self.signed: list[tuple[str, str]] = []

    def export_public_key(self, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("KEY\n")
        return dest

    def sign_repomd(self, repo: Path) -> SignResult:
        self.signed.append(("repomd", str(repo)))
        return SignResult(str(repo), "signed")

    def sign_images(self, directory: Path, images: list[str], checksum_name: str) -> SignResult:
        self.signed.append(("images", f"{directory}/{checksum_name}"))
        return SignResult(checksum_name, "signed")

    def sign_ostree_commit(self, repo: Path, commit: str) -> SignResult:
        self.signed.append(("commit", commit))
        return SignResult(commit, "signed")

    def check(self) -> None:
        pass
