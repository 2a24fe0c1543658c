"""Summary statistics of step timings: median and IQR, with torch.utils.benchmark's noise flags."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

#: IQR/median above this is "system fluctuation" (torch.utils.benchmark's _IQR_WARN_THRESHOLD).
NOISE_THRESHOLD = 0.10
#: IQR/median above this is "significant environmental influence" (_IQR_GROSS_WARN_THRESHOLD).
GROSS_NOISE_THRESHOLD = 0.25


class TimingStats(BaseModel):
    """Median and spread of per-step seconds; steps/s is the reciprocal of the median."""

    model_config = ConfigDict(extra="forbid")

    n: int
    median: float
    q1: float
    q3: float
    iqr: float
    min: float
    max: float
    mean: float
    #: IQR / median: the relative spread the noise flags are decided on.
    relative_iqr: float
    noise_threshold: float
    noisy: bool
    grossly_noisy: bool

    @property
    def steps_per_second(self) -> float:
        return 1.0 / self.median if self.median > 0 else float("inf")

    def warning(self) -> str | None:
        """One line for the table's notes, or None when the spread is within the threshold."""
        if not self.noisy:
            return None
        kind = "significant environmental influence" if self.grossly_noisy else "system fluctuation"
        return (
            f"IQR/median = {self.relative_iqr:.0%} > {self.noise_threshold:.0%} ({kind}); "
            "timings are noisy, rerun on an idle machine"
        )


def summarize(samples: Sequence[float], noise_threshold: float = NOISE_THRESHOLD) -> TimingStats:
    """Statistics of ``samples`` (seconds). Quartiles use linear interpolation (NumPy's default)."""
    values = np.asarray(list(samples), dtype=np.float64)
    if values.size == 0:
        raise ValueError("summarize: no timing samples")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("summarize: timings must be finite and non-negative")
    q1, median, q3 = (float(v) for v in np.percentile(values, [25, 50, 75]))
    iqr = q3 - q1
    relative = iqr / median if median > 0 else 0.0
    gross = max(GROSS_NOISE_THRESHOLD, noise_threshold)
    return TimingStats(
        n=int(values.size),
        median=median,
        q1=q1,
        q3=q3,
        iqr=iqr,
        min=float(values.min()),
        max=float(values.max()),
        mean=float(values.mean()),
        relative_iqr=relative,
        noise_threshold=noise_threshold,
        noisy=relative > noise_threshold,
        grossly_noisy=relative > gross,
    )
