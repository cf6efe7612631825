"""Parameter-free baselines every honest report needs (the paper omits them).

Deterministic: the last known pose (:class:`StaticBaseline`), constant velocity
(:class:`LinearBaseline`) and the mean of the snapshots seen so far (:class:`MeanPoseBaseline`).
Stochastic: an equilibrium ensemble around that mean (:class:`StationaryBaseline`), a diffusion
ensemble around the last pose whose spread grows as the observed mean squared displacement
(:class:`RandomWalkBaseline`), and a relaxation from the last pose into the equilibrium ensemble at
the observed lag-1 autocorrelation (:class:`OrnsteinUhlenbeckBaseline`). MeanPose and the three
stochastic ones are fitted on what a model may see of that trajectory: the snapshots up to and
including the start of the rollout (in the single-trajectory task these are exactly the training
snapshots; in the multi-trajectory task the observed prefix). Where the data carries reference
poses of the same ligand in the same pocket (``ligand.reference_pos``, from other trajectories of
the complex: :func:`neuralmd.data.with_reference_poses`), MeanPose and the equilibrium of Stationary
and Ornstein-Uhlenbeck pool them with the observed snapshots, one weight per pose.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from .._format import ligand_batch
from ._base import DynamicsModel
from ._noise import complex_noise, equivariant_noise


class StaticBaseline(DynamicsModel):
    """Predicts the last known pose at every time: ``x_hat(t) = x(t0)``.

    Any model worth training must beat it; it is exact on a ligand that does not move.
    """

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """(T, N, 3) copies of x0."""
        return x0.unsqueeze(0).expand(times.shape[0], -1, -1).clone()


class LinearBaseline(DynamicsModel):
    """Constant velocity: ``x_hat(t) = x(t0) + (t - t0) * (x(t0) - x(t0 - 1))``.

    Exact on uniform straight-line motion. At ``t0 = 0`` the velocity is zero (no earlier
    snapshot), so it reduces to :class:`StaticBaseline` there.
    """

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """(T, N, 3) positions along the straight line through x0 with velocity v0."""
        return x0.unsqueeze(0) + times.to(x0.dtype).view(-1, 1, 1) * v0.unsqueeze(0)


def observed_mask(pos: Tensor, start: Tensor) -> Tensor:
    """(N, T) True for the snapshots 0..start of each atom: what a model may see of its trajectory."""
    return torch.arange(pos.shape[1], device=pos.device).unsqueeze(0) <= start.unsqueeze(1)


def reference_poses(data) -> Tensor | None:
    """(N, R, 3) the ligand's reference poses of ``data`` (``ligand.reference_pos``, attached by
    :func:`neuralmd.data.with_reference_poses`) in the dtype of its trajectory, or None."""
    reference = getattr(data["ligand"], "reference_pos", None)
    return None if reference is None else reference.to(data["ligand"].pos.dtype)


def _observed_mean(pos: Tensor, start: Tensor, reference: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The poses an equilibrium is fitted on (N, S, 3): the trajectory's snapshots, then the
    ``reference`` poses (N, R, 3) if any; their mask (N, S, 1), True for snapshots 0..start and
    every reference pose that is not padding (NaN rows, which
    :func:`neuralmd.data.attach_reference_poses` adds so that a split batches; they are zeroed
    here); its count per atom (N, 1); and each atom's mean (N, 3)."""
    mask = observed_mask(pos, start)
    if reference is not None:
        reference = reference.to(pos.dtype)
        present = torch.isfinite(reference).all(-1)                              # (N, R)
        pos = torch.cat([pos, torch.where(present.unsqueeze(-1), reference, 0.0)], dim=1)
        mask = torch.cat([mask, present], dim=1)
    mask = mask.unsqueeze(-1).to(pos.dtype)
    count = mask.sum(1)
    return pos, mask, count, (pos * mask).sum(1) / count


