"""Adapters around command-line tools (gpg, rpmsign, rpmkeys): paths and key ids in, results out.

Production code; nothing here knows about the sandbox. Each adapter raises its own exception naming the
file or key it was working on, with the tool's own error text.
"""
