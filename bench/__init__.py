"""Benchmarks of clientcoach: `python -m bench [--quick]` (see README)."""
