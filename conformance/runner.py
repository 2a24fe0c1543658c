"""Run checks on a model and gather a :class:`Report` (the one implementation behind all three fronts).

:class:`Session` holds one model's context, so checks share builds, and runs checks one by one (the
pytest plugin runs each as its own test); :func:`run_checks` runs a selection and returns the report.
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

from lra_core import EncoderConfig, ModelCard, Registry, get_registry
from lra_core.errors import UserError

from .checks import CHECKS, Check, Outcome
from .context import CheckContext, Skip
from .report import FAIL, PASS, SKIP, WARN, XFAIL, CheckResult, Report


def select_checks(checks: Sequence[str] | None = None, *, fast_only: bool = False) -> list[Check]:
    """Checks by id, in the suite's order; unknown ids are a :class:`UserError` naming them."""
    if checks:
        unknown = [c for c in checks if c not in CHECKS]
        if unknown:
            raise UserError(f"--check: unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
        wanted = set(checks)
        selected = [c for c in CHECKS.values() if c.id in wanted]
    else:
        selected = list(CHECKS.values())
    return [c for c in selected if c.fast or not fast_only]


def resolve_card(model: str | ModelCard, registry: Registry | None) -> tuple[ModelCard, Registry]:
    if isinstance(model, ModelCard):
        return model, registry if registry is not None else get_registry()
    registry = registry if registry is not None else get_registry()
    return registry.model(model), registry


class Session:
    """One model under test: its context and the declared expected failures."""

    def __init__(
        self,
        model: str | ModelCard,
        *,
        registry: Registry | None = None,
        device: str = "cpu",
        precision: str = "fp32",
        expected_failures: Mapping[str, str] | None = None,
    ) -> None:
        self.card, self.registry = resolve_card(model, registry)
        if precision == "bf16" and not self.card.capabilities.bf16:
            raise UserError(f"--precision bf16: model {self.card.id} does not declare capabilities.bf16")
        self.ctx = CheckContext(self.card, self.registry, device=device, precision=precision)
        # The card's declarations, plus those a test suite adds (sklearn's expected_failed_checks).
        self.expected = {**self.card.expected_failures, **dict(expected_failures or {})}

    def run(self, check: Check | str) -> CheckResult:
        chk = CHECKS[check] if isinstance(check, str) else check
        start = time.perf_counter()
        reason = chk.applies(self.card)
        if reason is not None:
            outcome = Outcome(SKIP, reason)
        else:
            try:
                outcome = chk.run(self.ctx)
            except Skip as s:
                outcome = Outcome(SKIP, str(s))
            except UserError:
                raise  # a usage error (bad device, missing backend) is not a model failure
            except Exception as exc:  # the model or backend broke the contract by raising
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                outcome = Outcome(FAIL, f"raised {type(exc).__name__}: {first}", {"exception": type(exc).__name__})
        result = CheckResult(chk.id, outcome.status, outcome.message, outcome.measured, seconds=time.perf_counter() - start)
        return self._apply_expected(result)

    def _apply_expected(self, result: CheckResult) -> CheckResult:
        reason = self.expected.get(result.check)
        if reason is None:
            return result
        result.reason = reason
        if result.status in (FAIL, WARN):
            result.status = XFAIL
        elif result.status == PASS:
            # Listed, never silent: an expected failure that passes should be removed from the card.
            result.status = WARN
            result.message = f"declared as an expected failure but passed; remove it from expected_failures ({result.message})"
        return result


def run_checks(
    model: str | ModelCard,
    *,
    registry: Registry | None = None,
    checks: Sequence[str] | None = None,
    fast_only: bool = False,
    device: str = "cpu",
    precision: str = "fp32",
    expected_failures: Mapping[str, str] | None = None,
    progress: bool = False,
) -> Report:
    """Run the conformance checks on ``model`` (an id such as ``torch/transformer`` or a card).

    ``checks`` selects ids (default: all), ``fast_only`` keeps the quick ones (what ``lra-run`` runs
    before training). ``expected_failures`` adds ``{check: reason}`` to the card's own.
    """
    selected = select_checks(checks, fast_only=fast_only)
    session = Session(model, registry=registry, device=device, precision=precision, expected_failures=expected_failures)
    report = Report(session.card.id, session.card.framework, device, precision, fast_only=fast_only)
    iterator = selected
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(selected, desc=f"conformance {session.card.id}", unit="check", leave=False)
        iterator = bar
    for chk in iterator:
        if bar is not None:
            bar.set_postfix_str(chk.id)
        report.results.append(session.run(chk))
    return report


def check_parameter_budget(
    model: str | ModelCard,
    config: EncoderConfig,
    *,
    max_length: int | None = None,
    registry: Registry | None = None,
    device: str = "cpu",
) -> CheckResult:
    """The ``param_budget`` check at a given (task) config: for ``lra-run`` to record in results.

    Builds the model and ``<framework>/transformer`` at ``reference_config(config)`` (no forward
    pass) and warns when the model has more than 10% more encoder parameters.
    """
    from .checks import parameter_budget

    session = Session(model, registry=registry, device=device)
    start = time.perf_counter()
    try:
        kwargs = {"max_length": max_length} if max_length is not None else {}
        outcome = parameter_budget(session.ctx, config, **kwargs)
    except Skip as s:
        outcome = Outcome(SKIP, str(s))
    result = CheckResult("param_budget", outcome.status, outcome.message, outcome.measured, seconds=time.perf_counter() - start)
    return session._apply_expected(result)
