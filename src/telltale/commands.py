"""Registers each subcommand from the module that owns it."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from telltale.detect import cli as detect_cli

    detect_cli.register(sub)
