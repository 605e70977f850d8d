"""Benchmarks that print figures (see bench/README.md); never asserted as timings in tests."""
