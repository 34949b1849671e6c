"""The download website's HTML (pure: :class:`~relengotron.website.model.ReleaseSite` in, text out).

Plain server-rendered HTML with a small inline stylesheet: no script, readable on a laptop screen, times in UTC.
A release's page lists the images a user picks (grouped by edition, then arch, with human sizes and the release
time), how to verify each download, and the OSTree remote to add. Links are relative to where the page lies
(``<website>/<version>/index.html``), so the site works wherever the mirror is served; the commands a user copies
name absolute URLs (:meth:`relengotron.config.MirrorLayout.public_url`).

How to verify follows Fedora's "Verify your download" page (https://fedoraproject.org/security): download the
CHECKSUM file beside the image, fetch the key, ``gpgv --keyring ./fedora.gpg <CHECKSUM>``, then
``sha256sum --ignore-missing -c <CHECKSUM>``: a good signature from the release's key and a matching SHA256 make
the download valid.
"""

from __future__ import annotations

import html
import posixpath
import shlex
from collections.abc import Iterable, Sequence
from itertools import groupby

from relengotron.config import MirrorLayout
from relengotron.website.model import (
    IMAGES_JSON,
    KEYRING,
    PAGE,
    ImageEntry,
    OSTreeEntry,
    ReleaseSite,
    armored_key_name,
    compose_date,
    human_size,
    utc,
)

# productmd's image types (productmd.images.SUPPORTED_IMAGE_TYPES) as a user reads them.
TYPE_LABELS = {
    "dvd": "Installer DVD",
    "boot": "Network installer",
    "netinst": "Network installer",
    "live": "Live image",
    "raw-xz": "Raw disk image, xz-compressed",
    "qcow2": "QCOW2 disk image",
    "vagrant-libvirt": "Vagrant box (libvirt)",
    "vagrant-virtualbox": "Vagrant box (VirtualBox)",
    "tar-gz": "Tar archive, gzip-compressed",
    "docker": "Container image",
}
# The name Fedora Atomic Host's remote had (fedora-repos-ostree's /etc/ostree/remotes.d/fedora-atomic.conf).
OSTREE_REMOTE = "fedora-atomic"

STYLE = """
:root { color-scheme: light; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #294172;
        --soft: #f3f6fa; --ok: #1a7f37; --warn: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", sans-serif; color: var(--fg); }
header.top { background: var(--accent); color: #fff; padding: 14px 32px; }
header.top a { color: #dbe6ff; }
header.top h1 { margin: 2px 0 4px; font-size: 26px; }
header.top p { margin: 0; }
nav.toc { padding: 8px 32px; border-bottom: 1px solid var(--line); background: var(--soft); font-size: 14px; }
nav.toc a { margin-right: 14px; }
main { max-width: 1320px; padding: 8px 32px 32px; }
h2 { font-size: 20px; margin: 22px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
a { color: #0550ae; }
.image { display: grid; grid-template-columns: minmax(0, 4fr) minmax(0, 8fr); gap: 4px 20px;
         border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 8px 0; }
.image h3 { margin: 0 0 2px; font-size: 16px; word-break: break-all; }
.image p { margin: 2px 0; }
.meta { color: var(--muted); font-size: 14px; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 12px; border: 1px solid; }
.signed { color: var(--ok); } .unsigned { color: var(--warn); }
code, pre { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
code.sum { word-break: break-all; font-size: 11.5px; color: var(--muted); }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 6px 10px; margin: 0;
      overflow-x: auto; white-space: pre; }
ol li { margin: 3px 0; }
table { border-collapse: collapse; margin: 6px 0; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px 4px 0; text-align: left; vertical-align: top; }
.empty { color: var(--muted); font-style: italic; }
"""


def _esc(text: str) -> str:
    return html.escape(text)


def _link(page_dir: str, target: str, text: str) -> str:
    href = posixpath.relpath(target, page_dir)
    if target.endswith("/"):
        href += "/"
    return f'<a href="{_esc(href)}">{_esc(text)}</a>'


def _document(title: str, body: Iterable[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_esc(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head><body>",
            *body,
            "</body></html>",
            "",
        ]
    )


def _command(*words: str) -> str:
    """A shell command line (each word quoted when it needs it; ``$MIRROR`` left for the shell to expand)."""
    return " ".join(w if w.startswith("$MIRROR/") and shlex.quote(w[8:]) == w[8:] else shlex.quote(w) for w in words)


def fingerprint_groups(fingerprint: str) -> str:
    """``AB12 CD34 …`` as gpg prints a fingerprint (groups of four, two halves)."""
    groups = [fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4)]
    return " ".join(groups[:5]) + "  " + " ".join(groups[5:])


