"""``neuralmd evaluate``: every metric and the speed of several models on the same test snapshots.

All methods are rolled out from the same start snapshot of the same records with the same seed;
metrics compare the *predicted* snapshots only (the known start pose is left out, it would only
dilute the errors) and are averaged per complex first, then over complexes with equal weight, as
``neuralmd.metrics`` does for a batch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from neuralmd import metrics

from . import UsageError
from . import _checkpoint as ckpt_io
from ._build import Task, build_model, build_task, resolve_device

#: Metric key -> (column title, better direction), in table order. "MSE" is the paper's name
#: for the mean Euclidean error (DESIGN.md), kept so the columns read like Tables 1-2.
COLUMNS: dict[str, tuple[str, str]] = {
    "mae": ("MAE (Å)", "↓"),
    "mean_l2": ("MSE (Å)", "↓"),
    "rmsd": ("RMSD (Å)", "↓"),
    "matching": ("Matching (Å)", "↓"),
    "stability": ("Stability (%)", "↑"),
    "clash_rate": ("Clash (%)", "↓"),
    "speed": ("Speed (snapshots/s)", "↑"),
}


@dataclass
class MethodResult:
    """One method's metrics: ``overall`` (mean over complexes), ``per_complex`` by complex id,
    and its predicted trajectories (T', N_l, 3) on CPU, one per test complex."""

    name: str
    overall: dict[str, float]
    per_complex: dict[str, dict[str, float]]
    predictions: list[Tensor] = field(default_factory=list, repr=False)


def _batches(records: Sequence[Any], size: int) -> list[list[int]]:
    """Indices grouped into batches of records with the same number of snapshots."""
    by_len: dict[int, list[int]] = {}
    for i, r in enumerate(records):
        by_len.setdefault(int(r["ligand"].pos.shape[1]), []).append(i)
    return [idx[k:k + size] for idx in by_len.values() for k in range(0, len(idx), size)]


def rollout_all(model: nn.Module, records: Sequence[Any], start: int, batch_size: int,
                device: torch.device, seed: int, desc: str | None = None) -> tuple[list[Tensor], float, int]:
    """Predict every record from snapshot ``start`` to its end.

    Returns:
        predictions (one (T - start, N_l, 3) CPU tensor per record, in order), the rollout wall
        time in seconds (data transfer excluded) and the number of predicted snapshot x complex.
        ``desc`` labels a progress bar (none when None).
    """
    from torch_geometric.data import Batch
    from tqdm.auto import tqdm

    model.eval()
    preds: list[Tensor | None] = [None] * len(records)
    seconds, frames = 0.0, 0
    for idx in tqdm(_batches(records, max(1, batch_size)), desc=desc, disable=desc is None, leave=False):
        batch = Batch.from_data_list([records[i] for i in idx]).to(device)
        num = int(batch["ligand"].pos.shape[1])
        if start >= num - 1:
            raise ValueError(f"test records have {num} snapshots; nothing to predict after snapshot {start}")
        times = torch.arange(start, num, device=device)
        generator = torch.Generator().manual_seed(seed)
        _sync(device)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.rollout(batch, times, generator=generator)
        _sync(device)
        seconds += time.perf_counter() - t0
        frames += (num - start - 1) * len(idx)
        out = out.detach().cpu()
        lig = batch["ligand"].batch.cpu()
        for k, i in enumerate(idx):
            preds[i] = out[:, lig == k]
    return preds, seconds, frames  # type: ignore[return-value]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def score(pred: Tensor, record: Any, start: int) -> dict[str, float]:
    """All metrics of one complex's prediction (T', N, 3) against its ground truth after ``start``."""
    target = record["ligand"].pos[:, start:].transpose(0, 1).to(pred)
    p, t = pred[1:].double(), target[1:].double()
    return {"mae": metrics.mae(p, t), "mean_l2": metrics.mean_l2(p, t), "rmsd": metrics.rmsd(p, t),
            "matching": metrics.matching(p, t), "stability": metrics.stability(p, t),
            "clash_rate": metrics.clash_rate(p, record["ligand"].z, record["residue"].backbone)}


def evaluate_methods(methods: dict[str, nn.Module], task: Task, batch_size: int,
                     device: torch.device, seed: int = 0, progress: bool = False) -> list[MethodResult]:
    """Roll out and score every method on ``task.test`` (with a progress bar per method)."""
    records = list(task.test)
    if not records:
        raise ValueError(f"{task.name}: the test set is empty")
    ids = _unique_ids(records)
    results = []
    for name, model in methods.items():
        model.to(device)
        preds, seconds, frames = rollout_all(model, records, task.start, batch_size, device, seed,
                                             desc=f"rollout {name}" if progress else None)
        per = {cid: score(p, r, task.start) for cid, p, r in zip(ids, preds, records)}
        overall = {k: sum(m[k] for m in per.values()) / len(per) for k in next(iter(per.values()))}
        overall["speed"] = metrics.snapshots_per_second(frames, 1, seconds) if seconds > 0 else float("inf")
        results.append(MethodResult(name, overall, per, preds))
    return results


def _unique_ids(records: Sequence[Any]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for r in records:
        base = str(getattr(r, "id", "complex"))
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return out


def model_from_checkpoint(path: str | Path, device: torch.device) -> tuple[nn.Module, str, dict[str, Any]]:
    """Rebuild a trained model (EMA weights when the run used EMA); returns model, name, checkpoint."""
    state = ckpt_io.load(path, map_location="cpu")
    model, name = build_model(state["config"]["model"])
    model.load_state_dict(state["ema"] if state.get("ema") else state["model"])
    return model.to(device), name, state


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
    from omegaconf import OmegaConf
    from ._report import write_tables

    device = resolve_device(str(cfg.device), cfg.get("threads"))
    if not cfg.checkpoints and not cfg.baselines:
        raise UsageError("nothing to evaluate; pass checkpoints=[run_dir,...] and/or baselines=[static,linear]")
    methods: dict[str, nn.Module] = {}
    data_cfg = cfg.get("data")
    for path in cfg.checkpoints:
        model, name, state = model_from_checkpoint(str(path), device)
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
    results = evaluate_methods(methods, task, int(cfg.batch_size), device, int(cfg.seed), progress=True)
    out = Path(str(cfg.out_dir))
    out.mkdir(parents=True, exist_ok=True)
    text = write_tables(results, task, out)
    print(text)
    print(f"neuralmd evaluate: tables written to {out}/metrics.md, metrics.csv, metrics.json")
