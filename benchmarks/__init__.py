"""Benchmarks for Cloudstamp, run with ``make bench`` (``python -m benchmarks``).

Each benchmark prints its figures beside a peer or a lower bound measured in the same run, as
ratios: absolute requests per second depend on the machine, ratios much less so.
"""
