"""Report semantics (no framework needed): which statuses fail, JSON and table rendering."""

from __future__ import annotations

import json

import pytest

from lra_conformance import CHECKS, CheckResult, Report, select_checks
from lra_core.errors import UserError


def report(*statuses: str) -> Report:
    r = Report("torch/x", "torch", "cpu", "fp32")
    for i, s in enumerate(statuses):
        r.results.append(CheckResult(f"check{i}", s, f"message {i}", {"value": i}, reason="why" if s == "expected-failure" else None))
    return r


@pytest.mark.parametrize("statuses, ok", [
    (("pass", "warn", "skip", "expected-failure"), True),
    (("pass", "fail"), False),
    ((), True),
])
def test_only_fail_makes_a_report_not_ok(statuses, ok):
    assert report(*statuses).ok is ok


def test_unknown_status_is_rejected():
    with pytest.raises(ValueError, match="unknown status"):
        CheckResult("x", "passed", "")


def test_to_dict_is_json_and_lists_expected_failures_and_warnings():
    import numpy as np

    r = report("pass", "warn", "expected-failure", "fail")
    r.results[0].measured = {"diff": np.float32(0.5), "shape": np.array([1, 2]), "nan": float("nan")}
    d = json.loads(json.dumps(r.to_dict()))
    assert d["ok"] is False
    assert d["counts"] == {"pass": 1, "fail": 1, "warn": 1, "skip": 0, "expected-failure": 1}
    assert d["expected_failures"] == {"check2": "why"}
    assert d["warnings"] == {"check1": "message 1"}
    assert d["results"][0]["measured"] == {"diff": 0.5, "shape": [1, 2], "nan": None}
    assert [x["check"] for x in d["results"]] == ["check0", "check1", "check2", "check3"]


def test_table_shows_every_check_the_declared_reason_and_the_verdict():
    r = report("pass", "expected-failure", "fail")
    table = r.to_table()
    for i in range(3):
        assert f"check{i}" in table
    assert "[declared: why]" in table
    assert table.splitlines()[-1] == "torch/x: FAILED (1 pass, 1 fail, 1 expected-failure)"


def test_select_checks_filters_and_keeps_suite_order():
    assert [c.id for c in select_checks(["padding_mask", "card_valid"])] == ["card_valid", "padding_mask"]
    fast = select_checks(fast_only=True)
    assert fast and all(c.fast for c in fast) and len(fast) < len(CHECKS)
    with pytest.raises(UserError, match="unknown check.*nope"):
        select_checks(["nope"])


def test_every_rule_of_the_issue_has_a_check():
    assert set(CHECKS) == {
        "card_valid", "factory_builds", "output_contract", "output_lengths", "batch_independence",
        "padding_mask", "bidirectional", "eval_determinism", "seeded_init", "gradients",
        "inputs_untouched", "state_round_trip", "complexity", "param_budget",
    }
