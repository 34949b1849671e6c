"""Mash: a Koji tag's latest signed builds as a yum repository with updateinfo (see :mod:`.mash`)."""

from relengotron.mash.errors import MashError, MashTransientError
from relengotron.mash.mash import MashResult, mash
from relengotron.mash.plan import DEBUG_REPO, MashPlan, PlannedRPM, is_debug, plan_mash, repo_arches
from relengotron.mash.repo import RECORD, parse_record, read_record, record_changes
from relengotron.mash.updateinfo import Collection, PackageEntry, build_updateinfo

__all__ = [
    "DEBUG_REPO",
    "RECORD",
    "Collection",
    "MashError",
    "MashPlan",
    "MashResult",
    "MashTransientError",
    "PackageEntry",
    "PlannedRPM",
    "build_updateinfo",
    "is_debug",
    "mash",
    "parse_record",
    "plan_mash",
    "read_record",
    "record_changes",
    "repo_arches",
]
