"""Distributions of structural features over snapshots and samples, compared with MD.

What learned-MD surrogates are judged by beside point errors: how much each atom fluctuates
(per-atom RMSF, as MDAnalysis and GROMACS compute it), histograms of ligand features compared by the
Jensen-Shannon divergence, and how fast a feature forgets its past (autocorrelation and its
decorrelation time). Trajectories are (T, N, 3) in Å; ensembles (K, T, N, 3) are pooled over samples.

>>> import torch
>>> a = torch.linspace(0, 1, 200)
>>> round(jensen_shannon(a, a), 6)                     # a distribution against itself
0.0
>>> round(jensen_shannon(a, a + 5), 6) == round(math.log(2), 6)   # disjoint supports: ln 2
True
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ._ensemble import as_ensemble
from ._trajectory import _labels, _positions

#: Histogram bins of :func:`jensen_shannon` over the joint range of the two samples.
JSD_BINS = 16


def atom_rmsf(traj: Tensor) -> Tensor:
    """Per-atom RMSF (Å, shape (N,)) about each atom's mean position over the trajectory.

    ``RMSF_i = sqrt(mean_t ||x_i(t) - <x_i>_t||^2)``, no superposition (the protein is rigid). For an
    ensemble (K, T, N, 3) the squared fluctuation is averaged over samples, each about its own
    mean: ``RMSF_i = sqrt(mean_k mean_t ||x_ik(t) - <x_ik>_t||^2)``. Unlike Eq. (2)'s windowed
    :func:`~neuralmd.metrics.rmsf`, which averages over atoms per window, this keeps atoms apart.
    """
    traj = as_ensemble(traj, "traj")
    if traj.shape[1] < 2:
        raise ValueError(f"atom_rmsf needs at least 2 snapshots, got {traj.shape[1]}")
    dev = traj - traj.mean(1, keepdim=True)
    return dev.square().sum(-1).mean((0, 1)).sqrt()


def rmsf_ratio(pred: Tensor, target: Tensor, batch: Tensor | None = None) -> float:
    """Predicted over MD fluctuation: per complex, mean per-atom RMSF of ``pred`` (a trajectory or
    an ensemble) divided by that of ``target`` (T, N, 3); the mean over complexes. 1 is right,
    below 1 too still, above 1 too mobile; a frozen ligand gives 0."""
    pred_rmsf, target_rmsf = atom_rmsf(pred), atom_rmsf(target)
    if pred_rmsf.shape != target_rmsf.shape:
        raise ValueError(f"pred has {pred_rmsf.numel()} atoms, target {target_rmsf.numel()}")
    index, labels = _labels(batch, target_rmsf.numel(), target_rmsf.device)
    num = len(labels)
    sums = [torch.zeros(num, dtype=torch.float64).index_add_(0, index.cpu(), r.cpu()) for r in
            (pred_rmsf, target_rmsf)]
    if not bool((sums[1] > 0).all()):
        raise ValueError("target does not fluctuate (RMSF 0) in some complex: the ratio is undefined")
    return float((sums[0] / sums[1]).mean())


# ---------------------------------------------------------------------------------------------
# ligand features, one value per snapshot (and complex or atom)


def _complex_means(x: Tensor, index: Tensor, num: int) -> Tensor:
    """(T, B) per-complex mean over atoms of ``x`` (T, N, ...) summed over trailing dimensions."""
    counts = torch.bincount(index, minlength=num).to(x)
    return x.new_zeros(x.shape[0], num, *x.shape[2:]).index_add_(1, index, x) / counts.view(
        1, -1, *([1] * (x.dim() - 2)))


def centroid_displacement(traj: Tensor, reference: Tensor, batch: Tensor | None = None) -> Tensor:
    """(T, B) distance (Å) of each complex's ligand centroid from its centroid in ``reference`` (N, 3)."""
    traj = _positions(traj, "traj")
    index, labels = _labels(batch, traj.shape[1], traj.device)
    centroid = _complex_means(traj, index, len(labels))
    start = _complex_means(reference.to(traj).unsqueeze(0), index, len(labels))
    return (centroid - start).norm(dim=-1)


def rmsd_to_reference(traj: Tensor, reference: Tensor, z: Tensor | None = None,
                      batch: Tensor | None = None) -> Tensor:
    """(T, B) heavy-atom RMSD (Å) of each snapshot from ``reference`` (N, 3), no superposition.

    Heavy atoms are those with atomic number ``z`` > 1 (all atoms when ``z`` is None)."""
    traj = _positions(traj, "traj")
    index, labels = _labels(batch, traj.shape[1], traj.device)
    heavy = torch.ones(traj.shape[1], dtype=torch.bool, device=traj.device) if z is None else (
        torch.as_tensor(z, device=traj.device) > 1)
    sq = (traj - reference.to(traj).unsqueeze(0)).square().sum(-1)[:, heavy]
    return _complex_means(sq, index[heavy], len(labels)).sqrt()


