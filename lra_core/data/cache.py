"""The on-disk dataset cache: build once, keep as Arrow, load memory-mapped.

Layout: ``<data_dir>/<task>/<source>-<key>/`` holds a ``datasets.DatasetDict.save_to_disk`` folder and
``build.json`` (what was built, from where, when). ``key`` hashes everything that changes the data:
task id, spec version, source, seed, split sizes, max_length and source options (plus the cache
format). The local path of the user's files is not part of the key: the same release files give the
same data wherever they sit, so ``lra data prepare ... --path DIR`` once serves every later run.

A build is written into a temporary folder next to its destination and renamed into place, so a
reader never sees half a dataset and a killed build leaves nothing behind that looks complete.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import MissingDataError, UserError
from ..tasks import BuildRequest, Task

ENV_DATA_DIR = "LRA_DATA_DIR"
#: Bump when the stored layout changes; old caches are then rebuilt, not misread.
CACHE_FORMAT = 1
SPLITS = ("train", "validation", "test")


def data_dir() -> Path:
    """``$LRA_DATA_DIR``, else the user's cache folder (``$XDG_CACHE_HOME/lra`` or ``~/.cache/lra``)."""
    env = os.environ.get(ENV_DATA_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "lra"


def raw_dir(task_id: str) -> Path:
    """Where a task's user-supplied files are looked for when no ``--path`` is given."""
    return data_dir() / "raw" / task_id


def build_params(request: BuildRequest) -> dict[str, Any]:
    """Everything that determines the built data (the cache key is its hash)."""
    return {
        "cache_format": CACHE_FORMAT,
        "task": request.task.task,
        "version": request.task.version,
        "source": request.source,
        "seed": request.seed,
        "splits": {k: request.task.splits[k] for k in sorted(request.task.splits)},
        "max_length": request.task.max_length,
        "options": {k: request.options[k] for k in sorted(request.options)},
    }


def cache_key(request: BuildRequest) -> str:
    blob = json.dumps(build_params(request), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_path(request: BuildRequest) -> Path:
    return data_dir() / request.task.task / f"{request.source}-{cache_key(request)}"


def is_cached(request: BuildRequest) -> bool:
    return (cache_path(request) / "build.json").is_file()


def prepare_command(task_id: str, source: str, preset: str, needs_path: bool) -> str:
    """The exact command that prepares a task's data."""
    cmd = f"lra data prepare {task_id} --source {source}"
    if needs_path:
        cmd += " --path DIR"
    if preset != "code":
        cmd += f" --preset {preset}"
    return cmd


def missing_files(request: BuildRequest, where: Path, expected: str) -> MissingDataError:
    """The standard error for a source whose user files are absent (builders raise it)."""
    task = request.task.task
    return MissingDataError(
        f"task {task!r}: no {request.source} data at {where} (expected {expected}); put the files there, "
        f"or run `{prepare_command(task, request.source, request.task.preset, True)}` with DIR holding them"
    )


def source_path(request: BuildRequest, expected: str, exists: Any = None) -> Path:
    """The folder a file-reading source reads: ``request.path`` or :func:`raw_dir`; must exist.

    ``exists`` (optional) is a predicate on the folder; when it returns False the data is missing.
    """
    where = Path(request.path).expanduser() if request.path is not None else raw_dir(request.task.task)
    if not where.exists() or (exists is not None and not exists(where)):
        raise missing_files(request, where, expected)
    return where


_scratch: list[Path] = []


def scratch_dir() -> Path:
    """A per-process temporary folder under the data dir, removed at exit (for large builds)."""
    if not _scratch:
        root = data_dir() / ".scratch"
        root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
        _scratch.append(path)
        atexit.register(shutil.rmtree, path, True)
    return _scratch[0]


def _check_built(task: Task, dsd: Any) -> None:
    import datasets

    who = f"task {task.id!r}: builder"
    if not isinstance(dsd, datasets.DatasetDict):
        raise TypeError(f"{who} returned {type(dsd).__name__}, expected datasets.DatasetDict")
    missing = [s for s in SPLITS if s not in dsd]
    if missing:
        raise TypeError(f"{who} returned no split(s) {missing}")
    columns = ["inputs1", "inputs2", "label"] if task.spec.input == "pair" else ["inputs", "label"]
    for split in SPLITS:
        absent = [c for c in columns if c not in dsd[split].column_names]
        if absent:
            raise TypeError(f"{who}: split {split!r} lacks column(s) {absent}")


def _validate_request(task: Task, request: BuildRequest) -> None:
    if request.task.task != task.id:
        raise ValueError(f"build request is for task {request.task.task!r}, not {task.id!r}")
    if request.source not in task.spec.sources:
        raise UserError(
            f"--source: task {task.id!r} has no source {request.source!r}; choose one of {', '.join(task.spec.sources)}"
        )


def load_dataset(task: Task, request: BuildRequest, *, build_if_missing: bool = True, rebuild: bool = False) -> Any:
    """The task's ``datasets.DatasetDict`` (train/validation/test), from the cache or built now.

    Generated sources build on demand; file sources raise :class:`MissingDataError` when their files
    are absent. ``rebuild`` builds again even when cached (``lra data prepare --force``).
    """
    import datasets

    _validate_request(task, request)
    path = cache_path(request)
    if (path / "build.json").is_file() and not rebuild:
        return datasets.load_from_disk(str(path))
    if not build_if_missing:
        needs_path = request.source not in ("generated", "hf")
        raise MissingDataError(
            f"task {task.id!r}: {request.source} data for preset {request.task.preset!r} is not prepared "
            f"(looked in {path}); run `{prepare_command(task.id, request.source, request.task.preset, needs_path)}`"
        )
    started = time.time()
    dsd = task.builder(request)
    _check_built(task, dsd)
    dsd = datasets.DatasetDict({s: _flat(dsd[s]) for s in SPLITS})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:8]}"
    try:
        dsd.save_to_disk(str(tmp))
        info = {
            **build_params(request),
            "path": str(request.path) if request.path is not None else None,
            "sizes": {s: len(dsd[s]) for s in SPLITS},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build_seconds": round(time.time() - started, 2),
        }
        (tmp / "build.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        if path.exists():  # a rebuild, or a concurrent build finished first
            if not rebuild:
                shutil.rmtree(tmp, ignore_errors=True)
                return datasets.load_from_disk(str(path))
            old = path.parent / f".old-{path.name}-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return datasets.load_from_disk(str(path))


def _flat(ds: Any) -> Any:
    # A selected/shuffled dataset keeps an indices mapping; store the rows themselves.
    return ds.flatten_indices() if getattr(ds, "_indices", None) is not None else ds


def build_info(request: BuildRequest) -> dict[str, Any] | None:
    """The ``build.json`` of a cached build, or None."""
    f = cache_path(request) / "build.json"
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None


def make_request(
    task: Task,
    preset: str = "code",
    *,
    source: str | None = None,
    path: str | Path | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> BuildRequest:
    """A :class:`BuildRequest` for ``task`` at ``preset`` (default source from the spec)."""
    src = source or task.spec.default_source
    if src not in task.spec.sources:
        raise UserError(f"--source: task {task.id!r} has no source {src!r}; choose one of {', '.join(task.spec.sources)}")
    return BuildRequest(
        task=task.spec.resolved(preset),
        source=src,
        path=Path(path).expanduser() if path is not None else None,
        seed=seed,
        options=dict(options or {}),
    )
