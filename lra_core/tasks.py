"""Task registrations: a spec plus the callables that build (and optionally export) its data."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from .specs import ResolvedTask, TaskSpec


class BuildRequest(BaseModel):
    """What a data builder is asked to build.

    ``source`` is one of the spec's sources (``generated``, ``official``, ``hf``, ``local`` ...);
    ``path`` points at local files when the source reads them; ``seed`` drives generators and seeded
    splits; ``options`` carries source-specific settings (e.g. ``{"holdout": 0.1}``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: ResolvedTask
    source: str
    path: Path | None = None
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict)


class Task(BaseModel):
    """A registered task.

    ``builder(request) -> datasets.DatasetDict`` with splits train/validation/test. Single-input
    tasks have an int column ``inputs`` (unpadded token ids, no CLS) and ``label``; pair tasks have
    ``inputs1``, ``inputs2`` and ``label``. ``exporter(dataset_dict, directory)`` writes generated data
    in the official release layout. ``render(example, path)`` writes a human view of one example
    (text or PNG) and returns what it wrote.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    spec: TaskSpec
    builder: Callable[[BuildRequest], Any]
    exporter: Callable[[Any, Path], None] | None = None
    render: Callable[[dict[str, Any], Path | None], str] | None = None

    @property
    def id(self) -> str:
        return self.spec.id
