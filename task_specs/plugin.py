"""Registers the built-in tasks through the same hook a third-party task plugin uses.

Each task folder has ``spec.toml`` and a ``builder`` module with ``build(request)`` and optionally
``export(dataset_dict, directory)`` and ``render(example, path)``. A folder may declare several named
tasks (e.g. Pathfinder variants) through a module-level ``TASKS`` list of ``Task`` objects instead.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from lra_core import Task, hookimpl, load_task_spec

HERE = Path(__file__).resolve().parent


def builtin_tasks() -> list[Task]:
    tasks: list[Task] = []
    for folder in sorted(p for p in HERE.iterdir() if (p / "builder.py").exists()):
        module = importlib.import_module(f"{__package__}.{folder.name}.builder")
        if hasattr(module, "TASKS"):
            tasks.extend(module.TASKS)
            continue
        spec = load_task_spec(folder / "spec.toml")
        tasks.append(
            Task(
                spec=spec,
                builder=module.build,
                exporter=getattr(module, "export", None),
                render=getattr(module, "render", None),
            )
        )
    return tasks


@hookimpl
def lra_register_tasks(register: Callable[[Task], None]) -> None:
    for task in builtin_tasks():
        register(task)