def verify_commands(entry: ImageEntry, site: ReleaseSite, mirror: MirrorLayout, folder: str) -> list[str]:
    """The commands that download ``entry`` and check it, as Fedora's verify page has them (pure)."""
    lines = [
        _command("curl", "-O", mirror.public_url(entry.path)),
        _command("curl", "-O", mirror.public_url(entry.checksum_path)),
    ]
    if site.key is not None and entry.signed:
        lines.append(_command("curl", "-O", mirror.public_url(f"{folder}/{KEYRING}")))
        lines.append(_command("gpgv", "--keyring", f"./{KEYRING}", entry.checksum_name))
    lines.append(_command("sha256sum", "--ignore-missing", "-c", entry.checksum_name))
    return lines


def ostree_commands(tree: OSTreeEntry, site: ReleaseSite, mirror: MirrorLayout, folder: str) -> list[str]:
    """The commands that add the release's OSTree remote (GPG-verified when the release is signed) and pull the
    ref (pure). ``ostree remote add --gpg-import`` and ``--set=gpg-verify=true`` are ostree's own options."""
    url = mirror.public_url(tree.repo_path + "/")
    if site.key is None:
        add = _command("ostree", "remote", "add", "--set=gpg-verify=false", OSTREE_REMOTE, url)
        return [add, _command("ostree", "pull", f"{OSTREE_REMOTE}:{tree.ref}")]
    key = armored_key_name(site.release)
    return [
        _command("curl", "-O", mirror.public_url(f"{folder}/{key}")),
        _command("ostree", "remote", "add", "--set=gpg-verify=true", f"--gpg-import={key}", OSTREE_REMOTE, url),
        _command("ostree", "pull", f"{OSTREE_REMOTE}:{tree.ref}"),
    ]


def _image(entry: ImageEntry, site: ReleaseSite, mirror: MirrorLayout, here: str) -> list[str]:
    kind = TYPE_LABELS.get(entry.productmd_type, entry.productmd_type)
    badge = (
        '<span class="badge signed">signed CHECKSUM</span>'
        if entry.signed
        else '<span class="badge unsigned">CHECKSUM not signed</span>'
    )
    commands = "\n".join(_esc(line) for line in verify_commands(entry, site, mirror, here))
    return [
        f'<article class="image" id="{_esc(entry.name)}"><div>',
        f"<h3>{_link(here, entry.path, entry.name)}</h3>",
        f'<p class="meta">{_esc(entry.arch)} · {_esc(kind)} · {human_size(entry.size)} · '
        f"released {utc(entry.mtime)}</p>",
        f"<p>{_link(here, entry.checksum_path, 'CHECKSUM')} {badge} · "
        f"{_link(here, entry.manifest_path, 'package manifest')}</p>",
        f'<p>SHA256 <code class="sum">{entry.sha256}</code></p>',
        "</div><div>",
        f"<pre>{commands}</pre>",
        "</div></article>",
    ]


def _editions(site: ReleaseSite) -> list[tuple[str, list[ImageEntry]]]:
    ordered = sorted(site.images, key=lambda e: (e.edition, e.arch, e.name))
    return [(edition, list(found)) for edition, found in groupby(ordered, key=lambda e: e.edition)]


def _anchor(edition: str) -> str:
    return "edition-" + "".join(c if c.isalnum() else "-" for c in edition.lower())


def _verify_section(site: ReleaseSite, mirror: MirrorLayout, here: str) -> list[str]:
    out = ['<section id="verify"><h2>Verify your download</h2>']
    key = site.key
    if key is None:
        out.append(
            "<p>This release's images are not signed: each image's CHECKSUM file lists its SHA256 sum. Download "
            "it into the same directory as the image and check the image with "
            "<code>sha256sum --ignore-missing -c</code> and the CHECKSUM file's name.</p>"
        )
        return [*out, "</section>"]
    armored = armored_key_name(site.release)
    out += [
        "<p>Each image has a CHECKSUM file beside it, clear-signed with the "
        f"{_esc(site.release.name)} key. If the signature is good and the image's SHA256 sum matches, the "
        "download is the one released.</p>",
        "<ol>",
        "<li>Download the image and its CHECKSUM file into the same directory.</li>",
        f"<li>Download the {_esc(site.release.name)} key: {_link(here, f'{here}/{KEYRING}', KEYRING)} "
        f"(a keyring for <code>gpgv</code>; armored: {_link(here, f'{here}/{armored}', armored)}). "
        f"Key <code>{_esc(key.key_id)}</code>, fingerprint <code>{_esc(fingerprint_groups(key.fingerprint))}</code>"
        f"{', ' + _esc(key.uid) if key.uid else ''}.</li>",
        f"<li>Check the CHECKSUM file's signature: <code>gpgv --keyring ./{KEYRING} &lt;image&gt;-CHECKSUM</code> "
        "must report a good signature.</li>",
        "<li>Check the image: <code>sha256sum --ignore-missing -c &lt;image&gt;-CHECKSUM</code> must say "
        "<code>OK</code>.</li>",
        "</ol>",
        "<p>Each image above shows these commands with its own file names.</p>",
    ]
    if mirror.url is None:
        out.append("<p>In the commands, <code>$MIRROR</code> is the address of your Fedora mirror.</p>")
    return [*out, "</section>"]


