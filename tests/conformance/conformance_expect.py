"""Shared assertions for the broken-encoder tests of both frameworks."""

from __future__ import annotations

from lra_conformance import Report

#: Statuses that flag a rule (a skip is not a flag: it says another check explains the problem).
FLAGS = {"fail", "warn", "expected-failure"}


def assert_flags_only(report: Report, check: str, status: str) -> None:
    """``check`` has ``status``; every other check passed, or skipped naming ``check``."""
    got = report.result(check)
    assert got.status == status, f"{report.model} {check}: {got.status}: {got.message}"
    for r in report.results:
        if r.check == check:
            continue
        assert r.status not in FLAGS, f"{report.model}: {r.check} also flagged ({r.status}: {r.message})"
        if r.status == "skip":
            assert check in r.message, f"{report.model}: {r.check} skipped for another reason: {r.message}"
