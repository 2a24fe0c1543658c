"""Resolve what a run uses: task preset + the model card's per-task overrides + ``--set`` overrides.

Override keys are dotted paths, the same in card ``task_overrides`` and on the command line:

- ``model.<field>``: a field of the model's config class (shared dims or its own hyperparameters);
- ``training.<field>``: a field of :class:`~lra_core.specs.TrainingSettings`;
- ``max_length``, ``pooling``: task-level settings of the preset;
- ``splits.<train|validation|test>``: split sizes.

Later layers win: preset < card overrides < command line. Every value is validated by the schema it
lands in; an error names the key.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from pydantic import ValidationError

from .cards import EncoderConfig, ModelCard
from .errors import UserError
from .specs import ResolvedTask, TrainingSettings, format_validation_error
from .tasks import Task

_TASK_KEYS = {"max_length", "pooling"}


def parse_set(items: list[str] | None, flag: str = "--set") -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}``; values parsed as JSON when they parse."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {flag} training.learning_rate=0.01")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def _apply(
    overrides: Mapping[str, Any],
    where: str,
    model: dict[str, Any],
    training: dict[str, Any],
    task: dict[str, Any],
) -> None:
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if head == "model" and rest:
            model[rest] = value
        elif head == "training" and rest:
            if rest not in TrainingSettings.model_fields:
                raise UserError(f"{where}: unknown key {key!r}; training fields: {', '.join(TrainingSettings.model_fields)}")
            training[rest] = value
        elif head == "splits" and rest:
            task.setdefault("splits", dict(task["splits"]))[rest] = value
        elif key in _TASK_KEYS:
            task[key] = value
        else:
            raise UserError(
                f"{where}: unknown key {key!r}; use model.<field>, training.<field>, splits.<split>, "
                "max_length or pooling"
            )


def resolve(
    card: ModelCard,
    task: Task,
    preset: str,
    sets: Mapping[str, Any] | None = None,
) -> tuple[ResolvedTask, EncoderConfig]:
    """The task setting and model config a run of ``card`` on ``task`` at ``preset`` uses."""
    base = task.spec.resolved(preset)
    model: dict[str, Any] = base.encoder.model_dump()
    training: dict[str, Any] = base.training.model_dump()
    task_fields: dict[str, Any] = base.model_dump()
    _apply(card.overrides_for(task.id, preset), f"model card {card.id} task_overrides[{task.id}]", model, training, task_fields)
    _apply(dict(sets or {}), "--set", model, training, task_fields)
    try:
        task_fields["training"] = training
        resolved = ResolvedTask.model_validate(task_fields)
    except ValidationError as e:
        raise UserError(format_validation_error(e, "--set/task overrides")) from None
    if resolved.pooling == "cls" and resolved.cls_id is None:
        raise UserError(f"pooling: task {task.id!r} has no cls_id, so it cannot pool by CLS; use pooling=mean")
    try:
        config = card.config.model_validate(model)
    except ValidationError as e:
        raise UserError(format_validation_error(e, f"model config of {card.id} (model.<field>)")) from None
    return resolved, config


def reference_config(config: EncoderConfig) -> EncoderConfig:
    """The shared dimensions of ``config`` as a plain EncoderConfig (for the reference Transformer)."""
    return EncoderConfig.model_validate({k: getattr(config, k) for k in EncoderConfig.model_fields})
