"""Benchmarks for the bars of DESIGN.md: `python -m bench` (or `make bench`) runs them all."""
