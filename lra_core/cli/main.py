"""The ``lra`` command and the standalone console scripts that map onto its subcommands."""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

from ..errors import UserError
from .common import ArgumentParser, add_common, run_guarded, wants_debug

#: subcommand -> module with ``add_arguments(parser)`` and ``main(args) -> int``.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "list": ("lra_core.cli.list_cmd", "list models, tasks, backends and plugins"),
    "run": ("lra_core.cli.run_cmd", "train and evaluate a model on a task (same as lra-run)"),
    "data": ("lra_core.cli.data_cmd", "prepare, inspect, show and export task data"),
    "compare": ("lra_core.cli.compare_cmd", "cross-framework parity of two models"),
    "conformance": ("lra_conformance.cli", "check a model keeps the encoder contract"),
    "profile": ("lra_core.cli.profile_cmd", "LRA Table 2: steps/s and peak memory (lra-profile)"),
    "report": ("lra_core.cli.report_cmd", "tables and plots from result records (lra-report)"),
}


class _Broken:
    """Stands in for a subcommand whose module failed to import: the rest of the CLI still works."""

    def __init__(self, module_name: str, error: BaseException) -> None:
        self.error = f"{module_name}: {type(error).__name__}: {error}"

    def add_arguments(self, parser) -> None:
        parser.add_argument("rest", nargs="*")

    def main(self, args) -> int:
        raise UserError(f"this command is unavailable because its module failed to import ({self.error})")


def _load(name: str):
    module_name = SUBCOMMANDS[name][0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            return None  # that part of the tool is not installed
        return _Broken(module_name, e)
    except Exception as e:  # a bug in one command must not take down the others
        return _Broken(module_name, e)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lra", description="The open Long Range Arena.")
    add_common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name, (_, help_text) in SUBCOMMANDS.items():
        module = _load(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_common(p)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = wants_debug(argv)

    def go() -> int:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "_module", None):
            parser.print_help()
            return 2
        return int(args._module.main(args) or 0)

    return run_guarded(go, debug)


def _script(command: str) -> int:
    return main([command, *sys.argv[1:]])


def run_main() -> int:
    return _script("run")


def conformance_main() -> int:
    return _script("conformance")


def profile_main() -> int:
    return _script("profile")


def report_main() -> int:
    return _script("report")


if __name__ == "__main__":
    sys.exit(main())
