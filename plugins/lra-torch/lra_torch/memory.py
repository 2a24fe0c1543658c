"""Peak memory over a measurement window: CUDA allocator peak, or the process's peak RSS on CPU.

CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` (tensor memory, as the
profiler reports it). CPU: the core's :class:`~lra_core.profiling.process_memory.ProcessPeakMemory`,
the same measurement every framework's backend uses.
"""

from __future__ import annotations

import torch

from lra_core.profiling.process_memory import ProcessPeakMemory


class PeakMemory:
    """One measurement window on ``device``; :meth:`reset` opens it, :meth:`peak_bytes` reads it."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._process = ProcessPeakMemory() if device.type != "cuda" else None
        self.reset()

    def reset(self) -> None:
        if self._process is not None:
            self._process.reset()
            return
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)

    def peak_bytes(self) -> int | None:
        if self._process is not None:
            return self._process.peak_bytes()
        torch.cuda.synchronize(self.device)
        return int(torch.cuda.max_memory_allocated(self.device))
