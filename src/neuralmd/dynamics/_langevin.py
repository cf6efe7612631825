"""Langevin NeuralMD: learned friction, full-rank equivariant noise and the BAOAB integrator.

Underdamped Langevin dynamics (paper Eq. 34, ``m a = F - gamma m v + sqrt(2 m gamma kT) R(t)``)
per ligand atom i, with time in snapshot intervals:

    dx_i = v_i dt
    dv_i = (F_i(x) / m_i - gamma_i v_i) dt + b_i R_i(x) dW_i

``gamma_i >= 0`` is a learned, rotation-invariant friction (1 / interval), ``W_i`` three
independent Brownian motions, ``R_i(x)`` the atom's equivariant frame (:func:`atom_frames`), so that
for a fixed seed the sample paths rotate with the input, and ``b_i = sigma_i / sqrt(m_i)`` the
velocity-noise amplitude. Fluctuation-dissipation ties ``sigma_i^2 = 2 gamma_i kT`` with a learned
kT (amu Å² / interval²), i.e. ``b_i^2 = 2 gamma_i kT / m_i``, which makes the Boltzmann
distribution of a conservative force stationary. Module ``_neuralmd`` wires these into NeuralMD.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from ._baselines import (cage_and_pocket, drift_centre, mass_shares, observed_covariance, observed_gaussian,
                         observed_mean_and_spread)

#: Langevin noise forms: the paper's rank-1 noise, free full-rank, full-rank tied to the friction.
NOISE_FORMS = ("rank1", "full", "fdt")
#: Where the per-atom coefficients come from: one learned constant, or the ligand's invariants.
COEFFICIENT_SOURCES = ("constant", "ligand")


def _inverse_softplus(value: float) -> float:
    """``y`` with ``softplus(y) == value`` (value > 0): the bias that starts a head at ``value``."""
    return value + math.log(-math.expm1(-value))


class LangevinCoefficients(nn.Module):
    """Per-atom friction gamma_i and noise amplitude sigma_i, non-negative and rotation-invariant.

    Each coefficient is ``softplus(w . h_i + c)``: without a ``ligand`` module there is no ``h``
    (one learned number shared by all atoms, NeuralMD's ``coefficients="constant"``); with one,
    ``h_i`` is the invariant (scalar) output of that BindingNet-Ligand at the current positions
    (``coefficients="ligand"``), and ``w`` starts at zero so that training begins from the constant. softplus keeps the coefficients non-negative while
    letting them approach zero smoothly.

    Args:
        friction: initial gamma (1 / snapshot interval), or None for no friction.
        noise: ``"full"`` (sigma learned on its own, initial value ``noise_scale``), ``"fdt"``
            (sigma^2 = 2 gamma kT, kT learned from ``kT``) or ``"rank1"`` (no sigma here).
        noise_scale: initial sigma for ``noise="full"``.
        kT: initial kT (amu Å² / interval²) for ``noise="fdt"``.
        ligand: a BindingNet-Ligand-like module ``(z, x, batch=...) -> (h (N, C), vec)`` for
            per-atom coefficients; None for constants.
        hidden: C, the width of ``h``.
    """

    def __init__(self, *, friction: float | None, noise: str, noise_scale: float, kT: float,
                 ligand: nn.Module | None = None, hidden: int = 0, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.noise = noise
        self.ligand = ligand

        def bias(value: float | None) -> nn.Parameter | None:
            return None if value is None else nn.Parameter(torch.tensor(_inverse_softplus(value), dtype=dtype))

        def weight(value: float | None) -> nn.Parameter | None:
            if value is None or ligand is None:
                return None
            return nn.Parameter(torch.zeros(hidden, dtype=dtype))

        self.friction_bias, self.friction_weight = bias(friction), weight(friction)
        sigma = noise_scale if noise == "full" else None
        self.noise_bias, self.noise_weight = bias(sigma), weight(sigma)
        self.log_kT = nn.Parameter(torch.tensor(math.log(kT), dtype=dtype)) if noise == "fdt" else None

    @property
    def has_friction(self) -> bool:
        """Whether a friction is learned (otherwise ``forward`` returns gamma = None)."""
        return self.friction_bias is not None

    @property
    def kT(self) -> Tensor | None:
        """The learned kT of the fluctuation-dissipation noise (None for other noise forms)."""
        return None if self.log_kT is None else self.log_kT.exp()

    def forward(self, z: Tensor, x: Tensor, batch: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """gamma (N, 1) or None, and sigma (N, 1) or None (rank-1 noise), at positions x (N, 3)."""
        h = None
        if self.ligand is not None:
            h, _ = self.ligand(z, x, batch=batch)

        def head(bias: Tensor | None, weight: Tensor | None) -> Tensor | None:
            if bias is None:
                return None
            raw = bias.expand(x.shape[0], 1)
            if weight is not None:
                raw = raw + (h.to(raw.dtype) @ weight).unsqueeze(-1)
            return nn.functional.softplus(raw)

        gamma = head(self.friction_bias, self.friction_weight)
        if self.noise == "fdt":
            return gamma, (2.0 * gamma * self.kT).sqrt()
        return gamma, head(self.noise_bias, self.noise_weight)


#: Shapes of the history well: one variance per atom, or its full 3 x 3 covariance.
WELL_SHAPES = ("isotropic", "anisotropic")


def well_precision(cov: Tensor, floor: float) -> Tensor:
    """(N, 3, 3) the precision ``(C + floor I)^-1`` of a harmonic well of covariance C (N, 3, 3);
    ``floor`` (Å^2) keeps it finite when few snapshots were seen."""
    return torch.linalg.inv(cov + floor * torch.eye(3, dtype=cov.dtype, device=cov.device))


def history_well(pos: Tensor, start: Tensor, kT: Tensor, *, floor: float, shape: str = "isotropic",
                 reference: Tensor | None = None) -> Callable[[Tensor], Tensor]:
    """The harmonic well of the snapshots seen so far, as a force ``x -> (N, 3)``.

    ``isotropic``: ``F_i(x) = -kT (x_i - mean_i) / (s_i^2 + floor)`` with ``mean_i`` and the
    isotropic variance ``s_i^2`` of atom i over snapshots 0..start (:func:`observed_mean_and_spread`,
    what the Stationary baseline samples); ``anisotropic``: ``F_i(x) = -kT (C_i + floor I)^-1
    (x_i - mean_i)`` with the atom's 3 x 3 covariance ``C_i`` (:func:`observed_covariance`). The
    Boltzmann density at ``kT`` is ``N(mean_i, s_i^2 I + floor I)`` (or ``C_i + floor I``) for any
    kT, so under fluctuation-dissipation the learned force only has to correct it, and kT and the
    friction set how fast a rollout relaxes into it. ``floor`` (Å^2) keeps the well finite when few
    snapshots were seen. Equivariant: the mean moves with the data, the variance is invariant and
    the covariance turns with it. ``reference`` (N, R, 3): poses of the same ligand in the same
    pocket from other trajectories, pooled with the seen snapshots (one weight per pose), so that
    the well is the complex's equilibrium rather than only this trajectory's first snapshots.
    """
    if shape not in WELL_SHAPES:
        raise ValueError(f"shape must be one of {WELL_SHAPES}, got {shape!r}")
    if shape == "isotropic":
        mean, var = observed_mean_and_spread(pos, start, reference=reference)
        stiffness = kT / (var + floor).unsqueeze(-1)                       # (N, 1)
        return lambda x: stiffness * (mean - x)
    mean, cov = observed_covariance(pos, start, reference=reference)
    precision = kT * well_precision(cov, floor)                            # (N, 3, 3), symmetric
    return lambda x: torch.einsum("nkl,nl->nk", precision, mean - x)


def mixture_well(pos: Tensor, start: Tensor, kT: Tensor, *, floor: float, shape: str, reference: Tensor,
                 local_weight: float, batch: Tensor, num: int) -> Callable[[Tensor], Tensor]:
    """A well with two time scales: ``kT`` times the score of the mixture, per complex,
    ``w N(local) + (1 - w) N(complex)`` of two Gaussians over the whole ligand.

    ``local``: each atom's mean and covariance over the seen snapshots 0..start alone (the
    trajectory's current cage); ``complex``: the same pooled with the ``reference`` poses of the
    complex's other runs (its whole pocket; :func:`history_well`'s two inputs). The force on atom i
    is ``kT sum_k r_k (C_k,i + floor I)^-1 (mean_k,i - x_i)`` with responsibilities ``r_k`` from the
    joint log-densities of the complex's atoms, so a ligand near its cage is held by the cage's
    stiff well (it rattles at the cage's speed) and leaves it as a whole, slowly, for the complex's
    broad one; the Boltzmann density at kT is the mixture itself. Equivariant (log-densities are
    invariant, means and covariances turn with the data) and per complex. ``shape`` as in
    :func:`history_well`; ``local_weight`` w in (0, 1).
    """
    if shape not in WELL_SHAPES:
        raise ValueError(f"shape must be one of {WELL_SHAPES}, got {shape!r}")
    components = []
    for ref, weight in ((None, local_weight), (reference, 1.0 - local_weight)):
        mean, cov = observed_gaussian(pos, start, shape, reference=ref)
        precision = well_precision(cov, floor)                                        # (N, 3, 3)
        components.append((mean, precision, 0.5 * torch.linalg.slogdet(precision)[1], math.log(weight)))

    def force(x: Tensor) -> Tensor:
        pulls, log_density = [], []
        for mean, precision, half_logdet, log_weight in components:
            pull = torch.einsum("nkl,nl->nk", precision, mean - x)                    # (N, 3)
            per_atom = half_logdet - 0.5 * ((mean - x) * pull).sum(-1)                # (N,)
            log_density.append(log_weight + torch.zeros(num, dtype=x.dtype, device=x.device).index_add_(
                0, batch, per_atom))
            pulls.append(pull)
        share = torch.softmax(torch.stack(log_density), dim=0)[:, batch].unsqueeze(-1)  # (2, N, 1)
        return kT * (share[0] * pulls[0] + share[1] * pulls[1])

    return force


class DriftingWell:
    """A well with two time scales that run at their own speeds: the seen snapshots' cage, whose
    centre drifts into the complex's pocket.

    The force on atom i is ``kT (C_cage,i + floor I)^-1 (c_i - x_i)``: the harmonic well of the
    snapshots 0..start alone, their spread held inside the pocket's (the trajectory's current
    cage, which holds the fast rattling at the learned friction and kT), around a centre ``c_i``.
    The centre starts at the cage's mean and moves as an exact Ornstein-Uhlenbeck process,
    independent of x, into the pocket pooled with the ``reference`` poses: ``c <- mu + e (c - mu)
    + sqrt(1 - e^2) D xi`` over a time h, ``e = exp(-h / drift_time)``, D the square root of the
    spread the pocket adds to the cage (:func:`~neuralmd.dynamics._baselines.cage_and_pocket`), xi
    an equivariant unit Gaussian vector per atom. So the first snapshots rattle in the cage at the
    dynamics' own speed, and the pose as a whole reaches the pocket's spread (cage plus centre:
    exactly the pooled covariance) over ``drift_time``, its own speed. BAOAB moves the centre in
    its O part (:meth:`advance`); without reference poses there is nothing to drift into and
    :func:`history_well` is used instead. Equivariant and per atom (batch-independent), like the
    other wells; ``shape`` as in :func:`history_well`.
    """

    def __init__(self, pos: Tensor, start: Tensor, kT: Tensor, *, floor: float, shape: str, reference: Tensor,
                 drift_time: float) -> None:
        if shape not in WELL_SHAPES:
            raise ValueError(f"shape must be one of {WELL_SHAPES}, got {shape!r}")
        cage_mean, cage_cov, self.pocket_mean, self.drift_root = cage_and_pocket(pos, start, shape,
                                                                                 reference=reference)
        self.precision = kT * well_precision(cage_cov, floor)                     # (N, 3, 3)
        self.centre, self.drift_time = cage_mean, float(drift_time)

    def __call__(self, x: Tensor) -> Tensor:
        """(N, 3) the cage's pull on positions x (N, 3) towards the current centre."""
        return torch.einsum("nkl,nl->nk", self.precision, self.centre - x)

    def advance(self, h: float, unit: Tensor) -> None:
        """Move the centre exactly over time h with (N, 3) unit Gaussian vectors ``unit``."""
        self.centre = drift_centre(self.centre, self.pocket_mean, self.drift_root, math.exp(-h / self.drift_time),
                                   unit)