def _ostree_section(site: ReleaseSite, mirror: MirrorLayout, here: str) -> list[str]:
    out = ['<section id="ostree"><h2>OSTree</h2>']
    if not site.ostree:
        return [*out, '<p class="empty">No OSTree ref is released for this release yet.</p>', "</section>"]
    out += [
        "<table><tr><th>ref</th><th>arch</th><th>version</th><th>commit</th><th>updated</th><th>repository</th></tr>"
    ]
    for t in sorted(site.ostree, key=lambda t: (t.artifact, t.arch)):
        summary = f"{t.repo_path}/summary.sig" if t.summary_signed else f"{t.repo_path}/summary"
        out.append(
            f"<tr><td><code>{_esc(t.ref)}</code></td><td>{_esc(t.arch)}</td><td>{_esc(t.version or '')}</td>"
            f'<td><code title="{t.commit}">{t.commit}</code></td><td>{utc(t.timestamp)}</td>'
            f"<td>{_link(here, t.repo_path + '/', 'repository')} · "
            f"{_link(here, summary, 'signed summary' if t.summary_signed else 'summary')}</td></tr>"
        )
    out.append("</table>")
    verified = "GPG-verified with the release's key" if site.key is not None else "not GPG-verified (unsigned)"
    out.append(f"<p>Add the remote ({verified}) and pull the ref:</p>")
    for t in sorted(site.ostree, key=lambda t: (t.artifact, t.arch)):
        commands = "\n".join(_esc(line) for line in ostree_commands(t, site, mirror, here))
        out.append(f"<pre>{commands}</pre>")
        out.append(
            f"<p>On an installed host: <code>{_esc(_command('rpm-ostree', 'rebase', f'{OSTREE_REMOTE}:{t.ref}'))}"
            "</code></p>"
        )
    return [*out, "</section>"]


def release_page(site: ReleaseSite, mirror: MirrorLayout) -> str:
    """The release's page (HTML), its links relative to where it lies (``<website>/<version>/``). Pure."""
    here = f"{mirror.website.strip('/')}/{site.release.version}"
    name = site.release.name
    editions = _editions(site)
    body = [
        '<header class="top">',
        f"<p>{_link(here, f'{mirror.website.strip(chr(47))}/{PAGE}', 'All releases')}</p>",
        f"<h1>{_esc(name)} downloads</h1>",
        f"<p>Released images and OSTree refs as of {utc(site.newest) if site.newest else 'nothing yet'} · "
        f"compose {compose_date(site)} · {_link(here, f'{here}/{IMAGES_JSON}', IMAGES_JSON)} (productmd)</p>",
        "</header>",
        '<nav class="toc">',
        *(f'<a href="#{_anchor(edition)}">{_esc(edition)}</a>' for edition, _ in editions),
        '<a href="#verify">Verify your download</a>',
        '<a href="#ostree">OSTree</a>',
        "</nav>",
        "<main>",
    ]
    if not editions:
        body.append('<p class="empty">No image is released for this release yet.</p>')
    for edition, entries in editions:
        body.append(f'<section id="{_anchor(edition)}"><h2>{_esc(edition)}</h2>')
        for entry in entries:
            body += _image(entry, site, mirror, here)
        body.append("</section>")
    body += _verify_section(site, mirror, here)
    body += _ostree_section(site, mirror, here)
    body.append("</main>")
    return _document(f"{name} downloads", body)


def index_page(releases: Sequence[tuple[str, str]]) -> str:
    """The top page: a link to each release's page (``(version, name)`` pairs). Pure."""
    items = [f'<li><a href="{_esc(version)}/{PAGE}">{_esc(name)}</a></li>' for version, name in releases]
    body = [
        '<header class="top"><h1>Fedora downloads</h1><p>Images, checksums, keys and OSTree refs per release.</p>'
        "</header>",
        "<main>",
        "<ul>",
        *(items or ['<li class="empty">No release has a page yet.</li>']),
        "</ul>",
        "</main>",
    ]
    return _document("Fedora downloads", body)
