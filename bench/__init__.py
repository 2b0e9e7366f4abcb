"""Benchmarks (`make bench`): each module prints JSON lines; none is a test."""