def loosen_centroid(well: Callable[[Tensor], Tensor], *, mass: Tensor, batch: Tensor, num: int,
                    confinement: float) -> Callable[[Tensor], Tensor]:
    """``well`` with only the fraction ``confinement`` of its net force on each complex's centre of mass.

    Atom i's force becomes ``F_i - (1 - c) (m_i / M) sum_j F_j`` (sums over i's complex, M its
    mass): every atom's acceleration shifts by the same vector, so the motion of the atoms
    relative to each other is the well's own, and only the centre of mass is held by ``c`` times
    the well's stiffness, and at ``c -> 0`` it diffuses freely: a ligand whose pose drifts away
    from the snapshots seen so far is not pulled back into them at full strength. The loosened
    force is not a gradient, but the deterministic dynamics stay conservative:
    ``m^-1 (I - (1 - c) (m / M) 1^T)`` is symmetric positive definite, so loosening acts like a
    centre-of-mass mass of ``M / c``. Under fluctuation-dissipation with one friction for all
    atoms the centre of mass is then at temperature ``kT / c`` and the internal motion at kT:
    where the two do not couple, the centre's stationary variance is the well's divided by c
    (tests/test_dynamics_prior.py).
    Equivariant (``F`` is, the masses are invariant) and per complex (batch-independent).

    Args:
        well: ``x -> (N, 3)`` the force to loosen (:func:`history_well`).
        mass: (N,) atom masses; batch: (N,) complex of each atom; num: number of complexes.
        confinement: c in (0, 1], the share of the net force kept.
    """
    share = mass_shares(mass, batch, num).unsqueeze(-1)                      # (N, 1)

    def force(x: Tensor) -> Tensor:
        f = well(x)
        net = torch.zeros(num, 3, dtype=f.dtype, device=f.device).index_add_(0, batch, f)
        return f - (1.0 - confinement) * share * net[batch]

    return force


