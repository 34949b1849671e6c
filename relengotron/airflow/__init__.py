"""The seam between Airflow and the releng-o-tron library: what the operators and sensors in ``plugins/``, the
triggerer and the DAGs share, one module per job.

- :mod:`.hooks` — Airflow Connections in, the library's adapters out (built lazily); the release configuration.
- :mod:`.connections` — which connections a task uses, its clients built on first use, the one signer factory.
- :mod:`.push`, :mod:`.eol` — an ``updates_push`` or ``eol`` task's view of its run: what its params name and
  the services its step is handed.
- :mod:`.triggers` — the triggers of the deferrable sensors (the triggerer imports them from this package).
- :mod:`.errors` — transient failures retried, everything else failing the task at once.
- :mod:`.arguments` — template values as rendered, the run's date, mapped tasks' XComs.
- :mod:`.dag_defaults` — the retry policy and parameter schemas every DAG declares.

The steps themselves are the library's (``relengotron.*_run``); the rest of ``relengotron`` never imports
Airflow (``make lint`` checks the layers).
"""
