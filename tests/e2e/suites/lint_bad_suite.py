"""Test-only suite: features with every kind of lint error (run by tests/integration/test_lint.py)."""

from pytest_bdd import scenarios

scenarios("lint_bad.feature")
