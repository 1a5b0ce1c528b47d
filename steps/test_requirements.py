"""Binds every requirement under features/ to the step vocabulary."""

from pytest_bdd import scenarios

scenarios("../features")
