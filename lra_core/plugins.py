"""Plugin discovery and the registry of models, tasks and backends.

Entry points in the ``lra`` group are loaded with importlib.metadata; each names a module holding
hookimpls. A plugin that fails to import, or whose hook raises, is recorded and skipped. Built-in
tasks and first-party backends come through exactly this path.

Environment:
- ``LRA_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points (only ``-p`` modules).
- ``LRA_PLUGINS=a,b``: load only entry points whose name or distribution is listed.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
import pkgutil
import traceback
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Iterable, Sequence

import pluggy

from . import hookspecs
from .backend import Backend
from .cards import ModelCard
from .errors import PluginError
from .tasks import Task

DISABLE_ENV = "LRA_DISABLE_PLUGIN_AUTOLOAD"
ALLOW_ENV = "LRA_PLUGINS"


@dataclass
class PluginInfo:
    """One loaded (or failed) plugin module and where it came from."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    source: str  # "entry-point" or "-p"
    error: str | None = None
    registered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def origin(self) -> str:
        if self.distribution:
            return f"{self.distribution} {self.version or ''}".strip()
        return f"module {self.module}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "source": self.source,
            "status": "ok" if self.ok else "failed",
            "error": self.error,
            "registered": list(self.registered),
        }


@dataclass
class Registry:
    models: dict[str, ModelCard] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    backends: dict[str, type[Backend]] = field(default_factory=dict)
    origins: dict[tuple[str, str], PluginInfo] = field(default_factory=dict)
    conflicts: dict[tuple[str, str], list[PluginInfo]] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)

    # ---- lookups -----------------------------------------------------------------------------
    def origin(self, kind: str, key: str) -> PluginInfo:
        return self.origins[(kind, key)]

    def _check_conflict(self, kind: str, key: str) -> None:
        if (kind, key) in self.conflicts:
            infos = self.conflicts[(kind, key)]
            who = " and ".join(i.origin() for i in infos)
            raise PluginError(
                f"{kind} {key!r} is registered by both {who}; uninstall one, or choose with "
                f"{ALLOW_ENV}=<name,...>"
            )

    def model(self, name: str) -> ModelCard:
        """Resolve ``framework/name`` or a bare name that only one framework has."""
        if "/" in name:
            self._check_conflict("model", name)
            if name in self.models:
                return self.models[name]
            candidates = list(self.models)
        else:
            matches = [mid for mid, c in self.models.items() if c.name == name]
            if len(matches) == 1:
                self._check_conflict("model", matches[0])
                return self.models[matches[0]]
            if len(matches) > 1:
                raise PluginError(
                    f"--plugin: model name {name!r} is ambiguous; use one of {', '.join(sorted(matches))}"
                )
            candidates = list(self.models) + [c.name for c in self.models.values()]
        raise PluginError(f"--plugin: unknown model {name!r}{_did_you_mean(name, candidates)}; see `lra list models`")

    def task(self, name: str) -> Task:
        self._check_conflict("task", name)
        if name not in self.tasks:
            raise PluginError(f"--task: unknown task {name!r}{_did_you_mean(name, self.tasks)}; see `lra list tasks`")
        return self.tasks[name]

    def backend(self, framework: str) -> type[Backend]:
        self._check_conflict("backend", framework)
        if framework not in self.backends:
            failed = [p for p in self.plugins if not p.ok]
            hint = f" ({len(failed)} plugin(s) failed to load; see `lra list plugins`)" if failed else ""
            raise PluginError(
                f"no backend for framework {framework!r} is installed{hint}; install its plugin "
                f"(e.g. pip install lra-{framework})"
            )
        return self.backends[framework]

    def failed_plugins(self) -> list[PluginInfo]:
        return [p for p in self.plugins if not p.ok]


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _module_distribution(module: str) -> tuple[str | None, str | None]:
    top = module.split(".")[0]
    dists = md.packages_distributions().get(top) or []
    if not dists:
        return None, None
    try:
        return dists[0], md.version(dists[0])
    except md.PackageNotFoundError:
        return dists[0], None


