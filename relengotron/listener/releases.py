"""What the rules know of the release configuration (config/fedora.yaml): the release an NVR or a Koji tag
belongs to, a release's tag of a role — so that no rule hard-codes Rawhide's dist tag or a tag name, which
change at every branching.

The rules use them as template filters (``msg.tag | release_of_tag('pending')``); each reads the ``releases``
variable the rules are rendered with, so one compiled rule set serves any release configuration. Every helper
answers ``none`` for a value that is not what it expects (a missing field, a number, a string that is no NVR)
rather than failing: a rule's ``when`` then simply does not hold. Pure; the configuration is loaded by the
caller (:func:`relengotron.artifacts.load_release_config`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from relengotron.config import TAG_ROLES, ReleaseConfig
from relengotron.names import NVR


class ReleaseHelperError(ValueError):
    """A rule uses a release helper wrongly (an unknown role) or without a release configuration."""


def check_roles(roles: str | Sequence[str] | None) -> tuple[str, ...]:
    if roles is None:
        return TAG_ROLES
    chosen = (roles,) if isinstance(roles, str) else tuple(roles)
    unknown = [r for r in chosen if r not in TAG_ROLES]
    if unknown:
        raise ReleaseHelperError(f"unknown tag role {unknown[0]!r} (roles: {', '.join(TAG_ROLES)})")
    return chosen


@dataclass(frozen=True)
class Releases:
    """The releases of one release configuration, as the rules ask about them."""

    config: ReleaseConfig

    def release_of_nvr(self, nvr: Any) -> str | None:
        """The id of the release whose dist tag the NVR's release carries (``glibc-2.24-1.fc26`` → ``rawhide``
        when Rawhide's dist is fc26; ``1.fc24.1`` counts too), or None."""
        if not isinstance(nvr, str) or not NVR.match(nvr):
            return None
        parts = nvr.rsplit("-", 2)[2].split(".")
        for release in self.config.releases.values():
            if release.dist in parts:
                return release.id
        return None

    def release_of_tag(self, tag: Any, roles: str | Sequence[str] | None = None) -> str | None:
        """The id of the release that has Koji tag ``tag`` in one of ``roles`` (any role if None), or None."""
        wanted = check_roles(roles)
        if not isinstance(tag, str):
            return None
        for release in self.config.releases.values():
            if any(release.tags.get(role) == tag for role in wanted):
                return release.id
        return None

    def tag_of(self, release_id: Any, role: str) -> str | None:
        """Release ``release_id``'s Koji tag of ``role`` (``rawhide`` + ``pending`` → ``rawhide-pending``), or
        None when there is no such release or it has no tag of that role."""
        (role,) = check_roles(role)
        release = self.config.releases.get(release_id) if isinstance(release_id, str) else None
        return release.tags.get(role) if release is not None else None


RELEASE_FILTERS = ("release_of_nvr", "release_of_tag", "tag_of")


def _releases(context: Any, name: str) -> Releases:
    found = context.get("releases")
    if not isinstance(found, Releases):
        raise ReleaseHelperError(f"{name}: the listener's config names no release configuration (release_config)")
    return found


@jinja2.pass_context
def _release_of_nvr(context: Any, nvr: Any) -> str | None:
    return _releases(context, "release_of_nvr").release_of_nvr(_defined(nvr))


@jinja2.pass_context
def _release_of_tag(context: Any, tag: Any, roles: str | Sequence[str] | None = None) -> str | None:
    return _releases(context, "release_of_tag").release_of_tag(_defined(tag), roles)


@jinja2.pass_context
def _tag_of(context: Any, release_id: Any, role: str) -> str | None:
    return _releases(context, "tag_of").tag_of(_defined(release_id), role)


def _defined(value: Any) -> Any:
    """A missing field (Jinja's Undefined) is None to the helpers: they answer None, they do not fail."""
    return None if isinstance(value, jinja2.Undefined) else value


FILTERS = {"release_of_nvr": _release_of_nvr, "release_of_tag": _release_of_tag, "tag_of": _tag_of}
