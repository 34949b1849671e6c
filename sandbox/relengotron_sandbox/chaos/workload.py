"""The chaos run's workload: the demo's story (an autosign burst, a Rawhide gating batch, five composes in three
``bodhi-push`` runs) and one more push — systemd and the kernel (f24), whose submitters ask for stable first, as
packagers do with ``bodhi updates request`` — so that at least six pushes run while the parts die. Pure data.
(The CI-sized run is the demo's own story, tests/integration/test_demo.py.)
"""

from __future__ import annotations

from dataclasses import replace

from relengotron_sandbox.demo.scenario import AMI_24, EXPECTED, SCENARIO, Act, BodhiPush, Update

SYSTEMD = Update("FEDORA-2016-68eb5db5a9", "f24", ("systemd-229-9.fc24",))
KERNEL = Update("FEDORA-2016-e26aae6802", "f24", ("kernel-4.6.4-301.fc24",))

ACTS: tuple[Act, ...] = (
    *SCENARIO,
    Act(
        "third-push",
        "Third push",
        "systemd and the kernel (f24) asked to stable by their submitters, then bodhi-push.",
        after=(SCENARIO[-1].key,),
        stable_requests=(SYSTEMD.alias, KERNEL.alias),
        push=BodhiPush((SYSTEMD, KERNEL)),
    ),
)

EXPECTED_END = replace(
    EXPECTED,
    pushed=tuple(alias for act in ACTS for alias in act.aliases),
    # the f24 cloud AMI's boot test always fails (the world forces it), and it carries systemd and the kernel
    held_back_in={**EXPECTED.held_back_in, SYSTEMD.alias: (AMI_24,), KERNEL.alias: (AMI_24,)},
    bugs_closed={**EXPECTED.bugs_closed, 1300106: KERNEL.alias},
)
