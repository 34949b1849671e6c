"""The sandbox's release configuration, rendered into the state directory when the sandbox starts.

The world ships a template of the release configuration releng keeps for it; the world's signing key is
generated when the world is built, so its id is only known then. Rendering substitutes it, copies the gating
policies beside the file, and validates the result, so a sandbox never starts with a configuration the
pipeline would refuse. Relative paths in it (ostree repo, staging, mirror) resolve inside the state directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from relengotron.artifacts import load_release_config
from relengotron.config import ReleaseConfig
from relengotron_sandbox.world import World

KEY_PLACEHOLDER = "@WORLD_KEY@"
URL_PLACEHOLDER = "@COMPOSE_URL@"  # the compose file server's URL (relengotron_sandbox.composefiles)
# What a configuration rendered without a compose file server says (a test that runs no test system): a host of the
# reserved .invalid domain (RFC 2606), which never resolves — a check sent there cannot run, it never fails.
UNSERVED_URL = "http://compose.invalid"
FILE_NAME = "releng.yaml"
KICKSTARTS = "kickstarts"  # the images' kickstarts, beside the template (image_request.kickstart names them)


def render_release_config(world: World, key_id: str, state_dir: Path, compose_url: str | None = None) -> ReleaseConfig:
    """Write ``state_dir/releng.yaml`` (and its policy, comps, treefile and kickstart files) for ``world``;
    idempotent (same inputs, same files). ``compose_url``: where the sandbox's compose file server serves the
    state directory's OSTree repository and staging tree (its ``translate_paths``; None: not served)."""
    if world.release_config is None:
        raise ValueError(f"{world.path}: the world names no release_config")
    template = world.release_config
    target = state_dir / FILE_NAME
    tmp = target.with_name(f".{FILE_NAME}.tmp")
    text = template.read_text().replace(KEY_PLACEHOLDER, key_id)
    tmp.write_text(text.replace(URL_PLACEHOLDER, (compose_url or UNSERVED_URL).rstrip("/")))
    if (template.parent / KICKSTARTS).is_dir():
        shutil.copytree(template.parent / KICKSTARTS, state_dir / KICKSTARTS, dirs_exist_ok=True)
    config = load_release_config(tmp)
    beside = {config.gating_policies.name, *(r.comps.name for r in config.releases.values() if r.comps)}
    beside |= {a.treefile.name for a in config.artifacts if a.treefile}
    for name in beside:
        shutil.copyfile(template.parent / name, state_dir / name)  # the policies, comps and treefiles beside it
    os.replace(tmp, target)
    config = load_release_config(target)
    for directory in (
        config.ostree.repo.parent,
        config.mirror.staging,
        Path(config.mirror.master),
        Path(config.mirror.archive),
    ):
        directory.mkdir(parents=True, exist_ok=True)
    return config
