"""Results of the conformance suite: one :class:`CheckResult` per check, gathered in a :class:`Report`.

Statuses (sklearn/pytest vocabulary): ``pass``; ``fail`` (the contract is broken); ``warn`` (worth
knowing, not a failure: e.g. more parameters than the reference); ``skip`` (the check does not apply
to the card's capabilities, or cannot be judged because another check failed); ``expected-failure``
(the check failed and the card declared it with a reason). Only ``fail`` makes a report not ok.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PASS = "pass"
FAIL = "fail"
WARN = "warn"
SKIP = "skip"
XFAIL = "expected-failure"
STATUSES = (PASS, FAIL, WARN, SKIP, XFAIL)

#: Version of the rule set; bump when a check is added or a rule tightened (listed in the report).
SUITE_VERSION = "1.0"


def _jsonable(value: Any) -> Any:
    """Measured values as plain JSON (NumPy scalars and arrays included)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # NumPy scalars / arrays
        return value.tolist()
    if isinstance(value, float) and value != value:
        return None  # NaN is not JSON
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


@dataclass
class CheckResult:
    """The outcome of one check on one model."""

    check: str
    status: str
    message: str
    measured: dict[str, Any] = field(default_factory=dict)
    #: The card's declared reason, when the check is listed in ``expected_failures``.
    reason: str | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; use one of {STATUSES}")

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "message": self.message,
            "measured": _jsonable(self.measured),
            "reason": self.reason,
            "seconds": round(self.seconds, 4),
        }


@dataclass
class Report:
    """Every check's result for one model, plus what the suite ran on."""

    model: str
    framework: str
    device: str
    precision: str
    results: list[CheckResult] = field(default_factory=list)
    suite_version: str = SUITE_VERSION
    fast_only: bool = False

    @property
    def ok(self) -> bool:
        """True when no required check failed (warn, skip and expected-failure do not fail)."""
        return not any(r.failed for r in self.results)

    def result(self, check: str) -> CheckResult:
        for r in self.results:
            if r.check == check:
                return r
        raise KeyError(f"no result for check {check!r} in this report")

    def by_status(self, status: str) -> list[CheckResult]:
        return [r for r in self.results if r.status == status]

    def counts(self) -> dict[str, int]:
        return {s: len(self.by_status(s)) for s in STATUSES}

    @property
    def failures(self) -> list[CheckResult]:
        return self.by_status(FAIL)

    @property
    def warnings(self) -> list[CheckResult]:
        return self.by_status(WARN)

    @property
    def expected_failures(self) -> list[CheckResult]:
        return self.by_status(XFAIL)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "framework": self.framework,
            "device": self.device,
            "precision": self.precision,
            "suite_version": self.suite_version,
            "fast_only": self.fast_only,
            "ok": self.ok,
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
            # Listed apart so that a reader of results never misses a declared failure.
            "expected_failures": {r.check: r.reason for r in self.expected_failures},
            "warnings": {r.check: r.message for r in self.warnings},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def summary(self) -> str:
        c = self.counts()
        parts = [f"{n} {s}" for s, n in c.items() if n]
        verdict = "OK" if self.ok else "FAILED"
        return f"{self.model}: {verdict} ({', '.join(parts) or 'no checks run'})"

    def to_table(self, width: int = 100) -> str:
        """A plain-text table: check, status, seconds, message (wrapped), then the verdict."""
        import textwrap

        name_w = max([len("check")] + [len(r.check) for r in self.results])
        status_w = max(len(s) for s in STATUSES)
        head = f"{'check':<{name_w}}  {'status':<{status_w}}  {'time':>6}  message"
        msg_w = max(30, width - len(head) + len("message"))
        lines = [
            f"conformance of {self.model} (suite {self.suite_version}, {self.device}, {self.precision}"
            + (", fast checks only" if self.fast_only else "")
            + ")",
            head,
            "-" * min(width, len(head) + msg_w - len("message")),
        ]
        indent = " " * (name_w + status_w + 12)
        for r in self.results:
            text = r.message if r.reason is None else f"{r.message} [declared: {r.reason}]"
            wrapped = textwrap.wrap(text, msg_w) or [""]
            lines.append(f"{r.check:<{name_w}}  {r.status:<{status_w}}  {r.seconds:5.2f}s  {wrapped[0]}")
            lines.extend(indent + w for w in wrapped[1:])
        lines.append(self.summary())
        return "\n".join(lines)
