"""Run the profile: one fresh worker process per (model, length), records collected in order.

A worker that runs out of memory or raises writes a record saying so; one that dies without a record
(killed by the kernel's OOM killer, a segfault, a timeout) gets one written here. Either way the
rest of the table goes on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Mapping, Sequence

from tqdm import tqdm

from .protocol import ProfileProtocol
from .record import ProfileRecord, base_record, read_profile


def new_invocation_id() -> str:
    return uuid.uuid4().hex[:12]


def _tail(text: str | bytes | None, n: int = 1500) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text.strip()[-n:]


def _dead_worker_record(
    model: str, length: int, protocol: ProfileProtocol, invocation_id: str, returncode: int | None, stderr: str
) -> ProfileRecord:
    rec = base_record(model, length, protocol, invocation_id)
    if returncode is None:
        rec.status = "timeout"
        rec.error = f"worker exceeded the protocol's timeout_s={protocol.timeout_s:g}s and was killed"
    elif returncode == -signal.SIGKILL:
        # SIGKILL from outside is, on Linux, almost always the kernel's out-of-memory killer.
        rec.status = "oom"
        rec.error = "worker killed by SIGKILL without writing a record (most likely the kernel's OOM killer)"
    else:
        rec.status = "error"
        rec.error = f"worker exited with status {returncode} without writing a record"
    rec.worker = {"returncode": returncode, "stderr_tail": stderr}
    return rec


def run_one(
    model: str,
    length: int,
    protocol: ProfileProtocol,
    *,
    modules: Sequence[str] = (),
    invocation_id: str,
    workdir: Path,
) -> ProfileRecord:
    """Spawn ``python -m lra_core.profiling.worker`` for one configuration and read its record."""
    out = workdir / f"{model.replace('/', '__')}-{length}.json"
    cmd = [
        sys.executable,
        "-m",
        "lra_core.profiling.worker",
        "--model", model,
        "--length", str(length),
        "--protocol", protocol.model_dump_json(),
        "--invocation-id", invocation_id,
        "--out", str(out),
    ]
    for module in modules:
        cmd += ["-p", module]
    # The parent's cwd is importable for `-p` modules given as local files, as in the CLI.
    env = dict(os.environ)
    if protocol.threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(protocol.threads)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), env.get("PYTHONPATH", "")] if p)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=protocol.timeout_s, env=env)
    except subprocess.TimeoutExpired as e:
        return _dead_worker_record(model, length, protocol, invocation_id, None, _tail(e.stderr))
    if out.exists():
        try:
            (rec,) = read_profile(out)
        except Exception as exc:  # a half-written or foreign file: say so, keep going
            return _dead_worker_record(
                model, length, protocol, invocation_id, proc.returncode, f"unreadable record: {exc}\n{_tail(proc.stderr)}"
            )
        if proc.stderr and rec.status != "ok":
            rec.worker.setdefault("stderr_tail", _tail(proc.stderr))
        return rec
    return _dead_worker_record(model, length, protocol, invocation_id, proc.returncode, _tail(proc.stderr))


def run_profile(
    models: Sequence[str],
    protocol: ProfileProtocol,
    *,
    modules: Sequence[str] = (),
    invocation_id: str | None = None,
    skipped: Mapping[tuple[str, int], str] | None = None,
    progress: bool = True,
) -> list[ProfileRecord]:
    """Every model at every protocol length, each in its own worker; records in (model, length) order.

    ``skipped`` maps a configuration to the reason it is not run (e.g. beyond the card's max length);
    it gets a ``skipped`` record so the table shows why the cell is empty.
    """
    invocation_id = invocation_id or new_invocation_id()
    skipped = dict(skipped or {})
    configs = [(m, length) for m in models for length in protocol.lengths]
    records: list[ProfileRecord] = []
    with tempfile.TemporaryDirectory(prefix="lra-profile-") as tmp:
        bar = tqdm(configs, desc="profile", unit="config", disable=not progress, file=sys.stderr)
        for model, length in bar:
            bar.set_postfix_str(f"{model} L={length}")
            if (model, length) in skipped:
                rec = base_record(model, length, protocol, invocation_id)
                rec.status = "skipped"
                rec.error = skipped[(model, length)]
            else:
                rec = run_one(model, length, protocol, modules=modules, invocation_id=invocation_id, workdir=Path(tmp))
            records.append(rec)
            if rec.status != "ok":
                last = (rec.error or "").strip().splitlines()
                bar.write(f"{model} L={length}: {rec.status.upper()}: {last[-1] if last else ''}")
    return records
