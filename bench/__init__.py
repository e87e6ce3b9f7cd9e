"""Benchmarks, run on demand with `./dev bench NAME` (never part of the test suite)."""
