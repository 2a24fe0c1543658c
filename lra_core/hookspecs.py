"""Hook specifications of the ``lra`` plugin project (public API).

A plugin module holds functions decorated with :data:`hookimpl` whose names are these hooks; each
receives a ``register`` callable and calls it once per thing it provides.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT = "lra"
ENTRY_POINT_GROUP = "lra"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def lra_register_models(register: Callable[[Any], None]) -> None:
    """Register model cards: ``register(ModelCard(...))``."""


@hookspec
def lra_register_tasks(register: Callable[[Any], None]) -> None:
    """Register tasks: ``register(Task(spec=..., builder=...))``."""


@hookspec
def lra_register_backends(register: Callable[[Any], None]) -> None:
    """Register backend classes (subclasses of ``lra_core.Backend``): ``register(MyBackend)``."""
