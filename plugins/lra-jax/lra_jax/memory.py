"""Peak memory: device allocator statistics on GPU/TPU, the process's peak RSS on CPU.

CPU uses the same method as the torch backend: writing ``5`` to ``/proc/self/clear_refs`` resets the
kernel's high-water mark (VmHWM) to the current RSS, so ``VmHWM - RSS at reset`` is the peak growth
during the window. JAX exposes no way to reset a device's ``peak_bytes_in_use``, so on accelerators
the peak is the one since the process started (the profiler runs every configuration in a fresh
process, which makes the two the same).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class CpuPeakMeter:
    """Peak RSS growth since :meth:`reset`, in bytes (None where /proc is unavailable)."""

    def __init__(self) -> None:
        self._rss_at_reset: int | None = None

    def reset(self) -> None:
        try:
            _CLEAR_REFS.write_text("5")
        except OSError:
            self._rss_at_reset = None
            return
        self._rss_at_reset = _status_kib("VmRSS")

    def peak_bytes(self) -> int | None:
        if self._rss_at_reset is None:
            return None
        hwm = _status_kib("VmHWM")
        if hwm is None:
            return None
        return max(0, hwm - self._rss_at_reset) * 1024


def device_peak_bytes(devices: Sequence[Any]) -> int | None:
    """Largest ``peak_bytes_in_use`` over ``devices`` (None if the platform reports no statistics)."""
    peaks = []
    for d in devices:
        try:
            stats = d.memory_stats()
        except Exception:  # some platforms raise instead of returning None
            stats = None
        if stats and "peak_bytes_in_use" in stats:
            peaks.append(int(stats["peak_bytes_in_use"]))
    return max(peaks) if peaks else None
