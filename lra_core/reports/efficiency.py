"""The efficiency table (the paper's Table 2 layout) from profile records.

Tables are split by what makes numbers incomparable: task, preset, batch size, precision and
device. Within a table a row is one model and setting (``setting_hash``): a model profiled under
two settings gets two labelled rows and a warning, never a blend. Ratios are to ``<framework>/
transformer`` at the same length, measured in the same invocation when it was (else in the same
table, said in a note).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..profiling.record import ProfileRecord
from .notes import device_name, environment_line, join_unique
from .table import Table

BASELINE = "transformer"
STATUS_TEXT = {"oom": "OOM", "error": "ERROR", "timeout": "TIMEOUT", "skipped": "n/a"}


@dataclass(frozen=True)
class GroupKey:
    task: str
    preset: str
    batch_size: int
    precision: str
    device: str


def group_key(rec: ProfileRecord, devices: Mapping[tuple[str, str | None], str] | None = None) -> GroupKey:
    """What must match for two records to share a table. A record that failed before it saw its
    device (e.g. skipped, or a worker killed early) takes its invocation's device for that framework."""
    device = device_name(rec.device) or (devices or {}).get((rec.invocation_id, rec.model.framework))
    return GroupKey(rec.task.id, rec.task.preset, rec.task.batch_size, rec.protocol.precision, device or "unknown device")


def invocation_devices(records: Sequence[ProfileRecord]) -> dict[tuple[str, str | None], str]:
    out: dict[tuple[str, str | None], str] = {}
    for r in records:
        name = device_name(r.device)
        if name:
            out.setdefault((r.invocation_id, r.model.framework), name)
    return out


def _length_label(n: int) -> str:
    return f"{n // 1024}K" if n % 1024 == 0 else str(n)


def _memory_unit(records: Sequence[ProfileRecord]) -> tuple[str, float]:
    peaks = [r.memory.peak_bytes for r in records if r.ok and r.memory.peak_bytes]
    return ("GB", 1e9) if peaks and max(peaks) >= 1e8 else ("MB", 1e6)


def _rows(records: Sequence[ProfileRecord], warnings: list[str], where: str) -> dict[tuple[str, str | None], dict[int, ProfileRecord]]:
    """(model id, setting hash) -> length -> record; a failed-early record joins its model's row."""
    settings: dict[str, list[str]] = {}
    for r in records:
        if r.task.setting_hash and r.task.setting_hash not in settings.setdefault(r.model.id, []):
            settings[r.model.id].append(r.task.setting_hash)
    rows: dict[tuple[str, str | None], dict[int, ProfileRecord]] = {}
    for r in sorted(records, key=lambda r: r.created):
        known = settings.get(r.model.id, [])
        setting = r.task.setting_hash or (known[0] if known else None)
        row = rows.setdefault((r.model.id, setting), {})
        if r.task.length in row:
            warnings.append(
                f"{where}: {r.model.id} at length {r.task.length} was profiled more than once with the same "
                f"setting; the newest record (invocation {r.invocation_id}) is shown"
            )
        row[r.task.length] = r
    for model, hashes in settings.items():
        if len(hashes) > 1:
            warnings.append(
                f"{where}: {model} was profiled under {len(hashes)} different settings "
                f"({', '.join(h[:8] for h in hashes)}); they are shown as separate rows, not averaged"
            )
    return rows


def _baseline(rec: ProfileRecord, group: Sequence[ProfileRecord]) -> tuple[ProfileRecord | None, bool]:
    """The same framework's transformer at the same length: same invocation first, else the group."""
    fw = rec.model.framework or rec.model.id.split("/")[0]
    cands = [
        b for b in group
        if b.ok and b.model.name == BASELINE and (b.model.framework == fw) and b.task.length == rec.task.length
    ]
    same = [b for b in cands if b.invocation_id == rec.invocation_id]
    if same:
        return same[-1], True
    return (cands[-1], False) if cands else (None, False)


