"""The messages of an updates push: a candidate artifact composed, an artifact released, the push complete."""

from __future__ import annotations

from typing import Any

from relengotron_messages.base import NVR, STRINGS, RelengotronMessage, body_schema

_ARTIFACT = {
    "item": {"type": "string", "description": "<name>-<version>-<arch>: the ResultsDB item of its tests"},
    "kind": {"type": "string", "description": "the artifact kind: ostree, installer-iso, pxe2live, ami, gce, ..."},
    "release": {"type": "string"},
    "arch": {"type": "string"},
    "label": {"type": "string", "description": "what the push shows: the image file name or the OSTree ref"},
}
_HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_LABELLED = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"label": {"type": "string"}, "reason": {"type": ["string", "null"]}},
        "required": ["label", "reason"],
    },
}


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class ArtifactComposedV1(RelengotronMessage):
    """A candidate artifact was composed and waits for its tests, which fetch it by URL (``image`` or ``ostree``)."""

    body_schema = body_schema(
        "A releng-o-tron candidate artifact, composed and awaiting its tests",
        {
            **_ARTIFACT,
            "input_hash": _HASH,
            "image": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "format": "uri"},
                    "sha256": _HASH,
                    "size": {"type": "integer", "minimum": 0},
                    "format": {"type": "string", "description": "Koji's name of the format (raw-xz, tar-gz, iso)"},
                    "manifest_url": {"type": "string", "format": "uri"},
                },
                "required": ["url", "sha256", "size", "format", "manifest_url"],
            },
            "ostree": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "format": "uri"},
                    "ref": {"type": "string"},
                    "commit": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "version": {"type": ["string", "null"]},
                },
                "required": ["url", "ref", "commit"],
            },
        },
        ["item", "kind", "release", "arch", "label", "input_hash"],
    )
    body_schema["oneOf"] = [{"required": ["image"]}, {"required": ["ostree"]}]

    @property
    def url(self) -> str | None:
        where = self.body.get("image") or self.body.get("ostree") or {}
        return where.get("url")

    @property
    def summary(self) -> str:
        return f"releng-o-tron composed {self.body['label']} for {self.body['release']}: awaiting its tests"


class ArtifactReleasedV1(RelengotronMessage):
    """A push released an artifact: tested, signed, promoted and synced to the master mirror."""

    body_schema = body_schema(
        "A releng-o-tron artifact released to the master mirror by an updates push",
        {
            **_ARTIFACT,
            "push_id": {"type": "string"},
            "run_id": {"type": "string", "description": "the DAG run: the same in every retry (de-duplicate on it)"},
            "request": {"type": "string", "enum": ["stable", "testing"]},
            "artifact": {"type": "string"},
            "identity": {"type": "string", "description": "the image's SHA256 or the OSTree commit released"},
            "input_hash": _HASH,
            "manifest": {"type": "array", "items": NVR},
            "paths": STRINGS,
            "updates": STRINGS,
        },
        ["push_id", "run_id", "release", "request", "item", "kind", "arch", "label", "identity", "manifest", "paths"],
    )

    @property
    def summary(self) -> str:
        updates = self.body.get("updates") or []
        carried = f", carrying {_count(len(updates), 'update')}" if updates else ""
        return f"releng-o-tron released {self.body['label']} to {self.body['release']} {self.body['request']}{carried}"


class PushCompleteV1(RelengotronMessage):
    """An updates push ended (complete, held back or failed): each update's outcome, on which Bodhi finishes the
    push, and each artifact's."""

    body_schema = body_schema(
        "The end of a releng-o-tron updates push: every update's and every artifact's outcome",
        {
            "push_id": {"type": "string"},
            "run_id": {"type": "string"},
            "repo": {"type": "string", "description": "the Bodhi compose's repository (e.g. f24-updates)"},
            "release": {"type": "string"},
            "request": {"type": "string", "enum": ["stable", "testing"]},
            "agent": {"type": ["string", "null"]},
            "status": {"type": "string", "enum": ["complete", "held-back", "failed"]},
            "synced": {"type": "boolean"},
            "reason": {"type": ["string", "null"]},
            "repos": STRINGS,
            "updates": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "alias": {"type": "string"},
                        "builds": {"type": "array", "items": NVR},
                        "status": {"type": "string", "enum": ["pushed", "held-back", "failed"]},
                        "artifacts": STRINGS,
                        "held_back": _LABELLED,
                        "reason": {"type": ["string", "null"]},
                    },
                    "required": ["alias", "builds", "status"],
                },
            },
            "artifacts": {
                "type": "object",
                "properties": {
                    "released": STRINGS,
                    "unchanged": STRINGS,
                    "held_back": _LABELLED,
                    "failed": _LABELLED,
                },
                "required": ["released", "unchanged", "held_back", "failed"],
            },
        },
        ["push_id", "run_id", "repo", "release", "request", "status", "synced", "updates", "artifacts"],
    )

    @property
    def packages(self) -> list[str]:
        """The packages of the pushed builds (an NVR's name)."""
        return sorted({b.rsplit("-", 2)[0] for u in self.body.get("updates", []) for b in u.get("builds", [])})

    @property
    def summary(self) -> str:
        updates = self.body.get("updates", [])
        artifacts: dict[str, Any] = self.body.get("artifacts", {})
        held = artifacts.get("held_back", [])
        text = (
            f"releng-o-tron's push of {_count(len(updates), 'update')} to {self.body['repo']} ended "
            f"{self.body['status']}: {_count(len(artifacts.get('released', [])), 'artifact')} released"
        )
        if held:
            text += f", {len(held)} held back ({', '.join(h['label'] for h in held)})"
        if self.body.get("reason"):
            text += f": {self.body['reason']}"
        return text
