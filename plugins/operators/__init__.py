"""Operators of the releng-o-tron DAGs: thin adapters over the relengotron library."""
