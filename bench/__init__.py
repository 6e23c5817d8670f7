"""Benchmarks of fastae, run with pytest-benchmark (results in docs/benchmarks.md)."""
