"""Adapters around command-line tools: paths and key ids in, results out.

:mod:`.run` (any tool, failures naming the item), :mod:`.remote` (the one command runner: here or over SSH),
:mod:`.rootfs` (a root installed from signed yum repositories with ``dnf --installroot``, and its rpmdb read back),
:mod:`.gpg` (keys, and the private GNUPGHOME copies every signing tool runs in), :mod:`.rpmsign` (rpmsign,
rpmkeys, rpm header queries), :mod:`.livepxe` (the PXE tarball taken out of a live ISO with xorriso) and
:mod:`.files` (replacing a file whole).

Production code; nothing here knows how it is tested. Each adapter raises its own exception naming the
file or key it was working on, with the tool's own error text.
"""