def efficiency_tables(
    profiles: Sequence[ProfileRecord],
    *,
    warnings: list[str] | None = None,
) -> list[Table]:
    """One Table 2 per comparable group, then a details table (compile time, spread, FLOPs, MFU)."""
    warnings = warnings if warnings is not None else []
    groups: dict[GroupKey, list[ProfileRecord]] = {}
    devices = invocation_devices(profiles)
    for r in profiles:
        groups.setdefault(group_key(r, devices), []).append(r)
    if len(groups) > 1:
        warnings.append(
            f"profile records come from {len(groups)} different settings (task/preset/batch/precision/device); "
            "each gets its own efficiency table"
        )
    tables: list[Table] = []
    for key, group in sorted(groups.items(), key=lambda kv: tuple(str(v) for v in vars(kv[0]).values())):
        where = f"{key.task}/{key.preset}/batch {key.batch_size}/{key.precision}/{key.device}"
        lengths = sorted({r.task.length for r in group})
        unit, scale = _memory_unit(group)
        rows = _rows(group, warnings, where)
        multi = {m for (m, _s) in rows if sum(1 for (m2, _x) in rows if m2 == m) > 1}
        table = Table(
            title=f"Efficiency: steps/s and peak memory ({unit}) — {key.task}, preset {key.preset}, batch {key.batch_size}, {key.precision}",
            columns=["Model"]
            + [f"steps/s {_length_label(n)}" for n in lengths]
            + [f"peak {unit} {_length_label(n)}" for n in lengths],
        )
        details = Table(
            title=f"Profile details — {key.task}, preset {key.preset}, batch {key.batch_size}, {key.precision}",
            columns=["Model", "Length", "Status", "median ms/step", "IQR/median", "first call s", "compile s",
                     "GFLOP/step analytic", "GFLOP/step counted", "MFU"],
        )
        noisy: list[str] = []
        cross_invocation = False
        order = sorted(rows, key=lambda k: (k[0].split("/")[-1] != BASELINE, k[0].split("/")[0], k[0], k[1] or ""))
        for model_id, setting in order:
            by_len = rows[(model_id, setting)]
            label = model_id if model_id not in multi else f"{model_id} [setting {(setting or '?')[:8]}]"
            speed, memory = [], []
            data: dict[str, Any] = {"model": model_id, "setting_hash": setting, "lengths": {}}
            for n in lengths:
                rec = by_len.get(n)
                if rec is None:
                    speed.append("—")
                    memory.append("—")
                    continue
                entry: dict[str, Any] = {"status": rec.status}
                data["lengths"][n] = entry
                if not rec.ok:
                    speed.append(STATUS_TEXT.get(rec.status, rec.status.upper()))
                    memory.append(STATUS_TEXT.get(rec.status, rec.status.upper()))
                    details.rows.append([label, str(n), rec.status.upper(), "", "", "", "", "", "", (rec.error or "")[:80]])
                    continue
                sps = rec.timings.steps_per_second or 0.0
                peak = rec.memory.peak_bytes
                base, same_inv = _baseline(rec, group)
                is_base = base is rec
                s_text = f"{sps:.2f}"
                m_text = "—" if peak is None else f"{peak / scale:.3g}"
                entry.update({"steps_per_second": sps, "peak_bytes": peak})
                if base is not None and not is_base and base.timings.steps_per_second:
                    ratio = sps / base.timings.steps_per_second
                    s_text += f" ({ratio:.2f}x)"
                    entry["speed_ratio"] = ratio
                    if peak is not None and base.memory.peak_bytes:
                        mratio = peak / base.memory.peak_bytes
                        m_text += f" ({mratio:.2f}x)"
                        entry["memory_ratio"] = mratio
                    cross_invocation |= not same_inv
                stats = rec.timings.stats
                if stats is not None and stats.noisy:
                    s_text += " †"
                    noisy.append(f"{model_id} {_length_label(n)} ({stats.relative_iqr:.0%})")
                speed.append(s_text)
                memory.append(m_text)
                f = rec.flops
                details.rows.append([
                    label,
                    str(n),
                    "ok",
                    f"{1000 * stats.median:.1f}" if stats else "—",
                    f"{stats.relative_iqr:.1%}" if stats else "—",
                    f"{rec.timings.first_step_seconds:.2f}" if rec.timings.first_step_seconds is not None else "—",
                    f"{rec.timings.compile_seconds:.2f}" if rec.timings.compile_seconds is not None else "—",
                    f"{f.analytic_step / 1e9:.3g}" if f.analytic_step else "—",
                    f"{f.counted_step / 1e9:.3g}" if f.counted_step else "—",
                    f"{f.mfu:.1%}" if f.mfu is not None else "—",
                ])
            table.rows.append([label] + speed + memory)
            table.data.append(data)
        protocols = {(r.protocol.warmup_steps, r.protocol.measured_steps, r.protocol.repeats) for r in group}
        table.notes = [
            f"preset: {key.preset}; task {key.task} (synthetic byte-level batches of the task's shape, full mask); "
            f"batch {key.batch_size}; precision {key.precision}",
            "timed region: one full train step (forward, backward, optimizer update), device sync at both edges; "
            "steps/s = 1 / median step time over "
            + join_unique(f"{w} warm-up + {r} x {m} measured steps" for (w, m, r) in sorted(protocols)),
            f"(Nx) = ratio to {'<framework>/' + BASELINE} at the same length (speed: higher is faster; memory: lower is less)"
            + ("; some baselines come from a different invocation" if cross_invocation else ", same invocation"),
            f"peak memory in {unit} (10^{'9' if unit == 'GB' else '6'} bytes); counter: "
            + join_unique(r.memory.counter for r in group) + "; window: " + join_unique(r.memory.window for r in group),
            "OOM = out of memory, ERROR = the step raised, TIMEOUT = worker killed, n/a = beyond the model's max length, — = not measured",
            f"seeds: {join_unique(sorted({r.protocol.seed for r in group}))}; invocations: {join_unique(r.invocation_id for r in group)}",
            environment_line([r.environment for r in group], [r.device for r in group]),
        ]
        if noisy:
            table.notes.append("† noisy (IQR/median above the threshold; rerun on an idle machine): " + ", ".join(noisy))
        compile_sources = join_unique(r.timings.compile_source for r in group if r.ok)
        details.notes = [
            f"compile s: {compile_sources}",
            "GFLOP/step analytic: 3 x the card's forward formula (comparable across frameworks, used for MFU); "
            "counted: the framework's own counter (diagnostic, not comparable across frameworks)",
            f"MFU = analytic FLOP/step x steps/s / device peak ({join_unique(r.flops.device_peak_flops for r in group if r.flops.device_peak_flops)} FLOP/s; — when unknown)",
        ]
        tables += [table, details]
    return tables


def profile_environment(profiles: Sequence[ProfileRecord]) -> list[str]:
    """The environment block ``lra-profile`` prints after its table."""
    lines: list[str] = []
    devices: dict[str, Mapping[str, Any]] = {}
    for r in profiles:
        if r.device:
            devices.setdefault(r.model.framework or "?", r.device)
    for fw, d in sorted(devices.items()):
        lines.append(f"{fw} device: " + ", ".join(f"{k}={v}" for k, v in d.items() if not isinstance(v, (dict, list))))
    envs = [r.environment for r in profiles]
    if envs:
        e = envs[0]
        git = e.get("git") or {}
        lines += [
            f"CPU: {e.get('cpu')} ({e.get('cpu_count')} logical cores)",
            f"OS: {e.get('os')}; Python {e.get('python')}",
            f"git commit: {git.get('commit')}{' (dirty)' if git.get('dirty') else ''}",
        ]
        threads = ", ".join(f"{k}={v}" for k, v in (e.get("threads") or {}).items() if v is not None)
        lines.append(f"threads: {threads or 'framework defaults (no OMP/MKL/XLA variables set)'}")
    return lines
