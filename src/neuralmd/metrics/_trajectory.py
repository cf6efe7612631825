"""Point metrics of one trajectory: reconstruction, validity, oscillation, clash and speed (paper 2.3 and 2.6).

Every metric takes ligand positions in Å of shape (T, N, 3) (T snapshots of N atoms) and an
optional ligand ``batch`` vector (N,) naming each atom's complex, as in a PyG batch. Each metric is
computed for every complex on its own and then averaged over the complexes with equal weight, so
that a batch of complexes gives exactly the mean of the values each complex gives alone, and no
atom pair ever joins two complexes. Inputs are compared in float64; results are Python floats.

>>> import torch
>>> target = torch.zeros(2, 2, 3)
>>> target[:, 1, 0] = 1.0                       # two atoms 1 Å apart, for two snapshots
>>> pred = target.clone()
>>> pred[:, 1, 0] = 2.0                         # the second atom predicted 1 Å too far
>>> mae(pred, target), mean_l2(pred, target), matching(pred, target), stability(pred, target)
(0.16666666666666666, 0.5, 1.0, 0.0)
"""
from __future__ import annotations

import torch
from torch import Tensor

from .._elements import COVALENT_RADII

#: Atomic numbers of the backbone atoms in the order of ``residue.backbone`` rows: N, CA, C.
_BACKBONE_Z = (7, 6, 6)


def covalent_radius(z: Tensor) -> Tensor:
    """Covalent radii (Å, float64) of atomic numbers ``z`` (any shape, integers 1..96)."""
    z = torch.as_tensor(z)
    if z.dtype.is_floating_point or z.dtype == torch.bool:
        raise ValueError(f"atomic numbers must be integers, got dtype {z.dtype}")
    if z.numel() and (int(z.min()) < 1 or int(z.max()) >= len(COVALENT_RADII)):
        raise ValueError(f"atomic numbers must lie in 1..{len(COVALENT_RADII) - 1}, "
                         f"got {int(z.min())}..{int(z.max())}")
    table = torch.tensor(COVALENT_RADII, dtype=torch.float64, device=z.device)
    return table[z.long()]


# ---------------------------------------------------------------------------------------------
# input checks and per-complex reductions


