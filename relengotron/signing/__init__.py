"""Signing release content: RPMs, OSTree commits and summaries, image CHECKSUM files, yum repomd.xml.

One interface (:class:`Signer`), two backends: :class:`LocalGpgSigner` (a GNUPGHOME on this machine) and
:class:`SigulSigner` (sigul client command lines on the signing bridge host, over SSH). Keys come from
configuration (in production the signing Airflow connection, see :func:`signer_from_settings`), never from
the repository.
"""

from relengotron.signing.base import SignatureConflict, Signer, SigningError, SignResult
from relengotron.signing.local import LocalGpgSigner
from relengotron.signing.settings import SignerSettings, parse_signer_settings, signer_from_settings
from relengotron.signing.sigul import SigulCommands, SigulSigner

__all__ = [
    "LocalGpgSigner",
    "SignResult",
    "SignatureConflict",
    "Signer",
    "SignerSettings",
    "SigningError",
    "SigulCommands",
    "SigulSigner",
    "parse_signer_settings",
    "signer_from_settings",
]
