"""Offline evaluation: question sets, metrics, the report, and the `rag eval` driver."""