def _positions(x: Tensor, name: str) -> Tensor:
    """``x`` as a finite float64 (T, N, 3) tensor, detached (metrics are never differentiated)."""
    x = torch.as_tensor(x).detach()
    if x.dim() != 3 or x.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (T, N, 3), got {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
    x = x.to(torch.float64)
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf coordinates")
    return x


def _pair(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    pred, target = _positions(pred, "pred"), _positions(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    return pred, target


def _labels(batch: Tensor | None, n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Complex index 0..B-1 of each of ``n`` atoms, and the original label of each complex (B,).

    Labels are renumbered so that a batch vector with gaps (e.g. a subset of a PyG batch) does not
    create empty complexes that would enter the averages.
    """
    if batch is None:
        return torch.zeros(n, dtype=torch.long, device=device), torch.zeros(1, dtype=torch.long)
    batch = torch.as_tensor(batch, device=device)
    if batch.shape != (n,):
        raise ValueError(f"batch must have shape ({n},) to match the atoms, got {tuple(batch.shape)}")
    if batch.dtype.is_floating_point or batch.dtype == torch.bool:
        raise ValueError(f"batch must be an integer vector, got dtype {batch.dtype}")
    labels, index = torch.unique(batch.long(), return_inverse=True)
    return index, labels


def _per_complex_atom_mean(values: Tensor, index: Tensor, num: int) -> Tensor:
    """Mean over snapshots and atoms of ``values`` (T, N), separately for each complex -> (B,)."""
    sums = values.new_zeros(num).index_add_(0, index, values.sum(0))
    counts = torch.bincount(index, minlength=num).to(values) * values.shape[0]
    return sums / counts


def _intra_pairs(index: Tensor) -> tuple[Tensor, Tensor]:
    """Atom pairs i < j of the same complex: two (P,) index vectors."""
    same = (index[:, None] == index[None, :]).triu(diagonal=1)
    i, j = same.nonzero(as_tuple=True)
    return i, j


def _pair_distances(x: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """Distances (T, P) between atoms ``i`` and ``j`` in every snapshot of ``x`` (T, N, 3)."""
    return (x[:, i] - x[:, j]).norm(dim=-1)


def _per_snapshot_complex_sum(values: Tensor, pair_complex: Tensor, num: int) -> Tensor:
    """Sum of ``values`` (T, P) over the pairs of each complex -> (T, B)."""
    return values.new_zeros(values.shape[0], num).index_add_(1, pair_complex, values)


def _mean_snapshots_then_complexes(per_tb: Tensor, has_pairs: Tensor, what: str) -> float:
    """Mean over snapshots, then over the complexes that have at least one pair."""
    if not bool(has_pairs.any()):
        raise ValueError(f"{what} needs at least one atom pair inside a complex; every complex here "
                         "has a single atom")
    return float(per_tb.mean(0)[has_pairs].mean())


def _pairwise_deviation(pred: Tensor, target: Tensor, batch: Tensor | None
                        ) -> tuple[Tensor, Tensor, Tensor, int]:
    """|d_pred - d_target| (T, P) of intra-complex pairs, each pair's complex (P,), pair counts (B,)."""
    pred, target = _pair(pred, target)
    index, labels = _labels(batch, pred.shape[1], pred.device)
    i, j = _intra_pairs(index)
    dev = (_pair_distances(pred, i, j) - _pair_distances(target, i, j)).abs()
    counts = torch.bincount(index[i], minlength=len(labels))
    return dev, index[i], counts, len(labels)


# ---------------------------------------------------------------------------------------------
# reconstruction


def mae(pred: Tensor, target: Tensor, batch: Tensor | None = None) -> float:
    """Mean absolute error (Å): mean over snapshots, atoms and the 3 coordinates of |pred - target|.

    Args:
        pred, target: (T, N, 3) positions in Å.
        batch: optional (N,) complex index of each atom. With several complexes the mean is taken
            per complex, then averaged over complexes with equal weight.
    """
    pred, target = _pair(pred, target)
    index, labels = _labels(batch, pred.shape[1], pred.device)
    per_atom = (pred - target).abs().mean(-1)
    return float(_per_complex_atom_mean(per_atom, index, len(labels)).mean())


def mean_l2(pred: Tensor, target: Tensor, batch: Tensor | None = None) -> float:
    """Mean Euclidean error (Å): mean over snapshots and atoms of ||pred - target||_2.

    The paper's tables call this column "MSE"; its released evaluation computes exactly this.
    Shapes and the per-complex averaging are those of :func:`mae`.
    """
    pred, target = _pair(pred, target)
    index, labels = _labels(batch, pred.shape[1], pred.device)
    per_atom = (pred - target).norm(dim=-1)
    return float(_per_complex_atom_mean(per_atom, index, len(labels)).mean())


def rmsd(pred: Tensor, target: Tensor, batch: Tensor | None = None) -> float:
    """Root mean square deviation (Å): sqrt of the mean over snapshots and atoms of ||pred - target||^2.

    No superposition is done: the protein is rigid, so the ligand's drift relative to it is part
    of the error. With several complexes the RMSD of each complex is computed (square root inside)
    and these RMSDs are averaged with equal weight. Shapes are those of :func:`mae`.
    """
    pred, target = _pair(pred, target)
    index, labels = _labels(batch, pred.shape[1], pred.device)
    per_atom = (pred - target).square().sum(-1)
    return float(_per_complex_atom_mean(per_atom, index, len(labels)).sqrt().mean())


# ---------------------------------------------------------------------------------------------
# validity


def matching(pred: Tensor, target: Tensor, batch: Tensor | None = None) -> float:
    """Distance-matrix matching error (Å) of the intra-ligand distances.

    For each snapshot and complex: sqrt of the mean, over atom pairs i < j of that complex, of
    (d_pred(i, j) - d_target(i, j))^2. The result is the mean over complexes of the mean over
    snapshots. Pairs never join two complexes; the diagonal (i = j, always 0) is left out so that
    it does not dilute the error; complexes with a single atom have no pair and are skipped.

    Args:
        pred, target: (T, N, 3) positions in Å.
        batch: optional (N,) complex index of each atom.
    """
    dev, pair_complex, counts, num = _pairwise_deviation(pred, target, batch)
    per_tb = _per_snapshot_complex_sum(dev.square(), pair_complex, num) / counts.clamp_min(1)
    return _mean_snapshots_then_complexes(per_tb.sqrt(), counts > 0, "matching")


def stability(pred: Tensor, target: Tensor, batch: Tensor | None = None,
              threshold: float = 0.5) -> float:
    """Stability (%): share of intra-ligand distances predicted within ``threshold`` Å of the truth.

    For each snapshot and complex: 100 x the fraction of atom pairs i < j of that complex with
    |d_pred(i, j) - d_target(i, j)| <= ``threshold`` (0.5 Å in the paper). The result is the mean
    over complexes of the mean over snapshots; single-atom complexes are skipped.

    Args:
        pred, target: (T, N, 3) positions in Å.
        batch: optional (N,) complex index of each atom.
        threshold: tolerance in Å.
    """
    dev, pair_complex, counts, num = _pairwise_deviation(pred, target, batch)
    within = (dev <= threshold).to(dev.dtype)
    per_tb = 100.0 * _per_snapshot_complex_sum(within, pair_complex, num) / counts.clamp_min(1)
    return _mean_snapshots_then_complexes(per_tb, counts > 0, "stability")


# ---------------------------------------------------------------------------------------------
# oscillation


def rmsf(traj: Tensor, window: int = 5, batch: Tensor | None = None,
         stride: int | None = None) -> list[float]:
    """RMSF curve (Å) of a trajectory: Eq. (2) of the paper over windows of ``window`` snapshots.

    For a window of snapshots W and one complex of N atoms,
    ``RMSF = sqrt(mean_{t in W} (1/N) sum_i ||r_{i,t} - <r_i>_W||^2)`` with ``<r_i>_W`` atom i's
    mean position over the window. Windows are consecutive and do not overlap by default
    (``stride = window``): with 100 snapshots and window 5 they are snapshots [1, 5], [6, 10], ...,
    [96, 100] in the paper's 1-based counting, which contains its examples [81, 85] and [96, 100].
    Pass ``stride=1`` for a sliding window that moves one snapshot at a time. Snapshots at the end
    that do not fill a whole window are left out. With several complexes each curve point is the
    mean over complexes of their RMSF for that window.

    Compute the curve for the prediction and for the ground truth and plot both against the
    window index (window k starts at snapshot ``k * stride``).

    Args:
        traj: (T, N, 3) positions in Å, T >= ``window``.
        window: snapshots per window.
        batch: optional (N,) complex index of each atom.
        stride: snapshots between the starts of consecutive windows; default ``window``.

    Returns:
        ``(T - window) // stride + 1`` RMSF values in Å, one per window.
    """
    traj = _positions(traj, "traj")
    stride = window if stride is None else stride
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be positive, got window={window}, stride={stride}")
    if traj.shape[0] < window:
        raise ValueError(f"rmsf needs at least window={window} snapshots, got {traj.shape[0]}")
    index, labels = _labels(batch, traj.shape[1], traj.device)
    windows = traj.unfold(0, window, stride)                      # (W, N, 3, window)
    sq_dev = (windows - windows.mean(-1, keepdim=True)).square().sum(-2).mean(-1)  # (W, N)
    per_wb = sq_dev.new_zeros(sq_dev.shape[0], len(labels)).index_add_(1, index, sq_dev)
    per_wb = per_wb / torch.bincount(index, minlength=len(labels)).to(per_wb)
    return per_wb.sqrt().mean(1).tolist()


# ---------------------------------------------------------------------------------------------
# clashes


def _residue_labels(residue_batch: Tensor | None, num_residues: int, labels: Tensor,
                    device: torch.device) -> Tensor:
    """Complex index 0..B-1 (matching the ligand's renumbering) of each residue."""
    if residue_batch is None:
        if len(labels) > 1:
            raise ValueError("clash_rate with several complexes needs residue_batch to tell which "
                             "residues belong to which complex")
        return torch.zeros(num_residues, dtype=torch.long, device=device)
    residue_batch = torch.as_tensor(residue_batch, device=device).long()
    if residue_batch.shape != (num_residues,):
        raise ValueError(f"residue_batch must have shape ({num_residues},), "
                         f"got {tuple(residue_batch.shape)}")
    labels = labels.to(device)
    pos = torch.searchsorted(labels, residue_batch).clamp_max(len(labels) - 1)
    if not bool((labels[pos] == residue_batch).all()):
        raise ValueError("residue_batch names complexes that have no ligand atom in batch")
    return pos


def clash_rate(pred: Tensor, z: Tensor, backbone: Tensor | None = None,
               batch: Tensor | None = None, residue_batch: Tensor | None = None,
               factor: float = 0.5) -> float:
    """Steric clash rate (%) of a predicted ligand trajectory, alone or against the protein backbone.

    A pair of atoms clashes when their distance is below ``factor`` x (sum of their covalent
    radii, :data:`COVALENT_RADII`). The pairs counted, per complex, are all ligand pairs i < j and,
    if ``backbone`` is given, all (ligand atom, backbone N/CA/C atom) pairs. For each snapshot and
    complex the rate is 100 x clashing pairs / counted pairs; the result is the mean over complexes
    of the mean over snapshots.

    Why ``factor = 0.5`` and no bond list: covalently bonded atoms sit at about 1.0 x the radii sum
    and non-bonded contacts further out, so nothing in a physical pose is closer than half the sum;
    a pair that close (a bonded pair included) is a collapsed or overlapping geometry. Bonded
    pairs therefore need not be excluded: they count as clashes only when the bond has collapsed.
    Note that the backbone pairs make the denominator grow with protein size, so compare rates
    only on the same complexes.

    Args:
        pred: (T, N_l, 3) predicted ligand positions in Å.
        z: (N_l,) ligand atomic numbers.
        backbone: optional (N_r, 3, 3) rigid backbone in Å, rows N, CA, C per residue.
        batch: optional (N_l,) complex index of each ligand atom.
        residue_batch: (N_r,) complex index of each residue, using the labels of ``batch``;
            required when ``batch`` has several complexes and ``backbone`` is given.
        factor: fraction of the covalent radii sum below which a pair clashes.
    """
    pred = _positions(pred, "pred")
    device = pred.device
    z = torch.as_tensor(z, device=device)
    if z.shape != (pred.shape[1],):
        raise ValueError(f"z must have shape ({pred.shape[1]},) to match pred, got {tuple(z.shape)}")
    radius = covalent_radius(z)
    index, labels = _labels(batch, pred.shape[1], device)
    num = len(labels)

    i, j = _intra_pairs(index)
    close = _pair_distances(pred, i, j) < factor * (radius[i] + radius[j])
    clashes = _per_snapshot_complex_sum(close.to(pred.dtype), index[i], num)   # (T, B)
    pairs = torch.bincount(index[i], minlength=num).to(pred.dtype)              # (B,)

    if backbone is not None:
        backbone = torch.as_tensor(backbone, device=device).detach().to(torch.float64)
        if backbone.dim() != 3 or backbone.shape[1:] != (3, 3):
            raise ValueError(f"backbone must have shape (N_r, 3, 3), got {tuple(backbone.shape)}")
        if not torch.isfinite(backbone).all():
            raise ValueError("backbone contains NaN or inf coordinates")
        res_index = _residue_labels(residue_batch, backbone.shape[0], labels, device)
        bb_pos = backbone.reshape(-1, 3)
        bb_radius = covalent_radius(torch.tensor(_BACKBONE_Z, device=device)).repeat(backbone.shape[0])
        bb_index = res_index.repeat_interleave(3)
        # One complex at a time: a batch-wide ligand x backbone distance matrix would be mostly
        # cross-complex pairs that are then thrown away, and too large for big batches.
        for b in range(num):
            lig, prot = index == b, bb_index == b
            dist = torch.cdist(pred[:, lig], bb_pos[prot].expand(pred.shape[0], -1, -1),
                               compute_mode="donot_use_mm_for_euclid_dist")      # (T, n_l, n_p)
            limit = factor * (radius[lig][:, None] + bb_radius[prot][None, :])
            clashes[:, b] += (dist < limit).sum((1, 2)).to(pred.dtype)
            pairs[b] += int(lig.sum()) * int(prot.sum())

    per_tb = 100.0 * clashes / pairs.clamp_min(1)
    return _mean_snapshots_then_complexes(per_tb, pairs > 0, "clash_rate")


# ---------------------------------------------------------------------------------------------
# speed


def snapshots_per_second(num_snapshots: int, num_complexes: int, seconds: float) -> float:
    """Rollout speed (FPS of the paper's Table 3): predicted snapshots x complexes / wall seconds.

    Time the rollout alone (protein encoding included, data loading excluded), e.g. with
    ``time.perf_counter()`` around ``model.rollout``, after ``torch.cuda.synchronize()`` on GPU.
    """
    if num_snapshots < 0 or num_complexes < 0:
        raise ValueError(f"counts must be non-negative, got {num_snapshots} snapshots, "
                         f"{num_complexes} complexes")
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return num_snapshots * num_complexes / seconds
