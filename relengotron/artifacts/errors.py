"""Which failures of a compose become an :class:`ArtifactError` naming the artifact, and how."""

from __future__ import annotations

from relengotron.artifacts.base import ArtifactError
from relengotron.kojiclient import KojiError
from relengotron.manifest import ManifestError
from relengotron.mash.errors import MashError
from relengotron.ostree.compose import ComposeError
from relengotron.ostree.postprocess import PostprocessError
from relengotron.ostree.repo import RepoError
from relengotron.ostree.treefile import TreefileError
from relengotron.signing.base import SigningError
from relengotron.signing.checksum import ChecksumFormatError
from relengotron.tools.rootfs import RootfsError
from relengotron.tools.run import ToolError

# Permanent failures of the tools and services a compose drives (KojiTransientError is a KojiError but is
# re-raised as it is by the callers: it is worth a retry).
COMPOSE_FAILURES: tuple[type[BaseException], ...] = (
    KojiError,
    ManifestError,
    MashError,
    ComposeError,
    PostprocessError,
    RootfsError,
    RepoError,
    TreefileError,
    SigningError,
    ChecksumFormatError,
    ToolError,
    OSError,
)


def wrap(label: str, exc: BaseException) -> ArtifactError:
    """An :class:`ArtifactError` for ``label`` saying what ``exc`` said (without naming the artifact twice)."""
    text = str(exc) or type(exc).__name__
    prefix = f"{label}: "
    while text.startswith(prefix):
        text = text[len(prefix) :]
    return ArtifactError(label, text)