def ou_noise_scale(gamma: Tensor | None, h: float) -> Tensor | float:
    """sqrt of ``(1 - exp(-2 gamma h)) / (2 gamma)``: the spread of the exact OU step per unit noise.

    Solving ``dv = -gamma v dt + b dW`` over ``h`` with x fixed gives
    ``v(h) = exp(-gamma h) v + b sqrt((1 - exp(-2 gamma h)) / (2 gamma)) xi``; the ratio tends to h
    as gamma -> 0, where it is evaluated as h (gradients stay finite).
    """
    if gamma is None:
        return math.sqrt(h)
    small = gamma * h < 1e-6
    safe = torch.where(small, torch.ones_like(gamma), gamma)
    var = torch.where(small, torch.full_like(gamma, h), -torch.expm1(-2.0 * safe * h) / (2.0 * safe))
    return var.sqrt()


def baoab(velocity: Callable[[Tensor, Tensor], Tensor], acceleration: Callable[[Tensor], Tensor],
          friction_and_kick: Callable[[Tensor], tuple[Tensor | None, Tensor]], x0: Tensor, v0: Tensor,
          times: Tensor, *, step_size: float, velocities: bool = True,
          advance: Callable[[float, Tensor], None] | None = None) -> tuple[Tensor, Tensor | None]:
    """Integrate underdamped Langevin dynamics with the BAOAB splitting (Leimkuhler & Matthews).

    One step of size h: B (half kick ``v += h/2 a(x)``), A (half drift ``x += h/2 dx/dt``),
    O (the friction-noise part solved exactly as an Ornstein-Uhlenbeck step,
    ``v = exp(-gamma h) v + sqrt((1 - exp(-2 gamma h)) / (2 gamma)) * kick``), A, B. The force at
    the end of a step is reused at the start of the next: one force evaluation per step. For a
    harmonic well it samples the exact stationary position variance kT/k at any stable h.

    Args:
        velocity: ``(x, v) -> dx/dt`` (N, 3), usually v itself.
        acceleration: ``x -> F / m`` (N, 3).
        friction_and_kick: ``x -> (gamma (N, 1) or None, kick (N, 3))``, where ``kick`` is a fresh
            sample of ``b R xi``: velocity noise per unit sqrt(time), xi standard normal.
        x0, v0: (N, 3) initial state.
        times: (T,) increasing relative times; each interval is cut into equal steps of at most
            ``step_size``, so every requested time lies on the grid.
        velocities: False when only the positions are wanted: the last step's closing force
            evaluation and B, which move only the final velocity, are skipped (the positions are
            the same bit for bit; a training window saves one force evaluation in 2W + 1 at step
            1/2).
        advance: ``(h, x) -> None``, called once per step right after O: a process the force
            depends on but that does not depend on the velocities, moved exactly over the step
            inside the O part (the centre of :class:`DriftingWell`); None: nothing moves.

    Returns:
        positions (T, N, 3), and velocities (T, N, 3) at ``times`` or None.
    """
    x, v = x0, v0
    a = acceleration(x)
    xs, vs = [x0], [v0]
    intervals = times.shape[0] - 1
    for interval, (t0, t1) in enumerate(zip(times[:-1].tolist(), times[1:].tolist())):
        steps = max(1, math.ceil((t1 - t0) / step_size - 1e-9))
        h = (t1 - t0) / steps
        for step in range(steps):
            v = v + 0.5 * h * a
            x = x + 0.5 * h * velocity(x, v)
            gamma, kick = friction_and_kick(x)
            decay = 1.0 if gamma is None else torch.exp(-gamma * h)
            v = decay * v + ou_noise_scale(gamma, h) * kick
            if advance is not None:
                advance(h, x)
            x = x + 0.5 * h * velocity(x, v)
            if velocities or interval < intervals - 1 or step < steps - 1:
                a = acceleration(x)
                v = v + 0.5 * h * a
        xs.append(x)
        vs.append(v)
    return torch.stack(xs), (torch.stack(vs) if velocities else None)
