"""Benchmarks: each prints its figures; ``python -m bench`` writes bench/results.json."""
