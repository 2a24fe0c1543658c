"""The encoder-contract conformance suite (import name ``lra_conformance``).

One implementation, three fronts:

- Python: ``run_checks("torch/transformer") -> Report`` (``report.ok``, ``report.to_dict()``);
- CLI: ``lra-conformance --plugin MODEL [--json PATH] [--check ID ...]`` (exit 0 / 1 / 2);
- pytest: ``pytest --lra-plugin MODEL`` runs every check as its own test, and
  :func:`lra_conformance.pytest_plugin.parametrize_with_checks` does the same in a plugin's suite.

Checks go through the backend primitives and compare in NumPy, so each is written once for every
framework. Imports neither torch nor jax.
"""

from .checks import CHECKS, Check, Outcome, parameter_budget
from .context import CheckContext
from .report import FAIL, PASS, SKIP, STATUSES, SUITE_VERSION, WARN, XFAIL, CheckResult, Report
from .runner import Session, check_parameter_budget, run_checks, select_checks

__all__ = [
    "CHECKS",
    "FAIL",
    "PASS",
    "SKIP",
    "STATUSES",
    "SUITE_VERSION",
    "WARN",
    "check_parameter_budget",
    "XFAIL",
    "Check",
    "CheckContext",
    "CheckResult",
    "Outcome",
    "Report",
    "Session",
    "parameter_budget",
    "run_checks",
    "select_checks",
]