def nearest_ca_distance(traj: Tensor, ca: Tensor, batch: Tensor | None = None,
                        residue_batch: Tensor | None = None) -> Tensor:
    """(T, N) distance (Å) from each ligand atom to its nearest C-alpha of the same complex.

    A contact proxy: it grows when the ligand leaves the pocket. ``ca`` is (N_r, 3);
    ``residue_batch`` (N_r,) names each residue's complex with the labels of ``batch``.
    """
    traj = _positions(traj, "traj")
    ca = torch.as_tensor(ca).detach().to(traj)
    index, labels = _labels(batch, traj.shape[1], traj.device)
    if residue_batch is None:
        if len(labels) > 1:
            raise ValueError("nearest_ca_distance with several complexes needs residue_batch")
        res_index = torch.zeros(ca.shape[0], dtype=torch.long, device=traj.device)
    else:
        res_index = torch.searchsorted(labels.to(traj.device), torch.as_tensor(residue_batch,
                                                                               device=traj.device).long())
    out = traj.new_empty(traj.shape[:2])
    for b in range(len(labels)):
        lig, prot = index == b, res_index == b
        if not bool(prot.any()):
            raise ValueError(f"complex {int(labels[b])} has no residue")
        out[:, lig] = torch.cdist(traj[:, lig], ca[prot].expand(traj.shape[0], -1, -1)).amin(-1)
    return out


# ---------------------------------------------------------------------------------------------
# comparing distributions and time correlations


def jensen_shannon(a: Tensor, b: Tensor, bins: int = JSD_BINS) -> float:
    """Jensen-Shannon divergence (nats, 0 to ln 2) between the histograms of two 1-D samples.

    Both samples are binned into ``bins`` equal bins over their joint range;
    ``JSD = (KL(p || m) + KL(q || m)) / 2`` with ``m = (p + q) / 2``. 0 for identical histograms,
    ln 2 for disjoint ones. With few values per bin it is biased upwards: compare methods on the
    same snapshots and number of samples.
    """
    a = torch.as_tensor(a).detach().reshape(-1).double()
    b = torch.as_tensor(b).detach().reshape(-1).double()
    if a.numel() == 0 or b.numel() == 0:
        raise ValueError("jensen_shannon needs non-empty samples")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError("jensen_shannon got NaN or inf values")
    lo, hi = float(torch.minimum(a.min(), b.min())), float(torch.maximum(a.max(), b.max()))
    if hi <= lo:
        return 0.0     # every value is the same number in both samples
    p = torch.histc(a, bins, lo, hi) / a.numel()
    q = torch.histc(b, bins, lo, hi) / b.numel()
    m = (p + q) / 2

    def kl(x: Tensor) -> Tensor:
        keep = x > 0
        return (x[keep] * (x[keep] / m[keep]).log()).sum()

    return float((kl(p) + kl(q)) / 2)


def autocorrelation(series: Tensor, max_lag: int | None = None) -> Tensor:
    """Normalised autocorrelation (max_lag + 1,) of one or several series (S, T) at lags 0..max_lag.

    ``C(l) = sum_s sum_t d_s(t) d_s(t + l) / (T - l) / (sum_s sum_t d_s(t)^2 / T)`` with ``d_s`` the
    series minus its own mean; pooled over series (e.g. complexes and samples). ``C(0) = 1``;
    a constant series gives NaN after lag 0 (its correlation is undefined).
    """
    x = torch.as_tensor(series).detach().double()
    x = x.unsqueeze(0) if x.dim() == 1 else x
    if x.dim() != 2 or x.shape[1] < 2:
        raise ValueError(f"series must be (T,) or (S, T) with T >= 2, got {tuple(x.shape)}")
    num = x.shape[1]
    max_lag = num - 1 if max_lag is None else min(int(max_lag), num - 1)
    d = x - x.mean(1, keepdim=True)
    var = d.square().sum() / num
    if not var > 0:
        return torch.cat([torch.ones(1, dtype=x.dtype), torch.full((max_lag,), math.nan, dtype=x.dtype)])
    cov = torch.stack([(d[:, :num - lag] * d[:, lag:]).sum() / (num - lag) for lag in range(max_lag + 1)])
    return cov / var


def decorrelation_time(acf: Tensor, threshold: float = 1 / math.e) -> float:
    """First lag (in snapshots, linearly interpolated) where ``acf`` falls below ``threshold``
    (1/e by default); ``inf`` when it never does within the lags given (longer than the window)."""
    acf = torch.as_tensor(acf).double()
    below = (acf < threshold).nonzero()
    if below.numel() == 0:
        return math.inf
    k = int(below[0])
    if k == 0:
        return 0.0
    prev, cur = float(acf[k - 1]), float(acf[k])
    return k - 1 + (prev - threshold) / (prev - cur)
