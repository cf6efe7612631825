"""Results a person reads: Markdown/CSV/JSON tables, the RMSF plot, the exported prediction.

Table layout follows the paper: one row per method with reconstruction (MAE, "MSE" = mean L2,
RMSD), validity (Matching, Stability, Clash) and speed columns (Table 1, with Table 3's FPS as a
column); and, for a few complexes, Table 2's per-complex block (complex x metric rows, one column
per method).
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Sequence

import torch
from omegaconf import DictConfig
from torch import nn

from ._build import Task, build_model
from ._evaluate import COLUMNS, MethodResult, evaluate_methods

#: Per-complex Markdown block only up to this many test complexes (the CSV/JSON always have all).
MAX_PER_COMPLEX_ROWS = 10


def _fmt(x: float, key: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.1f}" if key == "speed" else f"{x:.3f}"   # speeds span 1 to 1e6 snapshots/s


def markdown(results: Sequence[MethodResult], task: Task) -> str:
    """The Markdown tables for ``results`` on ``task``."""
    keys = list(COLUMNS)
    n = len(results[0].per_complex)
    what = ("single-trajectory: predicting snapshots after " f"{task.start} from snapshot {task.start}"
            if task.kind == "single" else f"multi-trajectory: whole held-out trajectories from snapshot {task.start}")
    lines = [f"### {task.name}: {n} test complex{'es' if n != 1 else ''} ({what})", "",
             "| Method | " + " | ".join(f"{COLUMNS[k][0]} {COLUMNS[k][1]}" for k in keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for r in results:
        lines.append(f"| {r.name} | " + " | ".join(_fmt(r.overall[k], k) for k in keys) + " |")
    lines += ["", "Reconstruction: MAE, MSE (mean Euclidean error, the paper's \"MSE\" column), RMSD. "
              "Validity: Matching, Stability (|Δd| ≤ 0.5 Å), Clash (pairs closer than half the "
              "covalent radii sum). Speed: predicted snapshots x complexes per second of rollout."]
    if n <= MAX_PER_COMPLEX_ROWS:
        names = [r.name for r in results]
        lines += ["", "| Complex | Metric | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
        for cid in results[0].per_complex:
            for i, k in enumerate(keys[:-1]):
                row = " | ".join(_fmt(r.per_complex[cid][k]) for r in results)
                lines.append(f"| {cid if i == 0 else ''} | {COLUMNS[k][0]} | {row} |")
    return "\n".join(lines) + "\n"


def write_tables(results: Sequence[MethodResult], task: Task, out: Path) -> str:
    """Write ``metrics.md``, ``metrics.csv`` (one row per method and complex, "all" for the
    mean) and ``metrics.json`` into ``out``; returns the Markdown text."""
    text = markdown(results, task)
    (out / "metrics.md").write_text(text)
    keys = list(COLUMNS)
    with open(out / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "complex", *keys])
        for r in results:
            w.writerow([r.name, "all", *(r.overall[k] for k in keys)])
            for cid, m in r.per_complex.items():
                w.writerow([r.name, cid, *(m[k] for k in keys[:-1]), ""])
    payload = {"data": {"name": task.name, "task": task.kind, "start": task.start,
                        "test_complexes": list(results[0].per_complex)},
               "units": {COLUMNS[k][0]: COLUMNS[k][1] for k in keys},
               "methods": [{"name": r.name, "overall": r.overall, "per_complex": r.per_complex}
                           for r in results]}
    (out / "metrics.json").write_text(json.dumps(payload, indent=2, default=float))
    return text


def plot_rmsf(results: Sequence[MethodResult], task: Task, path: Path, max_panels: int = 4,
              window: int = 5) -> Path | None:
    """RMSF curves (sliding windows of ``window`` snapshots, paper Fig. 3a) of the ground truth
    and every method, one panel per test complex (first ``max_panels``). None if too short."""
    import matplotlib
    matplotlib.use("Agg")   # files only; never needs a display
    import matplotlib.pyplot as plt
    from neuralmd.metrics import rmsf

    records = list(task.test)[:max_panels]
    if records[0]["ligand"].pos.shape[1] - task.start < window:
        return None
    fig, axes = plt.subplots(1, len(records), figsize=(4.2 * len(records), 3.4), squeeze=False)
    for ax, record, cid, k in zip(axes[0], records, results[0].per_complex, range(len(records))):
        truth = record["ligand"].pos[:, task.start:].transpose(0, 1).double()
        x = [task.start + i for i in range(truth.shape[0] - window + 1)]
        ax.plot(x, rmsf(truth, window, stride=1), color="black", lw=2.2, label="ground truth")
        for j, r in enumerate(results):
            ax.plot(x, rmsf(r.predictions[k].double(), window, stride=1), lw=1.4, label=r.name,
                    ls=("-", "--", ":", "-.")[j % 4])   # baselines often coincide; keep both visible
        ax.set_title(cid)
        ax.set_xlabel(f"window start (snapshot), width {window}")
        ax.set_ylabel("RMSF (Å)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_prediction(path: Path, record: Any, traj: torch.Tensor, method: str, start: int) -> Path:
    """A prediction as ``{"record", "traj", "method", "start"}`` for ``neuralmd export input=``."""
    torch.save({"record": record.cpu(), "traj": traj.cpu(), "method": method, "start": start}, path)
    return path


def export_prediction(cfg: DictConfig, record: Any, traj: torch.Tensor, method: str, start: int,
                      run_dir: Path) -> list[Path]:
    """Write the predicted trajectory with the protein in each of ``cfg.export_formats``."""
    from neuralmd.io import write_trajectory

    stem = run_dir / f"prediction_{record.id}"
    written = [save_prediction(stem.with_suffix(".pt"), record, traj, method, start)]
    for ext in cfg.export_formats:
        ext = ext if str(ext).startswith(".") else f".{ext}"
        written.append(write_trajectory(stem.with_suffix(ext), record, traj, protein=cfg.export_protein))
    return written


def report_run(cfg: DictConfig, task: Task, model: nn.Module, name: str, run_dir: Path,
               device: torch.device) -> dict[str, Any]:
    """After training: evaluate model and baselines on the test set, write tables, plot, export."""
    methods = {name: model}
    for base in cfg.baselines:
        base_model, base_name = build_model(str(base))
        methods.setdefault(base_name, base_model)
    print(f"neuralmd train: evaluating {', '.join(methods)} on {len(task.test)} test complex(es)", flush=True)
    results = evaluate_methods(methods, task, int(cfg.trainer.eval_batch_size), device, int(cfg.trainer.seed),
                               progress=bool(cfg.trainer.progress))
    text = write_tables(results, task, run_dir)
    plot = plot_rmsf(results, task, run_dir / "rmsf.png")
    first = list(task.test)[0]
    exported = export_prediction(cfg, first, results[0].predictions[0], name, task.start, run_dir)
    print(text)
    print(f"neuralmd train: wrote {run_dir}/checkpoint.pt, metrics.md/.csv/.json"
          + (", rmsf.png" if plot else "") + ", " + ", ".join(p.name for p in exported))
    return {"results": results, "plot": plot, "exported": exported}
