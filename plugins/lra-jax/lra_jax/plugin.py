"""Entry point of the lra-jax distribution: registers the jax backend and its reference models."""

from __future__ import annotations

from typing import Callable

from lra_core import ModelCard, hookimpl
from lra_core.plugins import cards_in_package

from . import models
from .backend import JaxBackend


@hookimpl
def lra_register_backends(register: Callable[[type], None]) -> None:
    register(JaxBackend)


@hookimpl
def lra_register_models(register: Callable[[ModelCard], None]) -> None:
    for card in cards_in_package(models):  # every module in lra_jax.models with a CARD
        register(card)
