"""The chaos run (``make chaos``): the demo's stack — the sandbox, a real Airflow (the embedded LocalExecutor or the
CeleryExecutor deployment) and the listener — plays a seeded workload of Bodhi pushes, a Rawhide gating batch
and an autosign burst while a controller kills or stops one component at a time at seeded moments; each is
brought back as its supervisor would; at the end the system's promises are checked, each with its count.

- :mod:`.plan` — the seeded fault plan and the figures of a run (pure);
- :mod:`.faults` — how each component is killed or stopped, and how its recovery is seen;
- :mod:`.watch` — the master mirror polled during the run: never metadata naming a missing file;
- :mod:`.invariants` — the promises checked at the end, each with its count;
- :mod:`.run` — the run itself and its report (the seed and the timeline to replay a failure).
"""
