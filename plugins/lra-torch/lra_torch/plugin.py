"""Entry point of the lra-torch distribution: registers the torch backend and its reference models."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

from lra_core import ModelCard, hookimpl

from . import models
from .backend import TorchBackend


def model_cards() -> list[ModelCard]:
    """Every module in ``lra_torch.models`` that defines a module-level ``CARD``."""
    cards = []
    for info in sorted(pkgutil.iter_modules(models.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{models.__name__}.{info.name}")
        card = getattr(module, "CARD", None)
        if isinstance(card, ModelCard):
            cards.append(card)
    return cards


@hookimpl
def lra_register_backends(register: Callable[[type], None]) -> None:
    register(TorchBackend)


@hookimpl
def lra_register_models(register: Callable[[ModelCard], None]) -> None:
    for card in model_cards():
        register(card)
