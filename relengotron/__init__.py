"""releng-o-tron: Fedora release engineering automated on Apache Airflow 3."""

__version__ = "0.1.0"
