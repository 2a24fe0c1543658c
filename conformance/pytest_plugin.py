"""pytest front of the conformance suite: every check is its own test.

Registered through the ``pytest11`` entry point, so it is active wherever lra-arena is installed:

- ``pytest --lra-plugin torch/transformer`` adds one test per check, with ids such as
  ``lra_conformance[torch/transformer::padding_mask]`` (``-k padding_mask`` selects one);
  ``--lra-check ID``, ``--lra-fast``, ``--lra-device`` and ``--lra-load MODULE`` (an uninstalled
  plugin module, like ``lra -p``) narrow or extend it.
- In a plugin's own suite::

      from lra_conformance.pytest_plugin import parametrize_with_checks

      @parametrize_with_checks(["torch/my-model"])
      def test_contract(lra_check):
          lra_check()

A failed check fails its test with the check's message; ``warn`` passes with a
:class:`ConformanceWarning`; ``skip`` skips; a declared expected failure is an xfail with its reason.
Nothing here imports torch or jax until a check runs.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import pytest

from lra_core import ModelCard, Registry, get_registry
from lra_core.errors import UserError

from .report import FAIL, SKIP, WARN, XFAIL, CheckResult
from .runner import Session, select_checks


class ConformanceWarning(UserWarning):
    """A check that reports something worth knowing without failing (e.g. the parameter budget)."""


class ConformanceFailure(AssertionError):
    """A check failed: the model breaks the encoder contract."""


_SESSIONS: dict[tuple[Any, ...], Session] = {}


def _session(
    model: str | ModelCard,
    *,
    device: str,
    precision: str,
    modules: Sequence[str],
    registry: Registry | None,
    expected_failures: Mapping[str, str] | None,
) -> Session:
    """One session per model and settings for the whole pytest run, so checks share builds."""
    key = (
        id(model) if isinstance(model, ModelCard) else model,
        device,
        precision,
        tuple(modules),
        id(registry),
        tuple(sorted((expected_failures or {}).items())),
    )
    if key not in _SESSIONS:
        reg = registry if registry is not None else get_registry(tuple(modules))
        _SESSIONS[key] = Session(
            model, registry=reg, device=device, precision=precision, expected_failures=expected_failures
        )
    return _SESSIONS[key]


def outcome_to_pytest(result: CheckResult) -> None:
    """Turn a check result into pytest's vocabulary (raise on fail/skip/xfail, warn on warn)."""
    text = f"{result.check}: {result.message}"
    if result.status == FAIL:
        raise ConformanceFailure(text)
    if result.status == SKIP:
        pytest.skip(text)
    if result.status == XFAIL:
        pytest.xfail(f"{result.check}: expected failure ({result.reason}): {result.message}")
    if result.status == WARN:
        warnings.warn(ConformanceWarning(text), stacklevel=2)


class ConformanceCase:
    """One (model, check) pair; call it inside a test to run the check."""

    def __init__(
        self,
        model: str | ModelCard,
        check: str,
        *,
        device: str = "cpu",
        precision: str = "fp32",
        modules: Sequence[str] = (),
        registry: Registry | None = None,
        expected_failures: Mapping[str, str] | None = None,
    ) -> None:
        self.model = model
        self.check = check
        self.device = device
        self.precision = precision
        self.modules = tuple(modules)
        self.registry = registry
        self.expected_failures = dict(expected_failures or {})

    @property
    def model_id(self) -> str:
        return self.model.id if isinstance(self.model, ModelCard) else self.model

    @property
    def id(self) -> str:
        return f"{self.model_id}::{self.check}"

    def result(self) -> CheckResult:
        session = _session(
            self.model,
            device=self.device,
            precision=self.precision,
            modules=self.modules,
            registry=self.registry,
            expected_failures=self.expected_failures,
        )
        return session.run(self.check)

    def __call__(self) -> CheckResult:
        result = self.result()
        outcome_to_pytest(result)
        return result

    def __repr__(self) -> str:
        return f"ConformanceCase({self.id})"


def parametrize_with_checks(
    models: Sequence[str | ModelCard],
    *,
    checks: Sequence[str] | None = None,
    fast_only: bool = False,
    device: str = "cpu",
    precision: str = "fp32",
    modules: Sequence[str] = (),
    registry: Registry | None = None,
    expected_failures: Mapping[str, str] | None = None,
    argname: str = "lra_check",
) -> pytest.MarkDecorator:
    """``pytest.mark.parametrize`` over every (model, check): one test id ``<model>::<check>`` each.

    ``expected_failures`` ``{check: reason}`` adds to the cards' own declarations (xfail, with the
    reason). ``modules`` are uninstalled plugin modules to load, as ``lra -p``.
    """
    selected = select_checks(checks, fast_only=fast_only)
    cases = [
        ConformanceCase(
            m, c.id, device=device, precision=precision, modules=modules, registry=registry,
            expected_failures=expected_failures,
        )
        for m in models
        for c in selected
    ]
    return pytest.mark.parametrize(argname, [pytest.param(case, id=case.id) for case in cases])


# ---- pytest --lra-plugin MODEL -----------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lra-conformance", "LRA encoder-contract conformance")
    group.addoption("--lra-plugin", action="append", default=[], metavar="MODEL",
                    help="add one test per conformance check of MODEL (e.g. torch/transformer); repeatable")
    group.addoption("--lra-check", action="append", default=[], metavar="ID",
                    help="only these conformance checks (repeatable; comma-separated works)")
    group.addoption("--lra-fast", action="store_true", help="only the fast conformance checks")
    group.addoption("--lra-device", default="cpu", help="device of the conformance checks (default: cpu)")
    group.addoption("--lra-precision", default="fp32", choices=["fp32", "bf16"], help="precision (default: fp32)")
    group.addoption("--lra-load", action="append", default=[], metavar="MODULE",
                    help="also load this uninstalled plugin module (as `lra -p`); repeatable")


class ConformanceItem(pytest.Item):
    """A test that runs one check on one model."""

    def __init__(self, *, case: ConformanceCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        self.case()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ConformanceFailure):
            return f"conformance check failed: {excinfo.value}"
        if isinstance(excinfo.value, UserError):  # unknown model, missing backend, bad device
            return f"conformance could not run: {excinfo.value}"
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"lra-conformance {self.case.id}"


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so they apply to these tests too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    models = config.getoption("lra_plugin")
    if not models:
        return
    raw = config.getoption("lra_check")
    checks = [c.strip() for item in raw for c in item.split(",") if c.strip()] or None
    try:
        selected = select_checks(checks, fast_only=config.getoption("lra_fast"))
    except Exception as e:
        raise pytest.UsageError(str(e)) from None
    for model in models:
        for chk in selected:
            case = ConformanceCase(
                model,
                chk.id,
                device=config.getoption("lra_device"),
                precision=config.getoption("lra_precision"),
                modules=config.getoption("lra_load"),
            )
            name = f"lra_conformance[{case.id}]"
            items.append(ConformanceItem.from_parent(session, name=name, nodeid=name, case=case))
