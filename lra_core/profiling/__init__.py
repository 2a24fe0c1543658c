"""The hardware profiling protocol (LRA Table 2), defined once for every framework."""

from .protocol import ProfileProtocol

__all__ = ["ProfileProtocol"]
