"""The sandbox Bodhi: Bodhi's REST API, its updates and composes seeded from the world, ``bodhi-push``, and
the end of a push on releng-o-tron's ``relengotron.push.complete`` (docs/bodhi-handshake.md)."""

from relengotron_sandbox.bodhi.service import BodhiService

__all__ = ["BodhiService"]
