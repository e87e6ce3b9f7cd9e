"""Microsoft's real Python worker runtime, driven in-process as the Functions host drives it (tests, benchmarks)."""
