"""The sandbox Koji hub: Koji's XML-RPC API and topurl files, seeded from the sandbox world."""

from relengotron_sandbox.koji.service import KojiHub

__all__ = ["KojiHub"]
