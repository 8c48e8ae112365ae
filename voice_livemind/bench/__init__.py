"""Benchmarks: datasets, scoring, text and spoken replay, result records, analysis."""
