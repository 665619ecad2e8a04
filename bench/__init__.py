"""Benchmarks: indexing throughput (index.py) and question latency (query.py); each prints JSON."""
