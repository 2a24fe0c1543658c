"""The run directory: invocation, result, metric curve, checkpoints and resume state.

Layout of ``<output>/<run-id>/``::

    run.json          what was asked for (model, task, preset, overrides, seed, ...): --resume reads it
    result.json       the RunResult, rewritten atomically on every status change
    curve.jsonl       metric curve, one JSON object per line, written as it happens
    checkpoints/last/ the backend's checkpoint (parameters, optimizer and RNG state) + loop_state.json
    checkpoints/best.npz  parameters (canonical names) of the best-validation evaluation

A checkpoint is written into a temporary folder and renamed into place, so a kill at any moment
leaves either the previous or the new checkpoint complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import UserError
from ..io import write_json_atomic, write_text_atomic

STATE_FILE = "loop_state.json"
_STEP_KEY = "__step__"


def make_run_id(model_id: str, task: str, preset: str, seed: int, when: float | None = None) -> str:
    """Readable id: ``torch-transformer-listops-smoke-s0-20250101-120000``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{model_id.replace('/', '-')}-{task}-{preset}-s{seed}")
    return f"{slug}-{stamp}"


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # ---- files -------------------------------------------------------------------------------
    @property
    def request_path(self) -> Path:
        return self.path / "run.json"

    @property
    def result_path(self) -> Path:
        return self.path / "result.json"

    @property
    def curve_path(self) -> Path:
        return self.path / "curve.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best_path(self) -> Path:
        return self.checkpoints / "best.npz"

    @property
    def run_id(self) -> str:
        return self.path.name

    # ---- creation / opening ------------------------------------------------------------------
    @classmethod
    def create(cls, output: str | Path, run_id: str) -> "RunDir":
        """A new, empty run directory; a numeric suffix keeps ids unique within a second."""
        output = Path(output)
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"--output {output}: cannot create the folder ({e.strerror})") from None
        for n in range(1, 1000):
            path = output / (run_id if n == 1 else f"{run_id}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path)
        raise UserError(f"--output {output}: too many runs named {run_id}")

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        rd = cls(path)
        if not rd.request_path.exists():
            raise UserError(f"--resume {path}: not a run directory (no run.json); pass a folder that lra-run created")
        return rd

    def write_request(self, request: dict[str, Any]) -> None:
        write_json_atomic(self.request_path, request)

    def read_request(self) -> dict[str, Any]:
        try:
            return json.loads(self.request_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(f"{self.request_path}: unreadable run.json ({e})") from None

    # ---- curve -------------------------------------------------------------------------------
    def append_curve(self, record: dict[str, Any]) -> None:
        """Append one line. Flushed to the OS (a killed process loses nothing) but not fsynced per
        line, which would cost milliseconds per step; :meth:`save_checkpoint` fsyncs the curve."""
        with open(self.curve_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def sync_curve(self) -> None:
        if self.curve_path.exists():
            with open(self.curve_path, "rb+") as f:
                os.fsync(f.fileno())

    def read_curve(self) -> list[dict[str, Any]]:
        if not self.curve_path.exists():
            return []
        out = []
        for line in self.curve_path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a torn last line after a kill
                break
        return out

    def truncate_curve(self, step: int) -> int:
        """Keep only training-time lines up to ``step`` (resume point); returns lines kept."""
        kept = [r for r in self.read_curve() if r.get("step", 0) <= step and r.get("phase") != "final"]
        write_text_atomic(self.curve_path, "".join(json.dumps(r) + "\n" for r in kept))
        return len(kept)

    # ---- checkpoints -------------------------------------------------------------------------
    def _last(self) -> Path:
        return self.checkpoints / "last"

    def _prev(self) -> Path:
        return self.checkpoints / ".prev"

    def save_checkpoint(self, state: dict[str, Any], save_backend: Callable[[Path], None]) -> None:
        """Backend checkpoint + loop state, swapped in atomically (the previous one kept until then)."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.sync_curve()  # the curve up to this step is durable with the checkpoint
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.checkpoints))
        try:
            save_backend(tmp / "backend")
            write_json_atomic(tmp / STATE_FILE, state)
            _fsync_dir(tmp)
            last, prev = self._last(), self._prev()
            if prev.exists():
                shutil.rmtree(prev)
            if last.exists():
                os.replace(last, prev)
            os.replace(tmp, last)
            _fsync_dir(self.checkpoints)
            shutil.rmtree(prev, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def latest_checkpoint(self) -> tuple[Path, dict[str, Any]] | None:
        """``(backend_dir, loop_state)`` of the newest complete checkpoint, or None."""
        for folder in (self._last(), self._prev()):
            state_file = folder / STATE_FILE
            if state_file.exists():
                try:
                    return folder / "backend", json.loads(state_file.read_text(encoding="utf-8"))
                except json.JSONDecodeError:
                    continue
        return None

    def clean_partial(self) -> None:
        """Remove half-written checkpoint folders a kill left behind."""
        if self.checkpoints.exists():
            for p in self.checkpoints.glob(".tmp-*"):
                shutil.rmtree(p, ignore_errors=True)

    def save_best(self, params: dict[str, np.ndarray], step: int) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".best-", suffix=".npz", dir=self.checkpoints)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **params, **{_STEP_KEY: np.asarray(step)})
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.best_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_best(self) -> tuple[dict[str, np.ndarray], int] | None:
        if not self.best_path.exists():
            return None
        with np.load(self.best_path) as data:
            params = {k: data[k] for k in data.files if k != _STEP_KEY}
            return params, int(data[_STEP_KEY])


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
