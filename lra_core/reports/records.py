"""Find and read run and profile records: files, or directories searched recursively."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from pydantic import ValidationError

from ..errors import UserError
from ..profiling.record import ProfileRecord, parse_profile
from ..results import RunResult
from ..specs import format_validation_error

RECORD_KINDS = ("run", "profile", "profile-set")


@dataclass
class Records:
    runs: list[RunResult] = field(default_factory=list)
    profiles: list[ProfileRecord] = field(default_factory=list)
    #: Where each record came from (by ``id()``), for warnings that name files.
    sources: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def source(self, record: object) -> str:
        return self.sources.get(id(record), "?")

    def extend(self, other: "Records") -> None:
        self.runs += other.runs
        self.profiles += other.profiles
        self.sources.update(other.sources)
        self.warnings += other.warnings


def _parse(raw: object, where: str, into: Records) -> None:
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if kind == "run":
        try:
            run = RunResult.model_validate(raw)
        except ValidationError as e:
            raise UserError(format_validation_error(e, where)) from None
        into.runs.append(run)
        into.sources[id(run)] = where
    elif kind in ("profile", "profile-set"):
        for rec in parse_profile(raw, where):
            into.profiles.append(rec)
            into.sources[id(rec)] = where
    else:
        raise UserError(f"{where}: not a result or profile record (field kind is {kind!r}; expected one of {RECORD_KINDS})")


def read_file(path: Path, into: Records, *, explicit: bool) -> None:
    """Read one JSON file. A named file must be a record; one found in a folder may be anything."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        if explicit:
            raise UserError(f"{path}: not valid JSON: {e}") from None
        into.warnings.append(f"{path}: skipped, not valid JSON")
        return
    if not explicit and not (isinstance(raw, dict) and raw.get("kind") in RECORD_KINDS):
        return  # configs and other JSON files that live next to results
    try:
        _parse(raw, str(path), into)
    except UserError as e:
        if explicit:
            raise
        into.warnings.append(f"skipped an invalid record: {e}")


def load_records(paths: Iterable[str | Path]) -> Records:
    """Every run and profile record under ``paths`` (files, or folders searched for ``*.json``)."""
    out = Records()
    paths = list(paths)
    if not paths:
        raise UserError("RESULTS: give at least one result file or folder (e.g. lra-report runs/)")
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.rglob("*.json")):
                read_file(f, out, explicit=False)
        elif path.exists():
            read_file(path, out, explicit=True)
        else:
            raise UserError(f"{path}: no such file or folder")
    if not out.runs and not out.profiles:
        raise UserError(f"no run or profile records found in {', '.join(str(p) for p in paths)}")
    return out
