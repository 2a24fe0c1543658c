"""The hardware profiling protocol (LRA Table 2), defined once for every framework."""

from .protocol import ProfileProtocol
from .record import ProfileRecord, ProfileSet, read_profile, write_profile
from .runner import run_profile
from .stats import TimingStats, summarize

__all__ = [
    "ProfileProtocol",
    "ProfileRecord",
    "ProfileSet",
    "TimingStats",
    "read_profile",
    "run_profile",
    "summarize",
    "write_profile",
]
