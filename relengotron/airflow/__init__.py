"""The seam between Airflow and the releng-o-tron library.

Everything Airflow-specific that the triggerer, the operators in ``plugins/`` and the DAGs share lives here:
hooks that turn Airflow Connections into the library's adapters, and the triggers of deferrable sensors (the
triggerer imports them from an installed package). The rest of ``relengotron`` never imports Airflow.
"""
