"""``neuralmd evaluate``: the command; it scores with ``_evaluate`` and writes with ``_report``.

Kept apart from ``_evaluate`` (the scoring, which ``_report``, ``_train`` and the benchmarks
import) so that the modules of the CLI import each other in one direction only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf
from torch import nn

from . import UsageError
from . import _checkpoint as ckpt_io
from ._build import build_model, build_task, resolve_device
from ._evaluate import evaluate_methods
from ._report import write_plots, write_tables


def _label(name: str, taken: dict[str, Any], path: str) -> str:
    """Table label; checkpoints of the same model get their run folder (and a count) appended."""
    if name not in taken:
        return name
    label = f"{name} ({ckpt_io.checkpoint_path(path).resolve().parent.name})"
    k = 2
    while label in taken:
        label, k = f"{name} ({ckpt_io.checkpoint_path(path).resolve().parent.name} #{k})", k + 1
    return label


def run(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """Evaluate checkpoints and baselines on one data set; print and save the tables."""

    device = resolve_device(str(cfg.device), cfg.get("threads"))
    if not cfg.checkpoints and not cfg.baselines:
        raise UsageError("nothing to evaluate; pass checkpoints=[run_dir,...] and/or baselines=[static,meanpose]")
    methods: dict[str, nn.Module] = {}
    data_cfg = cfg.get("data")
    for path in cfg.checkpoints:
        model, name, state = ckpt_io.model_from_checkpoint(str(path), device)
        methods[_label(name, methods, str(path))] = model
        if data_cfg is None:
            data_cfg = OmegaConf.create(state["config"]["data"])   # the data it was trained on
    for base in cfg.baselines:
        model, name = build_model(str(base))
        methods[name] = model
    if data_cfg is None:
        raise UsageError("no data to evaluate on; pass data=synthetic (or misato, single, mdanalysis)")
    task = build_task(data_cfg)
    if cfg.split == "val":
        task.test = task.val
    elif cfg.split != "test":
        raise UsageError(f"split must be test or val, got {cfg.split!r}")
    if cfg.max_complexes is not None:
        task.test = list(task.test)[: int(cfg.max_complexes)]
    every, horizon = cfg.get("rolling_every", 0), cfg.get("rolling_horizon", 10)
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise UsageError(f"rolling_every must be a whole number of snapshots >= 0 (0: off), got {every!r}")
    results = evaluate_methods(methods, task, int(cfg.batch_size), device, int(cfg.seed), progress=True,
                               samples=int(cfg.samples), rolling=(every, horizon) if every else None)
    out = Path(str(cfg.out_dir))
    out.mkdir(parents=True, exist_ok=True)
    text = write_tables(results, task, out)
    plots = write_plots(results, task, out)
    print(text)
    print(f"neuralmd evaluate: tables written to {out}/metrics.md, metrics.csv, metrics.json; plots "
          + ", ".join(p.name for p in plots))
