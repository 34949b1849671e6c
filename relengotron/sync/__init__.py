"""Sync the staging tree to the master mirror: content first, metadata last, deletions after, then verify.

See :mod:`relengotron.sync.mirror` for the passes, :mod:`relengotron.sync.changeset` for a push's changes,
:mod:`relengotron.sync.filelist` for the downstream mirrors' file lists, :mod:`relengotron.sync.classify`
for which path goes in which pass, :mod:`relengotron.sync.verify` for the checks made after a sync.
"""

from relengotron.sync.changeset import Changeset, ChangesetError
from relengotron.sync.classify import PASSES, Classification, PathClass, classify, classify_tree, ostree_roots
from relengotron.sync.itemize import Change, PlannedChange, SyncPlan, parse_itemized, plan
from relengotron.sync.mirror import Mirror, MirrorSync, SyncError, SyncInterrupted, SyncResult
from relengotron.sync.mirrorfs import MirrorFS
from relengotron.sync.verify import Problem, VerifyReport, verify_paths, verify_tree

__all__ = [
    "PASSES",
    "Change",
    "Changeset",
    "ChangesetError",
    "Classification",
    "Mirror",
    "MirrorFS",
    "MirrorSync",
    "PathClass",
    "PlannedChange",
    "Problem",
    "SyncError",
    "SyncInterrupted",
    "SyncPlan",
    "SyncResult",
    "VerifyReport",
    "classify",
    "classify_tree",
    "ostree_roots",
    "parse_itemized",
    "plan",
    "verify_paths",
    "verify_tree",
]
