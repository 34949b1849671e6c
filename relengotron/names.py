"""The shapes of the names that the release configuration, the DAGs' parameters, the updates and the messages
share, written once: each is a regular expression's text (for JSON schemas, e.g. an Airflow ``Param``'s
``pattern``) and its compiled form (for the library's own checks). Pure.
"""

from __future__ import annotations

import re

# A release, artifact or Koji tag id: f24, rawhide, atomic-host, f24-updates-testing-pending.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$"
# An update alias or a push id as Bodhi writes them: FEDORA-2016-1a2b3c, 2016-06-14.0.
WORD_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:+\-]*$"
# A build's name-version-release: glibc-2.23.1-8.fc24 (NVR_BODY: the same, to compose other patterns with).
NVR_BODY = r"[^\s/]+-[^-\s/]+-[^-\s/]+"
NVR_PATTERN = rf"^{NVR_BODY}$"
# A signing key id as Koji's sigkey spells it: 8 lower-case hex digits.
KEY_ID_PATTERN = r"^[0-9a-f]{8}$"
# A tree on another host, as rsync and ssh write it: host:/absolute/path or user@host:/absolute/path.
REMOTE_PATTERN = r"^[A-Za-z0-9_.\-]+@?[A-Za-z0-9_.\-]*:/"
# A location a run may name: an absolute local path or a remote tree.
LOCATION_PATTERN = r"^(/|[A-Za-z0-9_.\-]+@?[A-Za-z0-9_.\-]*:/)"

# The entry point group the artifact kinds are registered in (relengotron.artifacts.registry), whose names are the
# release configuration's `kind:` values and the updates_push DAG's task groups.
ARTIFACT_KINDS_GROUP = "relengotron.artifacts"

ID = re.compile(ID_PATTERN)
WORD = re.compile(WORD_PATTERN)
NVR = re.compile(NVR_PATTERN)
KEY_ID = re.compile(KEY_ID_PATTERN)
REMOTE = re.compile(REMOTE_PATTERN)
LOCATION = re.compile(LOCATION_PATTERN)
