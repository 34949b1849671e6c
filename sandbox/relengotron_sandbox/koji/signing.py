"""RPM signatures: queryRPMSigs, addRPMSig, writeSignedRPM (what sigul/robosignatory drive).

As on the real hub: ``addRPMSig(rpm, data)`` takes the signature header (``koji.rip_rpm_sighdr`` of a signed
copy) encoded as base64, checks that its SIGMD5 matches the RPM Koji holds, records (rpm, sigkey, md5 of the
header) and caches the header under ``data/sigcache/<sigkey>/``; ``writeSignedRPM(rpm, sigkey)`` splices the
cached header into the unsigned RPM and writes ``packages/<n>/<v>/<r>/data/signed/<sigkey>/<arch>/<file>``.
Both need the ``sign`` permission. Each signature added publishes ``buildsys.rpm.sign``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import Any

import koji

from relengotron_sandbox.koji.hub import Hub, message_dates
from relengotron_sandbox.koji.store import apply_query_opts


class SigningExports:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def queryRPMSigs(
        self, rpm_id: Any = None, sigkey: str | None = None, queryOpts: dict[str, Any] | None = None
    ) -> Any:
        hub = self._hub
        if rpm_id is not None and not isinstance(rpm_id, int):
            found = hub.rpm(rpm_id)
            if found is None:
                return []
            rpm_id = found["id"]
        sql = "SELECT rpm_id, sigkey, sighash FROM rpmsigs WHERE 1 = 1"
        params: list[Any] = []
        if rpm_id is not None:
            sql += " AND rpm_id = ?"
            params.append(rpm_id)
        if sigkey is not None:
            sql += " AND sigkey = ?"
            params.append(sigkey.lower())
        return apply_query_opts(hub.store.rows(sql + " ORDER BY rpm_id, sigkey", params), queryOpts)

    def _paths(self, rinfo: dict[str, Any]) -> tuple[dict[str, Any], Path]:
        binfo = self._hub.build(rinfo["build_id"], strict=True)
        assert binfo is not None
        return binfo, Path(self._hub.pathinfo.build(binfo))

    def addRPMSig(self, an_rpm: Any, data: str | bytes) -> None:
        """Store a signature header. Not idempotent: the same rpm and key twice is a GenericError."""
        hub = self._hub
        hub.caller.assert_perm("sign")
        try:
            sighdr = base64.b64decode(data)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise koji.GenericError(f"Invalid signature data: {exc}") from None
        rinfo = hub.rpm(an_rpm, strict=True)
        assert rinfo is not None
        binfo, builddir = self._paths(rinfo)
        if not builddir.is_dir():
            raise koji.GenericError(f"No such directory: {builddir}")
        nvra = "{name}-{version}-{release}.{arch}".format(**rinfo)
        try:
            rawhdr = koji.RawHeader(sighdr)
            sigmd5 = koji.hex_string(rawhdr.get(koji.RPM_SIGTAG_MD5))
        except Exception as exc:
            raise koji.GenericError(f"Invalid signature header for {nvra}: {exc}") from None
        if sigmd5 != rinfo["payloadhash"]:
            raise koji.GenericError(f"wrong md5 for {nvra}: {sigmd5}")
        sigkey: Any = None
        for tag in (koji.RPM_SIGTAG_GPG, koji.RPM_SIGTAG_PGP, koji.RPM_SIGTAG_DSA, koji.RPM_SIGTAG_RSA):
            sigkey = rawhdr.get(tag)
            if sigkey:
                break
        sigkey = koji.get_sigpacket_key_id(sigkey) if sigkey else ""
        sighash = hashlib.md5(sighdr).hexdigest()
        store = hub.store
        if store.value("SELECT 1 FROM rpmsigs WHERE rpm_id = ? AND sigkey = ?", (rinfo["id"], sigkey)):
            raise koji.GenericError(f"Signature already exists for package {nvra}, key {sigkey}")
        store.execute("INSERT INTO rpmsigs (rpm_id, sigkey, sighash) VALUES (?, ?, ?)", (rinfo["id"], sigkey, sighash))
        sigpath = builddir / hub.pathinfo.sighdr(rinfo, sigkey)
        sigpath.parent.mkdir(parents=True, exist_ok=True)
        sigpath.write_bytes(sighdr)
        if sigkey:
            body = {"sigkey": sigkey, "sighash": sighash, "build": message_dates(binfo), "rpm": message_dates(rinfo)}
            hub.notify("rpm.sign", body)

    def writeSignedRPM(self, an_rpm: Any, sigkey: str, force: bool = False) -> None:
        """Write the signed copy. Idempotent: an existing copy is kept unless ``force``."""
        hub = self._hub
        hub.caller.assert_perm("sign")
        sigkey = sigkey.lower()
        rinfo = hub.rpm(an_rpm, strict=True)
        assert rinfo is not None
        _, builddir = self._paths(rinfo)
        nvra = "{name}-{version}-{release}.{arch}".format(**rinfo)
        rpm_path = builddir / hub.pathinfo.rpm(rinfo)
        if not rpm_path.exists():
            raise koji.GenericError(f"No such path: {rpm_path}")
        if not rpm_path.is_file():
            raise koji.GenericError(f"Not a regular file: {rpm_path}")
        if not hub.store.value("SELECT sighash FROM rpmsigs WHERE rpm_id = ? AND sigkey = ?", (rinfo["id"], sigkey)):
            raise koji.GenericError(f"No cached signature for package {nvra}, key {sigkey}")
        signed = builddir / hub.pathinfo.signed(rinfo, sigkey)
        if signed.exists():
            if not force:
                return
            signed.unlink()
        sighdr = (builddir / hub.pathinfo.sighdr(rinfo, sigkey)).read_bytes()
        koji.splice_rpm_sighdr(sighdr, str(rpm_path), dst=str(signed))
