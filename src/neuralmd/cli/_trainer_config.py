"""Checks of the ``trainer`` settings, run before any data is read or any file written.

Hydra passes ``trainer.epochs=abc`` through as the string ``"abc"``; without these checks such a
value would surface deep in the loop as ``range() arg 3 must not be zero`` or ``invalid literal
for int()``. Each check names the key, what it must be, and what was given.
"""
from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig

from . import UsageError

#: Integer settings and their smallest allowed value.
INTEGER_MINIMA = {"epochs": 1, "batch_size": 1, "window": 1, "eval_batch_size": 1, "checkpoint_every": 0,
                  "val_samples": 1, "patience": 1, "seed": 0, "score_epochs": 0}
#: Settings that take one of a few words.
CHOICES = {"select_on": ("energy_score", "mae"), "evaluate": ("best", "last"),
           "schedule": ("constant", "cosine", "plateau"), "optimizer": ("adam", "sgd")}


def _fail(key: str, must: str, value: Any) -> UsageError:
    return UsageError(f"trainer.{key} must be {must}, got {value!r}; pass trainer.{key}=...")


def _integer(tcfg: DictConfig, key: str, minimum: int) -> None:
    value = tcfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(key, f"an integer >= {minimum}", value)


def _positive(tcfg: DictConfig, key: str, *, nullable: bool = False, zero: bool = False) -> None:
    value = tcfg.get(key)
    if value is None and nullable:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero):
        must = f"a {'non-negative' if zero else 'positive'} number" + (" or null" if nullable else "")
        raise _fail(key, must, value)


def check_trainer_config(tcfg: DictConfig) -> None:
    """Raise one :class:`UsageError` for the first trainer setting that cannot work."""
    for key, minimum in INTEGER_MINIMA.items():
        _integer(tcfg, key, minimum)
    for key, options in CHOICES.items():
        if tcfg.get(key) not in options:
            raise _fail(key, " or ".join(options), tcfg.get(key))
    _positive(tcfg, "lr")
    _positive(tcfg, "min_lr", zero=True)
    _positive(tcfg, "weight_decay", zero=True)
    _positive(tcfg, "grad_clip", nullable=True)
    factor = tcfg.get("lr_factor")
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 1:
        raise _fail("lr_factor", "a number in (0, 1)", factor)
    if tcfg.get("compile") not in (None, "default"):  # CUDA-graph modes replay no backward
        raise _fail("compile", "null or default", tcfg.get("compile"))
    stop = tcfg.get("early_stopping")
    if stop is not None and (isinstance(stop, bool) or not isinstance(stop, int) or stop < 1):
        raise _fail("early_stopping", "an integer >= 1 (epochs without a better validation score) or null", stop)
