"""Results a person reads: Markdown/CSV/JSON tables, RMSF and feature plots, the exported prediction.

Two tables, one row per method: point metrics of the ensemble mean in the paper's layout
(reconstruction MAE, "MSE" = mean L2, RMSD; validity Matching, Stability, Clash; Table 3's speed as
a column), then the ensemble and distribution metrics with the skills last; then the energy score at
a few lags after the start (:data:`REPORTED_LAGS`). For a few complexes, Table 2's per-complex block
follows (complex x metric rows, one column per method).
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
from ._prediction import save_prediction
from ._evaluate import (COLUMNS, ENSEMBLE_COLUMNS, PER_COMPLEX, POINT_COLUMNS, SKILL_REFERENCES, MethodResult,
                        evaluate_methods, md_features, pooled_features)

#: Per-complex Markdown block only up to this many test complexes (the CSV/JSON always have all).
MAX_PER_COMPLEX_ROWS = 10
#: Below this many test complexes the skill intervals come with a warning (a bootstrap over a handful
#: of cases is too narrow).
FEW_COMPLEXES = 10
_ARROWS = {"lower": "↓", "higher": "↑"}
#: Lags (snapshots after the start) of the Markdown table of the energy score by lag, where the
#: rollouts reach them; the last lag is always shown. The JSON has every lag, the plot draws them all.
REPORTED_LAGS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)


def _fmt(x: float, key: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "> window"
    if key == "samples":
        return f"{x:.0f}"
    return f"{x:,.1f}" if key == "speed" else f"{x:.3f}"   # speeds span 1 to 1e6 snapshots/s


def _title(key: str) -> str:
    name, unit, better = COLUMNS[key]
    shown = "" if unit in ("count", "ratio") or unit.startswith("1 -") else f" ({unit})"
    return f"{name}{shown} {_ARROWS.get(better, '')}".rstrip()


def _table(results: Sequence[MethodResult], keys: Sequence[str]) -> list[str]:
    lines = ["| Method | " + " | ".join(_title(k) for k in keys) + " |", "|---|" + "---:|" * len(keys)]
    for r in results:
        lines.append(f"| {r.name} | " + " | ".join(_fmt(r.overall[k], k) for k in keys) + " |")
    return lines


def _winners(results: Sequence[MethodResult]) -> str:
    """One sentence naming the best method on MAE and on energy score (ties listed)."""
    parts = []
    for key in ("mae", "energy_score"):
        best = min(r.overall[key] for r in results)
        names = [r.name for r in results if math.isclose(r.overall[key], best, rel_tol=1e-9, abs_tol=1e-12)]
        parts.append(f"lowest {COLUMNS[key][0]}: {', '.join(names)} ({best:.3f} Å)")
    return "Best on these snapshots - " + "; ".join(parts) + "."


def _complexes(n: int) -> str:
    """"complex" or "complexes", as ``n`` asks."""
    return "complex" if n == 1 else "complexes"


def _skill_intervals(results: Sequence[MethodResult], n: int) -> str:
    """One sentence: each method's skill against Static with its 95 % interval over the complexes."""
    rows = [f"{r.name} {r.overall['skill_static']:+.3f} [{r.overall['skill_static_low']:+.3f}, "
            f"{r.overall['skill_static_high']:+.3f}]" for r in results
            if r.name != SKILL_REFERENCES["skill_static"] and math.isfinite(r.overall.get("skill_static_low", math.nan))]
    if not rows:
        return ""
    few = (f" With {n} {_complexes(n)} the interval only shows how the complexes differ: "
           "it needs tens of complexes to be a confidence interval.") if n < FEW_COMPLEXES else ""
    return (f"Skill vs Static with its 95 % bootstrap interval over the {n} test {_complexes(n)} "
            "(each complex one forecast; an interval that contains 0 cannot tell the method from Static on "
            "this test set): " + "; ".join(rows) + "." + few)


