"""Proper scores of an ensemble of sampled rollouts against the one trajectory that happened.

A stochastic model is a forecast of a distribution, so it is scored as one: the energy score (3-D
per atom) and the CRPS (per coordinate) are *proper* scoring rules, minimised in expectation only by
the true predictive distribution. A deterministic prediction is an ensemble of one; then the energy
score is the mean Euclidean error and the CRPS the MAE, so every method gets comparable numbers.
``skill`` turns a score into the improvement over a reference method (Static, MeanPose).

Ensembles have shape (K, T, N, 3): K samples of T snapshots of N atoms; targets (T, N, 3). As for the
point metrics, each complex of a batch is averaged on its own, then complexes with equal weight.

>>> import torch
>>> target = torch.zeros(1, 1, 3)
>>> samples = torch.tensor([[[[1.0, 0, 0]]], [[[-1.0, 0, 0]]]])   # two samples 1 Å either side
>>> energy_score(samples, target)       # E|X - y| - E|X - X'| / 2 = 1 - 2 / 2
0.0
>>> round(crps(samples, target), 4)     # per coordinate: x gives 1 - 1 = 0, y and z give 0
0.0
>>> skill(0.5, 2.0)
0.75
>>> ratio, low, high = paired_ratio_interval([0.5, 1.0, 2.0], [1.0, 2.0, 4.0])   # half, on every case
>>> ratio, low, high
(0.5, 0.5, 0.5)
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._trajectory import _labels, _per_complex_atom_mean, _per_snapshot_complex_sum, _positions


def as_ensemble(samples: Tensor, name: str = "samples") -> Tensor:
    """``samples`` as a finite float64 (K, T, N, 3) tensor; a (T, N, 3) input is one sample."""
    samples = torch.as_tensor(samples).detach()
    if samples.dim() == 3:
        samples = samples.unsqueeze(0)
    if samples.dim() != 4 or samples.shape[-1] != 3 or samples.shape[0] == 0:
        raise ValueError(f"{name} must have shape (K, T, N, 3) with K >= 1, got {tuple(samples.shape)}")
    return torch.stack([_positions(s, name) for s in samples])


def _ensemble_and_target(samples: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    samples, target = as_ensemble(samples), _positions(target, "target")
    if samples.shape[1:] != target.shape:
        raise ValueError(f"samples (K, T, N, 3) must match target (T, N, 3): "
                         f"{tuple(samples.shape)} vs {tuple(target.shape)}")
    return samples, target


def _kernel_terms(samples: Tensor, target: Tensor, per_coordinate: bool) -> Tensor:
    """``E d(X, y) - E d(X, X') / 2`` per snapshot and atom (T, N), d the Euclidean or per-coordinate
    distance (then averaged over the three coordinates)."""
    samples, target = _ensemble_and_target(samples, target)
    k = samples.shape[0]
    if per_coordinate:
        dist = lambda a, b: (a - b).abs()                       # noqa: E731  (..., 3)
    else:
        dist = lambda a, b: (a - b).norm(dim=-1, keepdim=True)  # noqa: E731  (..., 1)
    accuracy = dist(samples, target.unsqueeze(0)).mean(0)                     # (T, N, c)
    spread = torch.zeros_like(accuracy)
    if k > 1:
        # Unbiased pairwise term: sum over k != l divided by K (K - 1). One row at a time keeps
        # the memory at K x T x N instead of K^2 x T x N.
        for i in range(k):
            spread += dist(samples, samples[i].unsqueeze(0)).sum(0)
        spread /= k * (k - 1)
    return (accuracy - spread / 2).mean(-1)                                    # (T, N)


def _kernel_score(samples: Tensor, target: Tensor, batch: Tensor | None, per_coordinate: bool) -> float:
    """Mean of :func:`_kernel_terms` over snapshots and atoms per complex, then over complexes."""
    per_atom = _kernel_terms(samples, target, per_coordinate)
    index, labels = _labels(batch, per_atom.shape[1], per_atom.device)
    return float(_per_complex_atom_mean(per_atom, index, len(labels)).mean())


def energy_score(samples: Tensor, target: Tensor, batch: Tensor | None = None) -> float:
    """Energy score (Å) of an ensemble, per atom in 3-D, averaged over snapshots and atoms.

    ``ES = E||X - y|| - 1/2 E||X - X'||`` for each atom and snapshot, where X, X' are independent
    samples of the forecast and y the target; the expectations are sample means, the second one
    over the K (K - 1) ordered pairs of distinct samples (unbiased). Lower is better; it is a proper
    scoring rule, so no ensemble beats the true distribution in expectation. With K = 1 it equals
    :func:`~neuralmd.metrics.mean_l2`.

    Args:
        samples: (K, T, N, 3) sampled positions in Å (a (T, N, 3) tensor counts as K = 1).
        target: (T, N, 3) true positions in Å.
        batch: optional (N,) complex index of each atom; each complex is averaged on its own,
            then complexes with equal weight.
    """
    return _kernel_score(samples, target, batch, per_coordinate=False)


def energy_score_by_lag(samples: Tensor, target: Tensor, batch: Tensor | None = None) -> Tensor:
    """The :func:`energy_score` of each predicted snapshot on its own: (T,) in Å, entry ``t`` the
    score ``t + 1`` snapshots after the start when the start pose is left out, as the evaluation
    does. Each complex is averaged over its atoms, then complexes with equal weight; the mean over
    the T entries is :func:`energy_score`.

    One score over a whole horizon mixes the lags where the past still carries information with those
    where only the equilibrium is left; the curve shows at which lags a dynamics model beats a trivial
    ensemble (Static wins the first lags of a slow ligand, Stationary the late ones).

    >>> import torch
    >>> target = torch.zeros(2, 1, 3)
    >>> samples = torch.zeros(2, 2, 1, 3)
    >>> samples[:, 1, 0, 0] = 1.0              # exact at the first lag, 1 Å off at the second
    >>> energy_score_by_lag(samples, target).tolist()
    [0.0, 1.0]
    """
    per_atom = _kernel_terms(samples, target, per_coordinate=False)             # (T, N)
    index, labels = _labels(batch, per_atom.shape[1], per_atom.device)
    sums = _per_snapshot_complex_sum(per_atom, index, len(labels))              # (T, B)
    return (sums / torch.bincount(index, minlength=len(labels)).to(per_atom)).mean(1)


def crps(samples: Tensor, target: Tensor, batch: Tensor | None = None) -> float:
    """Continuous ranked probability score (Å) of an ensemble, per coordinate.

    ``CRPS = E|X - y| - 1/2 E|X - X'|`` for each atom, snapshot and coordinate, with the same
    unbiased sample estimator as :func:`energy_score`, averaged over snapshots, atoms and the three
    coordinates. With K = 1 it equals :func:`~neuralmd.metrics.mae`. Shapes as in
    :func:`energy_score`. Unlike the energy score it depends on the orientation of the axes.
    """
    return _kernel_score(samples, target, batch, per_coordinate=True)


def skill(score: float, reference: float) -> float:
    """Skill of a score (lower is better) against a reference method's: ``1 - score / reference``.

    Positive: better than the reference (1 is perfect); 0: as good; negative: worse. Report it
    against trivial references (Static: "the ligand stays"; MeanPose: "the ligand sits at its mean").
    """
    score, reference = float(score), float(reference)
    if not reference > 0:
        raise ValueError(f"the reference score must be positive to define a skill, got {reference}")
    return 1.0 - score / reference


def paired_ratio_interval(scores, reference, *, level: float = 0.95, resamples: int = 10_000,
                          seed: int = 0) -> tuple[float, float, float]:
    """``mean(scores) / mean(reference)`` over paired cases (complexes, trajectories, folds) and its
    percentile bootstrap interval at ``level``, resampling the cases with replacement, the same cases
    for both (paired: what moves both scores together cancels). ``1 -`` the ratio and its bounds
    are the :func:`skill` and its interval. Seeded, so a report repeats its figures.

    Each case is one forecast, and a few forecasts cannot separate a small gain from their noise:
    an interval that contains 1 says the test set cannot tell the two methods apart.
    """
    s = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
    r = torch.as_tensor(reference, dtype=torch.float64).reshape(-1)
    if s.shape != r.shape or s.numel() == 0:
        raise ValueError(f"need paired, non-empty scores, got {s.numel()} and {r.numel()}")
    if not (torch.isfinite(s).all() and torch.isfinite(r).all()) or (r < 0).any() or not r.sum() > 0:
        raise ValueError("scores must be finite and the reference's non-negative with a positive sum")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if isinstance(resamples, bool) or int(resamples) < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples}")
    generator, n, ratios = torch.Generator().manual_seed(int(seed)), s.numel(), []
    chunk = max(1, (1 << 22) // n)    # bounded memory: (chunk, n) indices at a time
    for done in range(0, int(resamples), chunk):
        picks = torch.randint(n, (min(chunk, int(resamples) - done), n), generator=generator)
        ratios.append(s[picks].sum(1) / r[picks].sum(1).clamp_min(torch.finfo(torch.float64).tiny))
    ratios = torch.cat(ratios).sort().values
    tail = (1 - level) / 2
    low, high = ratios[int(tail * ratios.numel())], ratios[max(0, int((1 - tail) * ratios.numel()) - 1)]
    return float(s.sum() / r.sum()), float(low), float(high)


def ensemble_mean(samples: Tensor) -> Tensor:
    """(T, N, 3) mean over the K samples of an ensemble (K, T, N, 3): the point forecast."""
    return as_ensemble(samples).mean(0)
