"""The download website a user sees: per release, the images to pick (by edition and arch, human sizes, release
time in UTC), how to verify a download (the CHECKSUM, the release's key, the ``gpgv``/``sha256sum`` commands),
the OSTree remote to add — and productmd's ``images.json`` — all from what the public staging tree holds, so a
held-back candidate is never listed. Static files, deterministic (no clock), synced with the rest.

- :mod:`relengotron.website.model`: the data and the pure non-HTML documents (images.json, sizes, dates);
- :mod:`relengotron.website.page`: the HTML (pure);
- :mod:`relengotron.website.tree`: reading the staging tree and writing the site (I/O).
"""

from relengotron.website.model import (
    IMAGES_JSON,
    KEYRING,
    PAGE,
    ImageEntry,
    OSTreeEntry,
    ReleaseSite,
    SigningKey,
    WebsiteError,
    armored_key_name,
    compose_date,
    human_size,
    images_json,
)
from relengotron.website.page import index_page, ostree_commands, release_page, verify_commands
from relengotron.website.tree import gather, iter_image_paths, read_images_json, site_documents, write_site

__all__ = [
    "IMAGES_JSON",
    "KEYRING",
    "PAGE",
    "ImageEntry",
    "OSTreeEntry",
    "ReleaseSite",
    "SigningKey",
    "WebsiteError",
    "armored_key_name",
    "compose_date",
    "gather",
    "human_size",
    "images_json",
    "index_page",
    "iter_image_paths",
    "ostree_commands",
    "read_images_json",
    "release_page",
    "site_documents",
    "verify_commands",
    "write_site",
]
