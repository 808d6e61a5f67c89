"""Benchmarks (make bench): each figure next to a ceiling measured in the same run."""