def observed_mean_and_spread(pos: Tensor, start: Tensor, *,
                             reference: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Each atom's mean position (N, 3) over snapshots 0..start and its isotropic variance (N,).

    The variance is per coordinate, ``sum_t |x_t - mean|^2 / (3 (n - 1))`` over the n observed
    snapshots (unbiased; 0 when only the start is observed), in Å^2. ``reference`` (N, R, 3):
    poses of the same ligand in the same pocket from other trajectories, pooled with the observed
    snapshots, one weight per pose (:func:`neuralmd.data.with_reference_poses`).
    """
    pos, mask, count, mean = _observed_mean(pos, start, reference)
    sq = ((pos - mean.unsqueeze(1)).square() * mask).sum((1, 2))
    var = sq / (3 * (count.squeeze(1) - 1)).clamp_min(1)
    return mean, var


def observed_covariance(pos: Tensor, start: Tensor, *,
                        reference: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Each atom's mean position (N, 3) over snapshots 0..start and its 3 x 3 covariance (N, 3, 3),
    unbiased (0 when only the start is observed), in Å^2; ``reference`` poses pooled in as in
    :func:`observed_mean_and_spread`, whose isotropic variance is this covariance's trace / 3."""
    pos, mask, count, mean = _observed_mean(pos, start, reference)
    centred = (pos - mean.unsqueeze(1)) * mask
    cov = torch.einsum("ntk,ntl->nkl", centred, centred) / (count - 1).clamp_min(1).unsqueeze(-1)
    return mean, cov


def observed_gaussian(pos: Tensor, start: Tensor, shape: str, *,
                      reference: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Each atom's mean (N, 3) and covariance (N, 3, 3) as a ``shape`` equilibrium sees them: the
    full 3 x 3 covariance (``"anisotropic"``) or the isotropic variance times the identity;
    ``reference`` poses pooled in (:func:`observed_covariance`, :func:`observed_mean_and_spread`)."""
    if shape == "anisotropic":
        return observed_covariance(pos, start, reference=reference)
    mean, var = observed_mean_and_spread(pos, start, reference=reference)
    return mean, var.view(-1, 1, 1) * torch.eye(3, dtype=pos.dtype, device=pos.device)


def cage_and_pocket(pos: Tensor, start: Tensor, shape: str, *,
                    reference: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The two scales of a ligand whose cage drifts in its pocket, per atom: the cage's mean (N, 3),
    over the seen snapshots 0..start alone; its covariance (N, 3, 3), that of the same snapshots
    held inside the pocket's; the pocket's mean (N, 3), pooled with the ``reference`` poses; and the
    symmetric square root (N, 3, 3) of the spread the cage's centre adds, so that cage plus centre
    is exactly the pocket's covariance C.

    Held inside: in the frame where C is the identity (``C^-1/2 C_seen C^-1/2 = V L V^T``), the
    seen spread is capped at the pocket's, ``C_cage = C^1/2 V min(L, 1) V^T C^1/2``, and the centre
    adds ``C^1/2 V (1 - min(L, 1)) V^T C^1/2``. A cage seen over a few snapshots can be broader
    than the pocket along some direction (a fluctuation the other runs do not share), and a cage
    and a drift that both kept it would overshoot the pocket's spread in the long run. Directions
    the pocket does not spread in (an eigenvalue of C below 1e-12 of its largest) get neither.
    Equivariant: every piece turns with the data (matrix functions of covariances)."""
    cage_mean, seen_cov = observed_gaussian(pos, start, shape)
    pocket_mean, pocket_cov = observed_gaussian(pos, start, shape, reference=reference)
    values, vectors = torch.linalg.eigh(pocket_cov)
    kept = values > 1e-12 * values.amax(-1, keepdim=True).clamp_min(torch.finfo(pos.dtype).tiny)
    half = vectors @ torch.diag_embed(values.clamp_min(0).sqrt()) @ vectors.transpose(-1, -2)
    inverse_half = vectors @ torch.diag_embed(torch.where(kept, values.clamp_min(torch.finfo(pos.dtype).tiny)
                                                          .rsqrt(), 0.0)) @ vectors.transpose(-1, -2)
    share, turn = torch.linalg.eigh(inverse_half @ seen_cov @ inverse_half)
    share = share.clamp(0.0, 1.0)

    def in_pocket(weights: Tensor) -> Tensor:
        return half @ turn @ torch.diag_embed(weights) @ turn.transpose(-1, -2) @ half

    return cage_mean, in_pocket(share), pocket_mean, symmetric_sqrt(in_pocket(1.0 - share))


def drift_centre(centre: Tensor, pocket_mean: Tensor, drift_root: Tensor, decay: float, unit: Tensor) -> Tensor:
    """(N, 3) a drifting cage's centre after an exact Ornstein-Uhlenbeck step into its pocket:
    ``mu + e (c - mu) + sqrt(1 - e^2) D u`` with ``e = decay``, D the square root of the spread
    the pocket adds to the cage (:func:`cage_and_pocket`) and u (N, 3) unit Gaussian vectors."""
    return pocket_mean + decay * (centre - pocket_mean) + math.sqrt(1 - decay * decay) * apply_root(drift_root, unit)


def check_cage_drift(drift: float | None) -> float | None:
    """A ``cage_drift`` as a float (or None), or one clear error: None or a positive number of
    snapshot intervals."""
    if drift is None:
        return None
    if isinstance(drift, bool) or not isinstance(drift, (int, float)) or not drift > 0 or not math.isfinite(drift):
        raise ValueError(f"cage_drift must be None or a positive number of snapshot intervals, got {drift!r}")
    return float(drift)


def observed_lag1_correlation(pos: Tensor, start: Tensor) -> Tensor:
    """Each atom's lag-1 autocorrelation (N,) of its displacement from its observed mean over
    snapshots 0..start: ``sum_t d_t . d_(t+1) / sum_t |d_t|^2`` (pairs with both snapshots observed
    in the numerator), clamped to [0, 1]; 0 for an atom that has not moved. Rotation invariant."""
    _, mask, _, mean = _observed_mean(pos, start)
    centred = (pos - mean.unsqueeze(1)) * mask         # unobserved snapshots are 0, so their pairs add 0
    lagged = (centred[:, 1:] * centred[:, :-1]).sum((1, 2))
    total = centred.square().sum((1, 2))
    return torch.where(total > 0, lagged / total.clamp_min(torch.finfo(pos.dtype).tiny), 0.0).clamp(0.0, 1.0)


def symmetric_sqrt(cov: Tensor) -> Tensor:
    """(..., 3, 3) the symmetric square root of covariances ``cov`` (negative round-off eigenvalues
    as 0): it turns with the frame, so Gaussian draws through it stay equivariant."""
    values, vectors = torch.linalg.eigh(cov)
    return vectors @ torch.diag_embed(values.clamp_min(0).sqrt()) @ vectors.transpose(-1, -2)


def apply_root(root: Tensor, vectors: Tensor) -> Tensor:
    """(..., 3): each 3 x 3 ``root`` (..., 3, 3) times its vector (..., 3)."""
    return (root @ vectors.unsqueeze(-1)).squeeze(-1)


def mass_shares(mass: Tensor, batch: Tensor, num: int) -> Tensor:
    """(N,) each atom's mass over its complex's total mass (``batch`` (N,) of ``num`` complexes)."""
    total = torch.zeros(num, dtype=mass.dtype, device=mass.device).index_add_(0, batch, mass)
    return mass / total[batch]


def check_confinement(confinement: float) -> float:
    """A ``centroid_confinement`` as a float, or one clear error: it must be a number in (0, 1]."""
    if isinstance(confinement, bool) or not isinstance(confinement, (int, float)) or not 0 < confinement <= 1:
        raise ValueError(f"centroid_confinement must be a number in (0, 1], got {confinement!r}")
    return float(confinement)


def check_local_well_weight(weight: float | None) -> float | None:
    """A ``local_well_weight`` as a float (or None), or one clear error: None or a number in (0, 1)."""
    if weight is None:
        return None
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < 1:
        raise ValueError(f"local_well_weight must be None or a number in (0, 1), got {weight!r}")
    return float(weight)


def observed_equilibrium(pos: Tensor, start: Tensor, shape: str, *,
                         reference: Tensor | None = None) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """Each atom's observed mean (N, 3) and a map from (N, 3) unit Gaussian vectors to draws of the
    observed spread around zero: the isotropic standard deviation times the vector, or (``shape=
    "anisotropic"``) the symmetric square root of the 3 x 3 covariance applied to it (equivariant:
    it rotates with the snapshots). ``reference`` poses are pooled in (:func:`observed_covariance`)."""
    if shape == "anisotropic":
        mean, cov = observed_covariance(pos, start, reference=reference)
        root = symmetric_sqrt(cov)
        return mean, lambda unit: apply_root(root, unit)
    mean, var = observed_mean_and_spread(pos, start, reference=reference)
    scale = var.sqrt().unsqueeze(-1)
    return mean, lambda unit: scale * unit


def observed_msd(pos: Tensor, start: Tensor) -> Tensor:
    """Per-atom mean squared displacement (N, L + 1) in Å^2 at lags 0..L over snapshots 0..start.

    ``msd[i, l]`` is the mean of ``|x_i(t + l) - x_i(t)|^2`` over observed pairs ``t + l <= start``,
    made non-decreasing in the lag (a running maximum) and held at its value at the largest
    observed lag beyond it; ``L = max(start)``.
    """
    num_lags = int(start.max()) + 1
    msd = pos.new_zeros(pos.shape[0], num_lags)
    for lag in range(1, num_lags):
        sq = (pos[:, lag:num_lags] - pos[:, :num_lags - lag]).square().sum(-1)      # (N, L + 1 - lag)
        valid = (torch.arange(lag, num_lags, device=pos.device).unsqueeze(0) <= start.unsqueeze(1))
        count = valid.sum(1)
        msd[:, lag] = torch.where(count > 0, (sq * valid).sum(1) / count.clamp_min(1), 0.0)
    return msd.cummax(dim=1).values


def interpolate_lags(msd: Tensor, lags: Tensor) -> Tensor:
    """(T, N) values of ``msd`` (N, L + 1) at fractional ``lags`` (T,), held constant beyond L."""
    lags = lags.clamp(0, msd.shape[1] - 1)
    lo = lags.floor().long()
    hi = (lo + 1).clamp_max(msd.shape[1] - 1)
    frac = (lags - lo.to(lags.dtype)).unsqueeze(1)
    return msd[:, lo].T * (1 - frac) + msd[:, hi].T * frac


class MeanPoseBaseline(DynamicsModel):
    """The mean of the observed snapshots, at every future time (deterministic).

    With snapshots far enough apart that the ligand's position is nearly uncorrelated jitter
    around its pose, the conditional mean is this mean pose, and it beats the last pose on any
    point metric. ``output[0]`` is still the known pose at the start.
    """

    observes_history = True

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None, *, start: Tensor) -> Tensor:
        """(T, N, 3): x0, then the mean of each atom's snapshots 0..start."""
        mean, _ = observed_mean_and_spread(data["ligand"].pos, start, reference=reference_poses(data))
        out = mean.unsqueeze(0).expand(times.shape[0], -1, -1).clone()
        out[0] = x0
        return out


class _EnsembleBaseline(DynamicsModel):
    """Shared sampling for the stochastic baselines: per-atom Gaussian scalars from one stream per
    complex (keyed by complex id and ensemble sample), mapped into an equivariant frame per atom."""

    stochastic = True
    observes_history = True

    @staticmethod
    def _noise(data, reference: Tensor, generator: torch.Generator | None):
        """A callable returning (N, 3) isotropic unit Gaussian vectors, equivariant in ``reference``."""
        batch, num = ligand_batch(data)
        streams = complex_noise(data, generator, reference)
        return lambda: equivariant_noise(reference, batch, num, streams.sample(3))


def observed_centroid_covariance(pos: Tensor, start: Tensor, mass: Tensor, batch: Tensor, num: int, *,
                                 reference: Tensor | None = None) -> Tensor:
    """(B, 3, 3) the unbiased covariance of each complex's centre of mass over its snapshots
    0..start (``start`` (N,) is the same for the atoms of one complex) and its ``reference`` poses
    (N, R, 3) if any, in Å^2."""
    weights = mass_shares(mass, batch, num).view(-1, 1, 1)

    def centre(poses: Tensor) -> Tensor:                                                   # (B, S, 3)
        return torch.zeros(num, *poses.shape[1:], dtype=poses.dtype, device=poses.device).index_add_(
            0, batch, weights * poses)

    last = torch.full((num,), -1, dtype=start.dtype, device=start.device).scatter_reduce_(0, batch, start, "amax")
    return observed_covariance(centre(pos), last, reference=None if reference is None else centre(reference))[1]


class StationaryBaseline(_EnsembleBaseline):
    """An equilibrium ensemble: independent draws around the observed mean pose, every time.

    ``x_i(t) ~ N(mean_i, s_i^2 I)`` for ``t > t0``, with ``mean_i`` and the isotropic variance
    ``s_i^2`` of atom i over the observed snapshots (:func:`observed_mean_and_spread`); no
    dynamics at all. It is the right answer when snapshots are far enough apart to be independent.
    ``shape="anisotropic"`` draws ``N(mean_i, C_i)`` with each atom's 3 x 3 covariance instead
    (:func:`observed_covariance`), through its symmetric square root so that draws stay equivariant.

    ``local_well_weight`` w (with reference poses) is the trivial counterpart of
    ``NeuralMD(local_well_weight=w)``: each complex's draw comes from the seen snapshots' own
    Gaussian with probability w, else from the one pooled with the reference poses.

    ``centroid_confinement`` c < 1 is the trivial counterpart of ``NeuralMD(centroid_confinement=c)``:
    each draw of a complex is moved as a rigid body by an offset ``N(0, (1 / c - 1) C)``, C the
    observed covariance of its centre of mass (:func:`observed_centroid_covariance`), which adds
    what loosening the well adds to the centre's spread, and no dynamics. The offset's direction
    is the mass-weighted sum of one fresh equivariant draw per atom, so draws stay equivariant.
    """

    SHAPES = ("isotropic", "anisotropic")

    def __init__(self, *, shape: str = "isotropic", centroid_confinement: float = 1.0,
                 local_well_weight: float | None = None) -> None:
        super().__init__()
        if shape not in self.SHAPES:
            raise ValueError(f"shape must be one of {self.SHAPES}, got {shape!r}")
        self.shape, self.centroid_confinement = shape, check_confinement(centroid_confinement)
        self.local_well_weight = check_local_well_weight(local_well_weight)
        if self.local_well_weight is not None and self.centroid_confinement != 1.0:
            raise ValueError("local_well_weight and centroid_confinement < 1 do not combine in Stationary")

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None, *, start: Tensor) -> Tensor:
        """(T, N, 3): x0, then independent samples of each atom's observed distribution."""
        reference = reference_poses(data)
        if self.local_well_weight is not None and reference is not None:
            return self._mixture(data, x0, times, generator, start, reference)
        mean, draw = observed_equilibrium(data["ligand"].pos, start, self.shape, reference=reference)
        noise = self._noise(data, mean, generator)
        if self.centroid_confinement == 1.0:
            return torch.stack([x0] + [mean + draw(noise()) for _ in range(times.shape[0] - 1)])
        offset = self._centroid_offset(data, start, noise)
        return torch.stack([x0] + [mean + draw(noise()) + offset() for _ in range(times.shape[0] - 1)])

    def _mixture(self, data, x0: Tensor, times: Tensor, generator: torch.Generator | None, start: Tensor,
                 reference: Tensor) -> Tensor:
        """``local_well_weight`` w: each complex's draw at each time comes from the seen snapshots'
        own Gaussian with probability w, else from the Gaussian pooled with the reference poses:
        the equilibrium of ``NeuralMD(local_well_weight=w)``, without its dynamics."""
        pos = data["ligand"].pos
        batch, num = ligand_batch(data)
        local_mean, local_draw = observed_equilibrium(pos, start, self.shape)
        pooled_mean, pooled_draw = observed_equilibrium(pos, start, self.shape, reference=reference)
        streams = complex_noise(data, generator, pooled_mean)
        path = [x0]
        for _ in range(times.shape[0] - 1):
            unit = equivariant_noise(pooled_mean, batch, num, streams.sample(3))
            local = (streams.uniforms() < self.local_well_weight)[batch].unsqueeze(-1)
            path.append(torch.where(local, local_mean + local_draw(unit), pooled_mean + pooled_draw(unit)))
        return torch.stack(path)

    def _centroid_offset(self, data, start: Tensor, noise: Callable[[], Tensor]) -> Callable[[], Tensor]:
        """A callable drawing (N, 3): one rigid offset per complex, ``N(0, (1 / c - 1) C)``."""
        batch, num = ligand_batch(data)
        mass = data["ligand"].mass.to(data["ligand"].pos.dtype)
        cov = observed_centroid_covariance(data["ligand"].pos, start, mass, batch, num,
                                           reference=reference_poses(data))
        root = symmetric_sqrt(cov * (1.0 / self.centroid_confinement - 1.0))                      # (B, 3, 3)
        norm = torch.zeros(num, dtype=mass.dtype, device=mass.device).index_add_(0, batch, mass.square()).sqrt()

        def offset() -> Tensor:
            # sum_i m_i u_i / sqrt(sum_i m_i^2) of unit Gaussian vectors u_i: one per complex
            unit = torch.zeros(num, 3, dtype=mass.dtype, device=mass.device).index_add_(
                0, batch, mass.unsqueeze(-1) * noise()) / norm.unsqueeze(-1)
            return apply_root(root, unit)[batch]

        return offset


