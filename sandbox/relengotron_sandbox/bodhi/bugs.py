"""The sandbox Bodhi's bug tracker: Bodhi's Bugzilla calls, through python-bugzilla on the sandbox Bugzilla.

As ``bodhi.server.bugs.Bugzilla``: only bugs of the products Bodhi manages (``bz_products``) are touched; a
testing push sets a bug ON_QA with a comment (or only comments when it is already ON_QA, VERIFIED or CLOSED);
a stable push closes it CLOSED ERRATA with a comment, adding the update's build of the bug's component to
"Fixed In Version". The comments are Bodhi's ``testing_bug_msg`` and ``stable_bug_msg``. Not idempotent (each
call comments), as Bodhi's; its caller runs them once per update it finishes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import bugzilla
from bugzilla.exceptions import BugzillaError

log = logging.getLogger(__name__)

BZ_PRODUCTS = ("Fedora", "Fedora EPEL", "Fedora Modules")
STABLE_BUG_MSG = (
    "{update_alias} ({update_beauty_title}) has been pushed to the {repo} repository.\n"
    "If problem still persists, please make note of it in this bug report."
)
TESTING_BUG_MSG = (
    "{update_alias} has been pushed to the {repo} repository.\n"
    "{install_instructions}\n"
    "You can provide feedback for this update here: {update_url}\n\n"
    "See also https://fedoraproject.org/wiki/QA:Updates_Testing for more information on how to test updates."
)


def install_command(update: Mapping[str, Any], release: Mapping[str, Any]) -> str:
    """``Update.install_command`` for a dnf release with a testing repository (pure)."""
    newpackage = update["type"] == "newpackage"
    enable = f" --enablerepo={release['testing_repository']}" if update["status"] == "testing" else ""
    verb, everything = ("install", r" \*") if newpackage else ("upgrade", "")
    return f"sudo {release['package_manager']} {verb}{enable} --refresh --advisory={update['alias']}{everything}"


def bug_message(update: Mapping[str, Any], release: Mapping[str, Any], beauty_title: str, url: str) -> str:
    """``Bug.default_message``: what Bodhi writes on a bug when the update reaches testing or stable (pure)."""
    command = install_command(update, release)
    data = {
        "update_alias": update["alias"],
        "update_beauty_title": beauty_title,
        "repo": f"{release['long_name']} {update['status']}",
        "install_instructions": f"Soon you'll be able to install the update with the following command:\n`{command}`",
        "update_url": url,
    }
    return (STABLE_BUG_MSG if update["status"] == "stable" else TESTING_BUG_MSG).format(**data)


class BugTracker:
    """Bodhi's Bugzilla operations on one python-bugzilla REST connection (made on first use)."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.api_key = api_key
        self._bz: bugzilla.Bugzilla | None = None
        self._lock = threading.Lock()

    def _connected(self) -> bugzilla.Bugzilla:
        if self._bz is None:
            self._bz = bugzilla.Bugzilla(self.url, force_rest=True, use_creds=False, api_key=self.api_key)
        return self._bz

    def title(self, bug_id: int) -> str | None:
        """The bug's summary (``update_details``); None when Bugzilla does not give it. Read-only."""
        with self._lock:
            try:
                return str(self._connected().getbug(bug_id).summary)
            except BugzillaError as exc:
                log.info("bug %s: %s", bug_id, exc)
                return None

    def on_qa(self, bug_id: int, comment: str) -> str:
        """Set the bug ON_QA with ``comment`` (``bugs.Bugzilla.on_qa``); what was done, for the log."""
        with self._lock:
            try:
                bug = self._connected().getbug(bug_id)
                if bug.product not in BZ_PRODUCTS:
                    return f"skipped ({bug.product})"
                if bug.bug_status not in ("ON_QA", "VERIFIED", "CLOSED"):
                    bug.setstatus("ON_QA", comment=comment)
                    return "ON_QA"
                bug.addcomment(comment)
                return f"commented ({bug.bug_status})"
            except (BugzillaError, ValueError, OSError) as exc:
                log.warning("Unable to alter bug #%d: %s", bug_id, exc)
                return f"failed: {exc}"

    def close(self, bug_id: int, versions: Mapping[str, str], comment: str) -> str:
        """Close the bug ERRATA with ``comment``, the fixing NVR added to its Fixed In (``bugs.Bugzilla.close``)."""
        with self._lock:
            try:
                bug = self._connected().getbug(bug_id)
                if bug.product not in BZ_PRODUCTS:
                    return f"skipped ({bug.product})"
                bz = self._connected()
                change = bz.build_update(status="CLOSED", resolution="ERRATA", comment=comment)
                if bug.component in versions:
                    version = versions[bug.component]
                    fixedin = [v for v in str(getattr(bug, "cf_fixed_in", "") or "").split() if v]
                    fixedin_str = " ".join(fixedin)
                    if version not in fixedin and len(fixedin_str) + len(version) < 255:
                        # Bodhi passes fixedin= to bug.close(); python-bugzilla maps it to cf_fixed_in only for a
                        # URL on .redhat.com, so the sandbox names Red Hat Bugzilla's field itself
                        change["cf_fixed_in"] = " ".join([fixedin_str, version]).strip()
                bz.update_bugs([bug.id], change)
                return "CLOSED ERRATA"
            except (BugzillaError, ValueError, OSError) as exc:
                log.warning("Unable to close bug #%d: %s", bug_id, exc)
                return f"failed: {exc}"