def _lag_table(results: Sequence[MethodResult], *, rolling: bool = False) -> list[str]:
    """The energy score of every method at :data:`REPORTED_LAGS` and the last lag, the best of each
    column in bold, from the task's start or (``rolling``) averaged over the rolling origins; no
    table without those curves."""
    curves = {r.name: r.rolling_energy_score_by_lag if rolling else r.energy_score_by_lag for r in results}
    longest = max(len(c) for c in curves.values())
    if longest == 0:
        return []
    lags = sorted({lag for lag in REPORTED_LAGS if lag <= longest} | {longest})
    best = {lag: min(c[lag - 1] for c in curves.values() if len(c) >= lag) for lag in lags}
    lines = ["| Method | " + " | ".join(f"lag {lag}" for lag in lags) + " |", "|---|" + "---:|" * len(lags)]
    for name, curve in curves.items():
        cells = [("n/a" if len(curve) < lag else f"**{curve[lag - 1]:.3f}**" if curve[lag - 1] == best[lag]
                  else f"{curve[lag - 1]:.3f}") for lag in lags]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    caption = ("Energy score (Å) by lag, in snapshots after the start (mean over the test complexes; the "
               "lowest of each lag in bold): where in the horizon a method gains or loses.")
    if rolling:
        caption = ("The same from rolling origins, every few snapshots after the start (`rolling_every`), each "
                   "complex's curve averaged over its origins: many forecasts of the first lags instead of one.")
    return ["", caption, "", *lines]


def markdown(results: Sequence[MethodResult], task: Task) -> str:
    """The Markdown tables for ``results`` on ``task``."""
    n = len(results[0].per_complex)
    what = ("single-trajectory: predicting snapshots after " f"{task.start} from snapshot {task.start}"
            if task.kind == "single" else f"multi-trajectory: whole held-out trajectories from snapshot {task.start}")
    md_tau = _fmt(results[0].overall.get("decorrelation_md", math.nan))
    if "decorrelation_md_ps" in results[0].overall:
        md_tau += f" snapshots = {_fmt(results[0].overall['decorrelation_md_ps'])} ps"
    else:
        md_tau += " snapshots"
    lines = [f"### {task.name}: {n} test {_complexes(n)} ({what})", "",
             "Point metrics of each method's ensemble mean:", "", *_table(results, list(POINT_COLUMNS)), "",
             "Reconstruction: MAE, MSE (mean Euclidean error, the paper's \"MSE\" column), RMSD. "
             "Validity: Matching, Stability (|Δd| ≤ 0.5 Å), Clash (pairs closer than half the "
             "covalent radii sum). Speed: predicted snapshots x complexes x samples per second of rollout.",
             "", "Ensembles and distributions (deterministic methods are ensembles of one):", "",
             *_table(results, list(ENSEMBLE_COLUMNS)), "",
             "Energy score and CRPS: proper scores of the sampled rollouts (lower is better; one sample: "
             "mean L2 and MAE). RMSF / MD: per-atom fluctuation over the predicted snapshots relative to MD's. "
             "JSD: Jensen-Shannon divergence (0 to ln 2 = 0.693) of feature histograms from MD's, pooled over "
             "complexes, snapshots and samples: centroid displacement and heavy-atom RMSD from the start pose, "
             "each atom's distance to its nearest Cα. Decorrelation: 1/e time of the centroid displacement's "
             f"autocorrelation (MD: {md_tau}). Skill: 1 - energy score / the reference's.",
             "", _winners(results)]
    intervals = _skill_intervals(results, n)
    if intervals:
        lines += ["", intervals]
    lines += _lag_table(results) + _lag_table(results, rolling=True)
    if n <= MAX_PER_COMPLEX_ROWS:
        names = [r.name for r in results]
        lines += ["", "| Complex | Metric | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
        for cid in results[0].per_complex:
            for i, k in enumerate(PER_COMPLEX):
                row = " | ".join(_fmt(r.per_complex[cid][k]) for r in results)
                lines.append(f"| {cid if i == 0 else ''} | {_title(k)} | {row} |")
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
                w.writerow([r.name, cid, *(m.get(k, "") for k in keys)])
    payload = {"data": {"name": task.name, "task": task.kind, "start": task.start,
                        "test_complexes": list(results[0].per_complex), "info": dict(task.info)},
               "units": {k: COLUMNS[k][1] for k in keys} | {"decorrelation_md": "snapshots", "decorrelation_ps": "ps",
                                                             "decorrelation_md_ps": "ps"},
               "better": {k: COLUMNS[k][2] for k in keys},
               # the mean curve only: every complex's (``MethodResult.per_complex_by_lag``) would be
               # complexes x lags numbers per method, megabytes for a MISATO-sized test set
               "methods": [{"name": r.name, "overall": r.overall, "per_complex": r.per_complex,
                            "energy_score_by_lag": r.energy_score_by_lag,
                            "rolling_energy_score_by_lag": r.rolling_energy_score_by_lag} for r in results]}
    (out / "metrics.json").write_text(json.dumps(payload, indent=2, default=float))
    return text


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")   # files only; never needs a display
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path, legend_axis, fontsize: int = 7) -> Path:
    """Legend on ``legend_axis``, tight layout, PNG at ``path``; closes the figure."""
    legend_axis.legend(fontsize=fontsize)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def plot_rmsf(results: Sequence[MethodResult], task: Task, path: Path, max_panels: int = 4,
              window: int = 5) -> Path | None:
    """RMSF curves (sliding windows of ``window`` snapshots, paper Fig. 3a) of the ground truth
    and every method, one panel per test complex (first ``max_panels``). None if too short."""
    from neuralmd.metrics import rmsf

    plt = _pyplot()

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
    return _save(fig, path, axes[0][0], fontsize=8)


