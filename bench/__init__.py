"""Benchmarks of frontdesk against a baseline measured in the same run (see bench/README.md)."""
