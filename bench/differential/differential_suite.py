"""Benchmark-only suite: one visit scenario, plain and @differential (bench_differential.py)."""

from pytest_bdd import scenarios

scenarios("differential.feature")
