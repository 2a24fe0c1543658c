"""Peak resident memory of this process over a window: the CPU half of the memory protocol.

The kernel's peak resident set (``VmHWM``) since the window opened, minus the resident set at that
moment. Linux resets ``VmHWM`` when "5" is written to ``/proc/self/clear_refs``; where that is not
allowed, a peak is reported only when it rose above the old high-water mark (otherwise the window's
own peak is unknown and ``None`` is returned). Backends use this on CPU, so every framework's CPU
figure is measured the same way.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _ru_maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # macOS reports bytes, Linux KiB


def _rss_bytes() -> int | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def _hwm_bytes() -> int:
    kib = _status_kib("VmHWM")
    return kib * 1024 if kib is not None else _ru_maxrss_bytes()


class ProcessPeakMemory:
    """One window: :meth:`reset` opens it, :meth:`peak_bytes` reads the growth of the peak RSS."""

    def __init__(self) -> None:
        self._baseline = 0
        self._hwm_at_reset = 0
        self._hwm_was_reset = False
        self.reset()

    def reset(self) -> None:
        self._hwm_was_reset = self._clear_hwm()
        rss = _rss_bytes()
        self._baseline = rss if rss is not None else _ru_maxrss_bytes()
        self._hwm_at_reset = _hwm_bytes()

    def peak_bytes(self) -> int | None:
        hwm = _hwm_bytes()
        if not self._hwm_was_reset and hwm <= self._hwm_at_reset:
            return None  # the high-water mark predates the window and was not exceeded
        return max(0, hwm - self._baseline)

    @staticmethod
    def _clear_hwm() -> bool:
        try:
            _CLEAR_REFS.write_text("5")
        except OSError:
            return False
        return True
