"""lra_core: the framework-agnostic core of the open Long Range Arena.

Public API for plugin authors (names and signatures are stable):

- :data:`hookimpl` and the hooks ``lra_register_models/tasks/backends(register)``;
- :class:`ModelCard`, :class:`Capabilities`, :class:`EncoderConfig`, :class:`EncoderInputs`;
- :class:`Task`, :class:`BuildRequest`, :class:`TaskSpec` for task plugins;
- :class:`Backend`, :class:`ModelHandle`, :class:`HeadSpec`, :class:`OptimizerSettings`,
  :class:`Batch` for backend plugins.

This package imports neither torch nor jax.
"""

from .backend import Backend, HeadSpec, ModelHandle, OptimizerSettings, OutOfMemory
from .batch import Batch
from .cards import Capabilities, EncoderConfig, EncoderInputs, ModelCard, register_complexity
from .errors import MissingDataError, PluginError, UserError
from .hookspecs import hookimpl, hookspec
from .plugins import Registry, get_registry, load_registry
from .profiling import ProfileProtocol
from .results import RunResult
from .specs import ResolvedTask, TaskSpec, TrainingSettings, load_task_spec
from .tasks import BuildRequest, Task

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "Batch",
    "BuildRequest",
    "Capabilities",
    "EncoderConfig",
    "EncoderInputs",
    "HeadSpec",
    "MissingDataError",
    "ModelCard",
    "ModelHandle",
    "OptimizerSettings",
    "OutOfMemory",
    "PluginError",
    "ProfileProtocol",
    "Registry",
    "ResolvedTask",
    "RunResult",
    "Task",
    "TaskSpec",
    "TrainingSettings",
    "UserError",
    "get_registry",
    "hookimpl",
    "hookspec",
    "load_registry",
    "load_task_spec",
    "register_complexity",
]
