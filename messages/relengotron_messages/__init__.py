"""releng-o-tron's message schemas for fedora-messaging: one class per kind of message, found by topic.

Installable alone (it needs fedora-messaging only): consumers read releng-o-tron's messages with it as they read
Bodhi's with bodhi-messages. :func:`message_class` is how releng-o-tron itself picks the class of what it
publishes, so a topic and its schema cannot drift apart.
"""

from __future__ import annotations

import re

from relengotron_messages.autosign import AutosignSignedV1
from relengotron_messages.base import RelengotronMessage
from relengotron_messages.eol import ReleaseEolV1
from relengotron_messages.gating import GatingDecisionV1
from relengotron_messages.push import ArtifactComposedV1, ArtifactReleasedV1, PushCompleteV1

__all__ = [
    "ArtifactComposedV1",
    "ArtifactReleasedV1",
    "AutosignSignedV1",
    "GatingDecisionV1",
    "PushCompleteV1",
    "ReleaseEolV1",
    "RelengotronMessage",
    "UnknownTopic",
    "message_class",
]

_RELEASE = r"[A-Za-z0-9_\-]+"
# topic (without the broker's prefix) → class; the release id is part of the gating and autosign topics
TOPICS: tuple[tuple[re.Pattern[str], type[RelengotronMessage]], ...] = (
    (re.compile(r"relengotron\.artifact\.composed"), ArtifactComposedV1),
    (re.compile(r"relengotron\.artifact\.released"), ArtifactReleasedV1),
    (re.compile(r"relengotron\.push\.complete"), PushCompleteV1),
    (re.compile(rf"relengotron\.{_RELEASE}\.gating\.(?:promoted|quarantined|waiting)"), GatingDecisionV1),
    (re.compile(rf"relengotron\.{_RELEASE}\.autosign\.signed"), AutosignSignedV1),
    (re.compile(r"relengotron\.release\.eol"), ReleaseEolV1),
)


class UnknownTopic(ValueError):
    """releng-o-tron publishes nothing on this topic: no schema describes it."""


def message_class(topic: str) -> type[RelengotronMessage]:
    """The class of the messages releng-o-tron publishes on ``topic`` (``relengotron.push.complete``, or with a
    prefix such as ``org.fedoraproject.prod.``). :class:`UnknownTopic` names a topic no schema covers. Pure."""
    start = topic.find("relengotron.")
    if start >= 0:
        bare = topic[start:]
        for pattern, cls in TOPICS:
            if pattern.fullmatch(bare):
                return cls
    raise UnknownTopic(f"{topic!r}: releng-o-tron publishes no message on this topic (relengotron_messages.TOPICS)")
