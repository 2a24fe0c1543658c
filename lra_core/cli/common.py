"""What every command shares: plugin flags, the registry, and one-line user errors."""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Callable, Sequence

from ..errors import UserError
from ..plugins import Registry, get_registry


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so errors stay one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-p",
        dest="plugin_modules",
        action="append",
        default=[],
        metavar="MODULE",
        help="also load this (uninstalled) plugin module; repeatable",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def registry(args: argparse.Namespace) -> Registry:
    return get_registry(tuple(getattr(args, "plugin_modules", []) or []))


def run_guarded(fn: Callable[[], int], debug: bool) -> int:
    """Run a command; a UserError becomes one line on stderr and exit 2 (traceback with --debug)."""
    try:
        return fn()
    except UserError as e:
        if debug:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def wants_debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv
