"""``make demo``: the main job from a fresh clone, in one command.

The sandbox of Fedora's services, an embedded Airflow (what ``airflow standalone`` runs, on 127.0.0.1 only)
running the project's DAGs against it, and the listener; then a scenario played on the bus as Fedora's services
would send it, shown as it runs and summarised from what the pipeline left behind. Modules: :mod:`.run` (start,
play, summarise, stop), :mod:`.airflow_embed` and :mod:`.airflow_local`, :mod:`.listener_embed`,
:mod:`.processes`, :mod:`.scenario`, :mod:`.progress`, :mod:`.summary`.
"""

from relengotron_sandbox.demo.run import DEFAULT_STATE, run_demo, stop

__all__ = ["DEFAULT_STATE", "run_demo", "stop"]
