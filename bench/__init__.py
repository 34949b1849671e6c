"""releng-o-tron's benchmarks (issue 8): each figure measured beside its baseline in the same run.

Not part of the test suite (pytest collects only ``tests/``). Run ``make bench`` or ``python -m bench``;
see bench/README.md.
"""
