"""Users, permissions and password sessions of the sandbox Koji hub.

Any user the hub knows (the world's package owners plus releng, autosign, bodhi and kojiadmin) may log in
with ``ClientSession.login()`` and ANY non-empty password: the sandbox checks who you say you are, not a
secret. What a user may then do depends on their Koji permissions (see ``seed.USER_PERMS``).
"""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

import koji

from relengotron_sandbox.koji.hub import Hub

_ALNUM = string.ascii_letters + string.digits


class AuthExports:
    """login, logout, getLoggedInUser, getUser, getPerms, hasPerm, getAllPerms, getUserPerms."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def login(
        self, user: str, password: str, opts: dict[str, Any] | None = None, renew: bool = False, exclusive: bool = False
    ) -> dict[str, Any]:
        """Open a session. Not idempotent: every login is a new session (as on the real hub)."""
        if not isinstance(password, str) or not password:
            raise koji.AuthError("invalid username or password")
        if self._hub.caller.logged_in:
            raise koji.AuthError("Already logged in")
        found = self._hub.user(user) if isinstance(user, str) else None
        if found is None:
            raise koji.AuthError("invalid username or password")
        key = f"{found['id']}-" + "".join(secrets.choice(_ALNUM) for _ in range(19))
        session_id = self._hub.store.execute(
            "INSERT INTO sessions (key, user_id, authtype, start_ts) VALUES (?, ?, ?, ?)",
            (key, found["id"], koji.AUTHTYPES["NORMAL"], time.time()),
        ).lastrowid
        return {"session-id": session_id, "session-key": key, "header-auth": True}

    def logout(self, session_id: int | None = None) -> None:
        """Close the caller's session (or, for its owner or an admin, another one). Closing twice is harmless."""
        caller = self._hub.caller
        if not caller.logged_in:
            raise koji.AuthError("Not logged in")
        if session_id:
            owner = self._hub.store.value("SELECT user_id FROM sessions WHERE id = ?", (session_id,))
            if owner != caller.user_id and not caller.has_perm("admin"):
                raise koji.ActionNotAllowed("only admins or owner may logout other session")
        else:
            session_id = caller.session_id
        self._hub.store.execute("UPDATE sessions SET closed = 1 WHERE id = ?", (session_id,))

    def getLoggedInUser(self) -> dict[str, Any] | None:
        caller = self._hub.caller
        if not caller.logged_in:
            return None
        me = self._hub.user(caller.user_id, strict=True)
        assert me is not None
        me["authtype"] = caller.authtype
        me["krb_principal"] = me["krb_principals"][0] if me["krb_principals"] else None
        return me

    def getUser(
        self, userInfo: Any = None, strict: bool = False, krb_princs: bool = True, groups: bool = False
    ) -> dict[str, Any] | None:
        found = self._hub.user(userInfo, strict=strict)
        if found is not None:
            if not krb_princs:
                del found["krb_principals"]
            if groups:
                found["groups"] = []
        return found

    def getPerms(self) -> list[str]:
        caller = self._hub.caller
        return sorted(caller.perms) if caller.logged_in else []

    def hasPerm(self, perm: str, strict: bool = False) -> bool:
        if strict and self._hub.lookup("permissions", perm) is None:
            raise koji.GenericError(f"No such permission {perm} defined")
        return self._hub.caller.has_perm(perm)

    def getAllPerms(self) -> list[dict[str, Any]]:
        return self._hub.store.rows("SELECT id, name, description FROM permissions ORDER BY id")

    def getUserPerms(self, userID: Any = None, with_groups: bool = True) -> list[str]:
        found = self._hub.user(userID, strict=True)
        assert found is not None
        return self._hub.user_perms(found["id"])