class OrnsteinUhlenbeckBaseline(StationaryBaseline):
    """Relaxation from the last pose into the :class:`StationaryBaseline` ensemble: every atom an
    independent Ornstein-Uhlenbeck process in snapshot time, fitted on the observed snapshots.

    ``x_i(t + dt) = mean_i + a (x_i(t) - mean_i) + sqrt(1 - a^2) s_i xi`` with ``a = phi_i^dt``,
    ``phi_i`` the atom's observed lag-1 autocorrelation (:func:`observed_lag1_correlation`) and
    ``s_i xi`` a draw of its observed spread (isotropic, or its 3 x 3 covariance with
    ``shape="anisotropic"``, as Stationary). Its samples have the exact AR(1) law: at lag ``tau``
    mean ``mean_i + phi^tau (x_i(t0) - mean_i)`` and covariance ``(1 - phi^(2 tau)) s_i^2``. It
    is Static at ``phi = 1`` and Stationary at ``phi = 0``: the trivial answer to how long the
    current pose carries information, which a dynamics model has to beat to show that its forces
    add anything to that relaxation.

    ``cage_drift`` tau (snapshot intervals; with reference poses only, else ignored): two time
    scales, the seen snapshots' cage relaxing at phi while its centre drifts into the pooled pocket
    at ``exp(-k / tau)`` (:meth:`_drifting_cage`), the trivial counterpart of
    ``NeuralMD(cage_drift=tau)``.
    """

    def __init__(self, *, shape: str = "isotropic", cage_drift: float | None = None) -> None:
        super().__init__(shape=shape)
        self.cage_drift = check_cage_drift(cage_drift)

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None, *, start: Tensor) -> Tensor:
        """(T, N, 3): x0, then an AR(1) path per atom toward its observed distribution."""
        pos = data["ligand"].pos
        reference = reference_poses(data)
        if self.cage_drift is not None and reference is not None:
            return self._drifting_cage(data, x0, times, generator, start, reference)
        mean, draw = observed_equilibrium(pos, start, self.shape, reference=reference)
        phi = observed_lag1_correlation(pos, start).unsqueeze(-1)         # (N, 1)
        noise = self._noise(data, mean, generator)
        path = [x0]
        for step in times.diff():
            a = phi.pow(step)
            path.append(mean + a * (path[-1] - mean) + (1 - a.square()).sqrt() * draw(noise()))
        return torch.stack(path)

    def _drifting_cage(self, data, x0: Tensor, times: Tensor, generator: torch.Generator | None, start: Tensor,
                       reference: Tensor) -> Tensor:
        """``cage_drift`` tau (with reference poses): the trivial counterpart of
        ``NeuralMD(cage_drift=tau)``. The pose is a cage centre c plus an offset y: y relaxes as
        the AR(1) path above in the cage (the seen snapshots' Gaussian over 0..start alone, held
        inside the pocket's spread), c starts at that cage's mean and drifts into the pocket pooled with the reference
        poses as an exact Ornstein-Uhlenbeck process with relaxation time tau snapshot intervals and
        the spread the pocket adds to the cage (:func:`cage_and_pocket`). At lag k the mean is
        ``mu + e_k (mu_cage - mu) + phi^k (x0 - mu_cage)``, ``e_k = exp(-k / tau)``, and the
        covariance ``(1 - phi^2k) C_cage + (1 - e_k^2) (C - C_cage)``, C_cage the seen covariance
        held inside the pocket's C."""
        pos = data["ligand"].pos
        cage_mean, cage_cov, pocket_mean, drift_root = cage_and_pocket(pos, start, self.shape, reference=reference)
        cage_root = symmetric_sqrt(cage_cov)
        phi = observed_lag1_correlation(pos, start).unsqueeze(-1)         # (N, 1)
        noise = self._noise(data, pocket_mean, generator)
        centre, offset, path = cage_mean, x0 - cage_mean, [x0]
        for step in times.diff():
            a, e = phi.pow(step), math.exp(-float(step) / self.cage_drift)
            centre = drift_centre(centre, pocket_mean, drift_root, e, noise())
            offset = a * offset + (1 - a.square()).sqrt() * apply_root(cage_root, noise())
            path.append(centre + offset)
        return torch.stack(path)


class RandomWalkBaseline(_EnsembleBaseline):
    """An ensemble around the last pose whose spread grows with the lag as the observed MSD does.

    ``x_i(t0 + tau) ~ N(x_i(t0), msd_i(tau) / 3 I)`` independently at every predicted time, with
    ``msd_i`` the observed mean squared displacement of atom i (:func:`observed_msd`, interpolated
    at fractional lags and capped at the largest observed lag). These are the marginals of a
    diffusing ligand seen from its last pose; drawing each time afresh (rather than summing steps)
    keeps the samples moving beyond the largest observed lag, where a walk's increments would
    vanish. It is strong for a ligand that drifts slowly.
    """

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None, *, start: Tensor) -> Tensor:
        """(T, N, 3): x0, then draws around x0 with the observed MSD at each lag."""
        msd = interpolate_lags(observed_msd(data["ligand"].pos, start), times)       # (T, N)
        noise = self._noise(data, x0, generator)
        scale = (msd[1:] / 3).sqrt().unsqueeze(-1)
        return torch.stack([x0] + [x0 + s * noise() for s in scale])
