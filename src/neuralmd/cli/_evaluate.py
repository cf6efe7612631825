"""Scoring for ``neuralmd evaluate``: every metric and the speed of several models on one test set.

All methods are rolled out from the same start snapshot of the same records with the same seed;
stochastic methods draw an ensemble of ``samples`` rollouts, deterministic ones one. Metrics compare
the *predicted* snapshots only (the known start pose is left out, it would only dilute the errors):

* point metrics (MAE, mean L2, RMSD, Matching, Stability, Clash) of the ensemble mean;
* ensemble metrics: energy score and CRPS (proper scores: a deterministic method is an ensemble of
  one), per-atom RMSF over the predicted window relative to MD's;
* distributions, pooled over all test complexes, snapshots and samples: Jensen-Shannon divergence of
  the histograms of three ligand features from MD's (centroid displacement from the start pose,
  heavy-atom RMSD to it, distance of each atom to its nearest C-alpha), and the decorrelation time
  of the centroid displacement;
* skills (``1 - score / reference``) of the energy score against Static and MeanPose;
* the energy score at each lag after the start (``MethodResult.energy_score_by_lag``): where in the
  horizon a method gains or loses, which one score over the whole horizon hides.

Per-complex values are averaged over complexes with equal weight, as ``neuralmd.metrics`` does.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from neuralmd import metrics

from . import UsageError
from ._build import Task

#: Point metrics of the ensemble mean: key -> (column title, unit, better direction), in table order.
#: "MSE" is the paper's name for the mean Euclidean error (DESIGN.md), kept so the columns read
#: like Tables 1-2.
POINT_COLUMNS: dict[str, tuple[str, str, str]] = {
    "mae": ("MAE", "Å", "lower"),
    "mean_l2": ("MSE", "Å", "lower"),
    "rmsd": ("RMSD", "Å", "lower"),
    "matching": ("Matching", "Å", "lower"),
    "stability": ("Stability", "%", "higher"),
    "clash_rate": ("Clash", "%", "lower"),
    "speed": ("Speed", "snapshots/s", "higher"),
}
#: Ensemble and distribution metrics, then the skills.
ENSEMBLE_COLUMNS: dict[str, tuple[str, str, str]] = {
    "samples": ("Samples", "count", "none"),
    "energy_score": ("Energy score", "Å", "lower"),
    "crps": ("CRPS", "Å", "lower"),
    "rmsf_ratio": ("RMSF / MD", "ratio", "closer to 1"),
    "jsd_centroid": ("JSD centroid", "nats", "lower"),
    "jsd_rmsd": ("JSD RMSD", "nats", "lower"),
    "jsd_contact": ("JSD Cα contact", "nats", "lower"),
    "decorrelation": ("Decorrelation", "snapshots", "closer to MD"),
    "skill_static": ("Skill vs Static", "1 - ES/ES_ref", "higher"),
    "skill_meanpose": ("Skill vs MeanPose", "1 - ES/ES_ref", "higher"),
}
#: Every column of the tables, in order.
COLUMNS = {**POINT_COLUMNS, **ENSEMBLE_COLUMNS}
#: Metrics that exist per complex (the rest are pooled over the test set).
PER_COMPLEX = ("mae", "mean_l2", "rmsd", "matching", "stability", "clash_rate", "energy_score", "crps",
               "rmsf_ratio")
#: A feature series varying less than this (Å) is frozen: it has no decorrelation time.
FROZEN = 1e-6
#: Reference methods of the skill columns (their table names).
SKILL_REFERENCES = {"skill_static": "Static", "skill_meanpose": "MeanPose"}


@dataclass
class MethodResult:
    """One method's metrics: ``overall`` (mean over complexes, plus the pooled distribution
    metrics), ``per_complex`` by complex id, the energy score at each lag per complex
    (``per_complex_by_lag``, lag 1 first), and its sampled ensembles (K, T', N_l, 3) on CPU, one per
    test complex (``predictions`` gives the first sample of each, a trajectory to export)."""

    name: str
    overall: dict[str, float]
    per_complex: dict[str, dict[str, float]]
    ensembles: list[Tensor] = field(default_factory=list, repr=False)
    per_complex_by_lag: dict[str, list[float]] = field(default_factory=dict, repr=False)
    #: each complex's energy score by lag averaged over the rolling origins (:func:`rolling_by_lag`)
    per_complex_rolling_by_lag: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @property
    def energy_score_by_lag(self) -> list[float]:
        """The energy score (Å) at lags 1, 2, ... snapshots after the start, each the mean over the
        test complexes whose rollouts reach that lag (equal weight)."""
        return _mean_curve(self.per_complex_by_lag)

    @property
    def rolling_energy_score_by_lag(self) -> list[float]:
        """The same from the rolling origins (empty without them)."""
        return _mean_curve(self.per_complex_rolling_by_lag)

    @property
    def predictions(self) -> list[Tensor]:
        return [e[0] for e in self.ensembles]


def _mean_curve(curves_by_complex: dict[str, list[float]]) -> list[float]:
    """Mean over complexes of per-complex curves, lag by lag, each lag over the complexes reaching it."""
    curves = list(curves_by_complex.values())
    longest = max((len(c) for c in curves), default=0)
    return [sum(c[lag] for c in curves if len(c) > lag) / sum(len(c) > lag for c in curves)
            for lag in range(longest)]


def _batches(records: Sequence[Any], size: int) -> list[list[int]]:
    """Indices grouped into batches of records with the same number of snapshots and interval."""
    by_len: dict[tuple[int, Any], list[int]] = {}
    for i, r in enumerate(records):
        by_len.setdefault((int(r["ligand"].pos.shape[1]), getattr(r, "dt_ps", None)), []).append(i)
    return [idx[k:k + size] for idx in by_len.values() for k in range(0, len(idx), size)]


def rollout_all(model: nn.Module, records: Sequence[Any], start: int, batch_size: int,
                device: torch.device, seed: int, *, samples: int = 1,
                desc: str | None = None) -> tuple[list[Tensor], float, int]:
    """Draw ``samples`` rollouts of every record from snapshot ``start`` to its end (one for a
    deterministic model).

    Returns:
        ensembles (one (K, T - start, N_l, 3) CPU tensor per record, in order), the rollout wall
        time in seconds (data transfer excluded) and the number of predicted snapshots x complexes
        x samples. ``desc`` labels a progress bar (none when None).
    """
    from torch_geometric.data import Batch
    from tqdm.auto import tqdm

    model.eval()
    k = samples if getattr(model, "stochastic", False) else 1
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
            out = model.rollout(batch, times, generator=generator, samples=k)
        _sync(device)
        seconds += time.perf_counter() - t0
        frames += (num - start - 1) * len(idx) * k
        out = out.detach().cpu()
        lig = batch["ligand"].batch.cpu()
        for j, i in enumerate(idx):
            preds[i] = out[:, :, lig == j]
    return preds, seconds, frames  # type: ignore[return-value]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _target(record: Any, start: int) -> Tensor:
    """(T', N, 3) float64 MD positions from snapshot ``start`` on."""
    return record["ligand"].pos[:, start:].transpose(0, 1).double()


def score(ensemble: Tensor, record: Any, start: int) -> dict[str, float]:
    """Per-complex metrics of one complex's ensemble (K, T', N, 3) (or one trajectory (T', N, 3))
    against its ground truth after ``start``: point metrics of the ensemble mean, proper scores of
    the ensemble, per-atom RMSF ratio over the predicted snapshots."""
    samples = metrics.as_ensemble(ensemble)[:, 1:]
    target = _target(record, start)[1:]
    mean = metrics.ensemble_mean(samples)
    out = {"mae": metrics.mae(mean, target), "mean_l2": metrics.mean_l2(mean, target),
           "rmsd": metrics.rmsd(mean, target), "matching": metrics.matching(mean, target),
           "stability": metrics.stability(mean, target),
           "clash_rate": metrics.clash_rate(mean, record["ligand"].z, record["residue"].backbone),
           "energy_score": metrics.energy_score(samples, target), "crps": metrics.crps(samples, target)}
    out["rmsf_ratio"] = metrics.rmsf_ratio(samples, target) if target.shape[0] > 1 else math.nan
    return out


def score_by_lag(ensemble: Tensor, record: Any, start: int) -> list[float]:
    """The energy score of one complex's ensemble (K, T', N, 3) at each predicted snapshot, lag 1
    first (:func:`neuralmd.metrics.energy_score_by_lag`)."""
    return metrics.energy_score_by_lag(metrics.as_ensemble(ensemble)[:, 1:], _target(record, start)[1:]).tolist()


def rolling_origins(start: int, length: int, every: int, horizon: int) -> list[int]:
    """The forecast origins ``start, start + every, ...`` whose ``horizon`` snapshots after them lie
    within a trajectory of ``length`` snapshots.

    >>> rolling_origins(20, 100, 10, 10)
    [20, 30, 40, 50, 60, 70, 80]
    """
    return list(range(start, length - horizon, every))


def _origins_of(records: Sequence[Any], start: int, every: int, horizon: int) -> list[int]:
    """:func:`rolling_origins` of the shortest of ``records``; a ValueError when there is none."""
    length = min(int(r["ligand"].pos.shape[1]) for r in records)
    origins = rolling_origins(start, length, every, horizon)
    if not origins:
        raise ValueError(f"a rolling horizon of {horizon} snapshots leaves no origin after snapshot {start} "
                         f"of trajectories of {length}")
    return origins


def _first_snapshots(record: Any, count: int) -> Any:
    """A shallow copy of ``record`` whose ligand trajectory keeps its first ``count`` snapshots."""
    out = copy.copy(record)
    out["ligand"].pos = record["ligand"].pos[:, :count]
    return out


def rolling_by_lag(model: nn.Module, records: Sequence[Any], start: int, *, every: int, horizon: int,
                   batch_size: int, device: torch.device, seed: int, samples: int) -> tuple[list[int], dict[str, list[float]]]:
    """Short forecasts of ``horizon`` snapshots from every ``every``-th snapshot from ``start`` on
    (:func:`rolling_origins` of the shortest record), each scored lag by lag like the task's own
    forecast (the snapshots up to an origin are the observed history; the model is not refitted).

    Returns the origins and each complex's energy score by lag averaged over them: many forecasts of
    the first lags, where a single origin gives one noisy sample. A complex stays one case for any
    comparison across complexes: its origins overlap and are not independent forecasts.
    """
    origins = _origins_of(records, start, every, horizon)
    ids = unique_ids(records)
    curves: dict[str, list[list[float]]] = {cid: [] for cid in ids}
    for origin in origins:
        window = [_first_snapshots(r, origin + horizon + 1) for r in records]
        ensembles, _, _ = rollout_all(model, window, origin, batch_size, device, seed, samples=samples)
        for cid, ensemble, record in zip(ids, ensembles, window):
            curves[cid].append(score_by_lag(ensemble, record, origin))
    return origins, {cid: [sum(v) / len(v) for v in zip(*lists)] for cid, lists in curves.items()}


def ligand_features(traj: Tensor, record: Any, start: int) -> dict[str, Tensor]:
    """The three feature samples of one ensemble or trajectory (K, T', N, 3) over its predicted
    snapshots: centroid displacement and heavy-atom RMSD from the start pose (one per snapshot and
    sample), distance of every atom to its nearest C-alpha (one per atom, snapshot and sample)."""
    traj = metrics.as_ensemble(traj)
    reference = _target(record, start)[0]
    ca = record["residue"].backbone[:, 1].double()
    flat = traj[:, 1:].reshape(-1, *traj.shape[2:])                               # (K T'', N, 3)
    return {"centroid": metrics.centroid_displacement(flat, reference).reshape(traj.shape[0], -1),
            "rmsd": metrics.rmsd_to_reference(flat, reference, record["ligand"].z).reshape(-1),
            "contact": metrics.nearest_ca_distance(flat, ca).reshape(-1)}


def pooled_features(trajectories: Sequence[Tensor], records: Sequence[Any], start: int) -> dict[str, Tensor]:
    """The ligand features of several complexes' ensembles or trajectories, pooled: ``centroid``
    (S, T'') series, one per complex and sample (cut to the shortest), ``rmsd`` and ``contact``
    flat."""
    feats = [ligand_features(t, r, start) for t, r in zip(trajectories, records)]
    shortest = min(f["centroid"].shape[1] for f in feats)
    return {"centroid": torch.cat([f["centroid"][:, :shortest] for f in feats]),
            "rmsd": torch.cat([f["rmsd"] for f in feats]), "contact": torch.cat([f["contact"] for f in feats])}


def md_features(records: Sequence[Any], start: int) -> dict[str, Tensor]:
    """:func:`pooled_features` of the MD trajectories themselves after ``start``."""
    return pooled_features([_target(r, start) for r in records], records, start)


def distribution_metrics(pred: dict[str, Tensor], md: dict[str, Tensor], dt_ps: float | None) -> dict[str, float]:
    """JSD of a method's pooled feature histograms (``pooled_features``) from MD's and the
    decorrelation times of the centroid displacement, in snapshots (and ps when ``dt_ps`` is known)."""
    out = {f"jsd_{key}": metrics.jensen_shannon(pred[key].reshape(-1), md[key].reshape(-1))
           for key in ("centroid", "rmsd", "contact")}
    out["decorrelation"] = decorrelation(pred["centroid"])
    out["decorrelation_md"] = decorrelation(md["centroid"])
    if dt_ps is not None:
        out["decorrelation_ps"], out["decorrelation_md_ps"] = out["decorrelation"] * dt_ps, out["decorrelation_md"] * dt_ps
    return out


def common_interval(records: Sequence[Any]) -> float | None:
    """The snapshot interval (ps) shared by all ``records``, None when unknown or mixed."""
    intervals = {float(r.dt_ps) for r in records if getattr(r, "dt_ps", None) is not None}
    return intervals.pop() if len(intervals) == 1 else None


def decorrelation(series: Tensor) -> float:
    """Decorrelation time (snapshots) of centroid-displacement series (S, T''); NaN when a series is
    too short or never moves (a frozen ligand has no correlation time)."""
    if series.shape[1] < 3 or bool((series.std(1) < FROZEN).any()):
        return math.nan
    acf = metrics.autocorrelation(series)
    return math.nan if torch.isnan(acf[1:]).any() else metrics.decorrelation_time(acf)


def add_skills(results: Sequence["MethodResult"]) -> None:
    """Skill of every method's energy score against Static and MeanPose, where they were evaluated,
    and its 95 % bootstrap interval over the test complexes (``<skill>_low``, ``<skill>_high``:
    :func:`neuralmd.metrics.paired_ratio_interval` of the per-complex scores)."""
    by_name = {r.name: r for r in results}
    for key, ref_name in SKILL_REFERENCES.items():
        ref = by_name.get(ref_name)
        for r in results:
            valid = ref is not None and ref.overall["energy_score"] > 0
            r.overall[key] = metrics.skill(r.overall["energy_score"], ref.overall["energy_score"]) if valid else math.nan
            r.overall[f"{key}_low"] = r.overall[f"{key}_high"] = math.nan
            if valid:
                ids = list(ref.per_complex)
                _, low, high = metrics.paired_ratio_interval([r.per_complex[c]["energy_score"] for c in ids],
                                                             [ref.per_complex[c]["energy_score"] for c in ids])
                r.overall[f"{key}_low"], r.overall[f"{key}_high"] = 1 - high, 1 - low


def evaluate_methods(methods: dict[str, nn.Module], task: Task, batch_size: int,
                     device: torch.device, seed: int = 0, progress: bool = False, *,
                     samples: int = 8, rolling: tuple[int, int] | None = None) -> list[MethodResult]:
    """Roll out and score every method on ``task.test`` (with a progress bar per method);
    stochastic methods draw ``samples`` rollouts per complex. ``rolling=(every, horizon)`` also
    scores short forecasts from every ``every``-th snapshot after the start (:func:`rolling_by_lag`)."""
    records = list(task.test)
    if not records:
        raise ValueError(f"{task.name}: the test set is empty")
    if isinstance(samples, bool) or int(samples) < 1:
        raise UsageError(f"samples must be a positive integer, got {samples}")
    if rolling is not None:
        every, horizon = rolling
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (every, horizon)):
            raise UsageError("rolling origins need a whole number of snapshots >= 1 between origins and as the "
                             f"horizon (neuralmd evaluate: rolling_every, rolling_horizon), got {rolling}")
        try:  # refused here, before any rollout, not after the first method's
            _origins_of(records, task.start, every, horizon)
        except ValueError as err:
            raise UsageError(str(err)) from None
    ids = unique_ids(records)
    md, dt_ps = md_features(records, task.start), common_interval(records)
    results = []
    for name, model in methods.items():
        model.to(device)
        ensembles, seconds, frames = rollout_all(model, records, task.start, batch_size, device, seed,
                                                 samples=int(samples),
                                                 desc=f"rollout {name}" if progress else None)
        per = {cid: score(e, r, task.start) for cid, e, r in zip(ids, ensembles, records)}
        overall = {k: sum(m[k] for m in per.values()) / len(per) for k in PER_COMPLEX}
        overall["speed"] = metrics.snapshots_per_second(frames, 1, seconds) if seconds > 0 else float("inf")
        overall["samples"] = float(ensembles[0].shape[0])
        overall.update(distribution_metrics(pooled_features(ensembles, records, task.start), md, dt_ps))
        by_lag = {cid: score_by_lag(e, r, task.start) for cid, e, r in zip(ids, ensembles, records)}
        result = MethodResult(name, overall, per, ensembles, by_lag)
        if rolling is not None:
            _, result.per_complex_rolling_by_lag = rolling_by_lag(
                model, records, task.start, every=int(rolling[0]), horizon=int(rolling[1]), batch_size=batch_size,
                device=device, seed=seed, samples=int(samples))
        results.append(result)
    add_skills(results)
    return results


def unique_ids(records: Sequence[Any]) -> list[str]:
    """Each record's id, made unique by ``#2``, ``#3``, ... on repeats: the keys of the per-complex
    results."""
    seen: dict[str, int] = {}
    out = []
    for r in records:
        base = str(getattr(r, "id", "complex"))
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return out
