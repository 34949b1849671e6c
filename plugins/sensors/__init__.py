"""Sensors of the releng-o-tron DAGs: deferrable, thin adapters over relengotron (triggers in relengotron.airflow)."""