def plot_atom_rmsf(results: Sequence[MethodResult], task: Task, path: Path, max_panels: int = 4) -> Path | None:
    """Per-atom RMSF over the predicted snapshots, MD against every method (ensembles: averaged
    over samples), one panel per test complex (first ``max_panels``). None if too short."""
    from neuralmd.metrics import atom_rmsf

    records = list(task.test)[:max_panels]
    if records[0]["ligand"].pos.shape[1] - task.start < 3:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(records), figsize=(4.2 * len(records), 3.4), squeeze=False)
    for k, (ax, record, cid) in enumerate(zip(axes[0], records, results[0].per_complex)):
        atoms = range(record["ligand"].pos.shape[0])
        truth = record["ligand"].pos[:, task.start + 1:].transpose(0, 1)
        ax.plot(atoms, atom_rmsf(truth), color="black", lw=2.2, marker="o", ms=3, label="MD")
        for j, r in enumerate(results):
            ax.plot(atoms, atom_rmsf(r.ensembles[k][:, 1:]), lw=1.2, ls=("-", "--", ":", "-.")[j % 4], label=r.name)
        ax.set_title(cid)
        ax.set_xlabel("ligand atom")
        ax.set_ylabel("RMSF (Å)")
    return _save(fig, path, axes[0][0])


