"""An ISO 9660 image of a directory tree, as Fedora's tools write their media: xorrisofs, then implantisomd5.

Both of the sandbox's ISOs go through here: the installer DVD (Pungi's createiso: wrappers/iso.py
``get_mkisofs_cmd``, then ``implantisomd5 --supported-iso``) and the live ISO of livemedia-creator ``--make-iso``
(lorax's live template x86.tmpl runs ``mkisofs ... -R -J -V <isolabel>``, then livemedia-creator implants the
MD5 with TreeBuilder.implantisomd5). The options are Pungi's (``-untranslated-filenames -volid V -J -joliet-long
-rational-rock -input-charset utf-8 -x ./lost+found``; no ``-translation-table`` with xorrisofs), a superset of
the live template's Rock Ridge + Joliet. No El Torito boot record: one needs a boot image from a bootloader package
(isolinux.bin from syslinux, or GRUB's El Torito image), and the world's grub2 is a sandbox stand-in without one —
a boot entry pointing at anything else would be a fake. So the media are well-formed ISOs that do not boot.
"""

from __future__ import annotations

from pathlib import Path

from relengotron_sandbox.imagebuild.common import ImageBuildError, tool

VOLID_MAX = 32  # ISO 9660 volume identifier length
# xorrisofs pads the image with 300 KiB by default (``-pad``; its mkisofs emulation takes no size, xorriso's own
# ``-padding`` does, given after ``--``); 1 MiB here because checkisomd5 (isomd5sum 1.2.3) fails images
# under ~700 KiB right after implantisomd5 (rhinstaller/isomd5sum#18, #25: a fragment shorter than its 32 KiB read
# buffer is never checked against its sum). Real DVDs are gigabytes; the sandbox's are small.
ISO_PADDING = "1m"


def write_iso9660(tree: Path, out: Path, *, volid: str, item: str) -> None:
    """Write the ISO of the directory ``tree`` to ``out`` (a staged temporary path) with volume id ``volid``, its
    MD5 implanted. Not idempotent (``out`` is overwritten); ImageBuildError naming ``item`` on a bad volume id or
    a failing tool."""
    if not 0 < len(volid) <= VOLID_MAX:
        raise ImageBuildError(f"{item}: volume id {volid!r} is not 1 to {VOLID_MAX} characters")
    tool(
        [
            "xorriso",
            "-as",
            "mkisofs",
            "-untranslated-filenames",
            "-volid",
            volid,
            "-J",
            "-joliet-long",
            "-rational-rock",
            "-input-charset",
            "utf-8",
            "-x",
            "./lost+found",
            "-o",
            out,
            tree,
            "--",  # back to xorriso's own commands, which apply when the image is written at the end
            "-padding",
            ISO_PADDING,
        ],
        item=f"{item}: xorrisofs",
    )
    tool(["implantisomd5", "--supported-iso", out], item=f"{item}: implantisomd5")
