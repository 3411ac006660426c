"""Benchmarks of streamactors against its peers (see docs/benchmarks.md).

``python -m benchmarks.run`` runs them all and prints tables; ``--smoke`` is
the one-minute version CI runs. ``bench_decoders.py`` is a standalone
microbenchmark of the SSE and NDJSON decoders.
"""
