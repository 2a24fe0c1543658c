"""Peak device memory on GPU/TPU from the allocator statistics.

On CPU the backend uses the core's process measurement (``lra_core.profiling.process_memory``), the
same as every other backend. JAX exposes no way to reset a device's ``peak_bytes_in_use``, so on accelerators
the peak is the one since the process started (the profiler runs every configuration in a fresh
process, which makes the two the same).
"""

from __future__ import annotations

from typing import Any, Sequence

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