def plot_features(results: Sequence[MethodResult], task: Task, path: Path) -> Path:
    """Histograms of the three ligand features (pooled over test complexes, snapshots, samples),
    MD filled, methods as step lines."""
    records = list(task.test)
    plt = _pyplot()
    md = md_features(records, task.start)
    per_method = {r.name: pooled_features(r.ensembles, records, task.start) for r in results}
    titles = {"centroid": "centroid displacement from start (Å)", "rmsd": "heavy-atom RMSD to start (Å)",
              "contact": "distance to nearest Cα (Å)"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, (key, title) in zip(axes, titles.items()):
        truth = md[key].reshape(-1)
        pooled = {name: feats[key].reshape(-1) for name, feats in per_method.items()}
        hi = float(max(truth.max(), *(v.max() for v in pooled.values())))
        lo = float(min(truth.min(), *(v.min() for v in pooled.values())))
        bins = torch.linspace(lo, hi if hi > lo else lo + 1.0, 33).tolist()
        ax.hist(truth.tolist(), bins=bins, density=True, color="0.8", label="MD")
        for name, values in pooled.items():
            ax.hist(values.tolist(), bins=bins, density=True, histtype="step", lw=1.3, label=name)
        ax.set_xlabel(title)
    axes[0].set_ylabel("density")
    return _save(fig, path, axes[0])


def plot_energy_score_by_lag(results: Sequence[MethodResult], path: Path) -> Path | None:
    """Every method's energy score against the lag after the start (log lag axis); None without lags."""
    if not any(r.energy_score_by_lag for r in results):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for j, r in enumerate(results):
        curve = r.energy_score_by_lag
        ax.plot(range(1, len(curve) + 1), curve, lw=1.4, ls=("-", "--", ":", "-.")[j % 4], label=r.name)
    ax.set_xscale("log")
    ax.set_xlabel("lag (snapshots after the start)")
    ax.set_ylabel("energy score (Å)")
    return _save(fig, path, ax)


def write_plots(results: Sequence[MethodResult], task: Task, out: Path) -> list[Path]:
    """The plots of a report in ``out``: Eq. 2's windowed RMSF, per-atom RMSF, feature histograms and
    the energy score by lag."""
    plots = [plot_rmsf(results, task, out / "rmsf.png"), plot_atom_rmsf(results, task, out / "rmsf_atoms.png"),
             plot_features(results, task, out / "features.png"),
             plot_energy_score_by_lag(results, out / "energy_score_by_lag.png")]
    return [p for p in plots if p is not None]


def export_prediction(cfg: DictConfig, record: Any, traj: torch.Tensor, method: str, start: int,
                      run_dir: Path) -> list[Path]:
    """Write the predicted trajectory with the protein in each of ``cfg.export_formats``, all or
    none (a writer that fails leaves no file of this export behind)."""
    from neuralmd.io import write_trajectory

    from ._outputs import write_all

    stem = run_dir / f"prediction_{record.id}"
    writers = {stem.with_suffix(".pt"): lambda tmp: save_prediction(tmp, record, traj, method, start)}
    for ext in cfg.export_formats:
        ext = ext if str(ext).startswith(".") else f".{ext}"
        writers[stem.with_suffix(ext)] = lambda tmp: write_trajectory(tmp, record, traj, protein=cfg.export_protein)
    return write_all(writers)


def report_run(cfg: DictConfig, task: Task, model: nn.Module, name: str, run_dir: Path,
               device: torch.device) -> dict[str, Any]:
    """After training: evaluate model and baselines on the test set, write tables, plot, export."""
    methods = {name: model}
    for base in cfg.baselines:
        base_model, base_name = build_model(str(base))
        methods.setdefault(base_name, base_model)
    print(f"neuralmd train: evaluating {', '.join(methods)} on {len(task.test)} test complex(es)", flush=True)
    results = evaluate_methods(methods, task, int(cfg.trainer.eval_batch_size), device, int(cfg.trainer.seed),
                               progress=bool(cfg.trainer.progress), samples=int(cfg.eval_samples))
    text = write_tables(results, task, run_dir)
    plots = write_plots(results, task, run_dir)
    first = list(task.test)[0]
    exported = export_prediction(cfg, first, results[0].predictions[0], name, task.start, run_dir)
    print(text)
    print(f"neuralmd train: wrote {run_dir}/checkpoint.pt, metrics.md/.csv/.json, "
          + ", ".join(p.name for p in [*plots, *exported]))
    return {"results": results, "plots": plots, "exported": exported}
