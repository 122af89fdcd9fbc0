"""Benchmarks at real scale (`python -m bench --size small|full`); never part of the test run."""
