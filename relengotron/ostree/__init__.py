"""OSTree repository management: compose, merge-if-changed, tags, retention, EOL carve-out.

Layout of the shared archive-mode repository (one per installation, ``OSTreeSettings.repo``):

- ``fedora/<version>/<arch>/<name>`` and ``fedora/<version>/<arch>/<stream>/<name>`` — one ref per release,
  arch and stream (``Artifact.ostree_ref(release, arch, stream)``), e.g. ``fedora/24/x86_64/atomic-host``,
  ``fedora/24/x86_64/updates/atomic-host``, ``fedora/24/x86_64/testing/atomic-host``;
- ``tags/<ref>/<version>`` — a tag per released version, e.g.
  ``tags/fedora/24/x86_64/atomic-host/24.20160614.0``. Tags never move and retention never deletes a tagged
  commit. (Commits are made without ref bindings, so a client can pull a tag as well as the ref.)

Modules: :mod:`.repo` (one repository through the ``ostree`` CLI, and its layout), :mod:`.compose` (local
and remote backends into a scratch repository from a :mod:`.treefile`; :mod:`.postprocess` (rpm-ostree's layout
conventions) and :mod:`relengotron.tools.rootfs` (the root installer) behind them, commands on
the compose host through :mod:`relengotron.tools.remote`), :mod:`.merge` (merge into the shared ref only if
the tree changed; the last released manifest), :mod:`.publish` (signature, static delta, summary; tags),
:mod:`.retention` (the pure prune decision) and :mod:`.prune` (carrying it out), :mod:`.eol` (the
end-of-life carve-out), :mod:`.metadata` (what a commit records, the version scheme) and the GVariant codecs
:mod:`.gvariant_text` (what ``ostree`` prints) and :mod:`.gvariant_binary` (signature and summary files).
Commits and summaries are signed by a :class:`relengotron.signing.Signer` (local GPG or sigul); the manifest
is :class:`relengotron.manifest.Manifest`.
"""