class PluginLoader:
    """Builds a :class:`Registry` from entry points and explicitly named modules."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self._infos: dict[int, PluginInfo] = {}

    def _add_module(self, info: PluginInfo, load: Callable[[], Any]) -> None:
        self.registry.plugins.append(info)
        try:
            module = load()
            self.pm.register(module, name=f"{info.source}:{info.name}")
        except Exception as exc:  # a broken plugin must never break the others
            info.error = _error_text(exc)
            return
        self._infos[id(module)] = info

    def load_entry_points(self, allow: Sequence[str] | None = None) -> None:
        seen: set[tuple[str, str]] = set()
        for ep in md.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            dname = dist.metadata["Name"] if dist is not None else None
            key = (ep.name, ep.value)
            if key in seen:  # the same distribution visible twice on sys.path
                continue
            seen.add(key)
            if allow is not None and ep.name not in allow and (dname or "") not in allow:
                continue
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dname,
                version=dist.version if dist is not None else None,
                source="entry-point",
            )
            self._add_module(info, ep.load)

    def load_module(self, module: str) -> None:
        dist, version = _module_distribution(module)
        info = PluginInfo(name=module, module=module, distribution=dist, version=version, source="-p")
        self._add_module(info, lambda: importlib.import_module(module))

    def collect(self) -> Registry:
        reg = self.registry
        self._run_hook("lra_register_backends", "backend", lambda b: b.framework, reg.backends, _check_backend)
        self._run_hook("lra_register_tasks", "task", lambda t: t.id, reg.tasks, _check_task)
        self._run_hook("lra_register_models", "model", lambda c: c.id, reg.models, _check_model)
        return reg

    def _run_hook(
        self,
        hook_name: str,
        kind: str,
        key_of: Callable[[Any], str],
        table: dict[str, Any],
        check: Callable[[Any], None],
    ) -> None:
        reg = self.registry
        # Call each plugin's implementation separately so one raising does not hide the others.
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            info = self._infos[id(impl.plugin)]
            staged: list[Any] = []

            def register(obj: Any, _staged: list[Any] = staged) -> None:
                check(obj)
                _staged.append(obj)

            try:
                impl.function(register=register)
            except Exception as exc:
                info.error = f"{hook_name}: {_error_text(exc)}"
                continue
            for obj in staged:
                key = key_of(obj)
                if key in table:
                    first = reg.origins[(kind, key)]
                    reg.conflicts.setdefault((kind, key), [first]).append(info)
                    continue
                table[key] = obj
                reg.origins[(kind, key)] = info
                info.registered.append(f"{kind}:{key}")


def _check_backend(obj: Any) -> None:
    if not (isinstance(obj, type) and issubclass(obj, Backend)):
        raise TypeError(f"lra_register_backends: {obj!r} is not a subclass of lra_core.Backend")
    if not isinstance(getattr(obj, "framework", None), str):
        raise TypeError(f"lra_register_backends: {obj.__name__} does not set `framework`")


def _check_task(obj: Any) -> None:
    if not isinstance(obj, Task):
        raise TypeError(f"lra_register_tasks: {obj!r} is not an lra_core.Task")


def _check_model(obj: Any) -> None:
    if not isinstance(obj, ModelCard):
        raise TypeError(f"lra_register_models: {obj!r} is not an lra_core.ModelCard")


def cards_in_package(package: ModuleType) -> list[ModelCard]:
    """Every module of ``package`` that defines a module-level ``CARD`` (one model per module).

    A plugin's ``lra_register_models`` can register ``cards_in_package(my_plugin.models)`` instead of
    listing its models by hand.
    """
    cards = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        card = getattr(module, "CARD", None)
        if isinstance(card, ModelCard):
            cards.append(card)
    return cards


def load_registry(
    modules: Sequence[str] = (),
    *,
    autoload: bool | None = None,
    allow: Sequence[str] | None = None,
) -> Registry:
    """Discover plugins and return the registry.

    ``modules`` are extra plugin modules (the CLI's ``-p``). ``autoload`` defaults to the
    environment (``LRA_DISABLE_PLUGIN_AUTOLOAD``); ``allow`` to ``LRA_PLUGINS``.
    """
    if autoload is None:
        autoload = os.environ.get(DISABLE_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}
    if allow is None and os.environ.get(ALLOW_ENV):
        allow = [s.strip() for s in os.environ[ALLOW_ENV].split(",") if s.strip()]
    loader = PluginLoader()
    if autoload:
        loader.load_entry_points(allow)
    for module in modules:
        loader.load_module(module)
    return loader.collect()


_cached: dict[tuple[Any, ...], Registry] = {}


def get_registry(modules: Sequence[str] = ()) -> Registry:
    """A process-wide registry, loaded once per (modules, environment) combination."""
    key = (tuple(modules), os.environ.get(DISABLE_ENV), os.environ.get(ALLOW_ENV))
    if key not in _cached:
        _cached[key] = load_registry(modules)
    return _cached[key]
