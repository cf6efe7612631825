"""NeuralMD: BindingNet forces integrated as a second-order neural ODE or SDE (section 4.3)."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from .._format import ligand_batch
from ._base import DynamicsModel, replicate
from ._baselines import check_cage_drift, check_confinement, check_local_well_weight, reference_poses
from ._integrators import INTEGRATORS, integrator, solver_options
from ._langevin import (COEFFICIENT_SOURCES, NOISE_FORMS, WELL_SHAPES, DriftingWell, LangevinCoefficients,
                        history_well, loosen_centroid, mixture_well)
from ._noise import atom_frames
from ._score import denoising_score_loss, perturbed_snapshots
from ._second_order import (LigandFactory, SecondOrderDynamics, default_ligand_factory,
                            map_initial_velocity)
from ._transition import gaussian_nll, langevin_transition
from ._windows import sample_windows

class NeuralMD(DynamicsModel):
    """NeuralMD ODE (Newtonian, Eq. 10) or SDE (Langevin, Eqs. 11 and 37) on a BindingNet.

    Args:
        force_field: ``BindingNet`` (or any module with ``encode_protein`` and
            ``forward(data, x, protein=...) -> (N, 3)``).
        solver: ``"ode"`` (torchdiffeq) or ``"sde"`` (torchsde, Itô).
        method: an entry of ``_integrators.INTEGRATORS[solver]``: ODE ``euler``, ``midpoint``,
            ``rk4`` (default), ``dopri5``; SDE ``euler`` (Euler-Maruyama, default), ``srk`` (strong
            order 1.5, rank-1 noise only) or ``baoab`` (the Langevin splitting integrator,
            friction-noise part solved exactly). Defaults: ``_integrators.DEFAULT_METHODS``.
        step_size: solver step in snapshot intervals (paper: 0.25, 0.5, 1); ignored by dopri5.
        adjoint: backpropagate with ``odeint_adjoint`` (memory O(1) in the steps); ODE methods only.
        velocity_mapping: map the finite-difference initial velocity through a BindingNet-Ligand.
        velocity_refinement: alpha of ``dx/dt = v + alpha * BindingNet-Ligand(x)`` (0, 0.01, 0.001).
        noise_scale: initial sigma of the SDE noise (learned): of the paper's rank-1 diffusion
            (kept positive through its log) or of ``noise="full"``.
        rtol, atol: dopri5 tolerances (None: its defaults 0 and 1e-4 Å; other methods refuse
            them). ``rtol=0`` keeps the step-size control
            equivariant: torchdiffeq scales each coordinate's error by ``atol + rtol * |y|``,
            which depends on the orientation and origin unless rtol is 0 (then only the RMS error
            in Å, a rotation invariant, decides). Adaptive steps are shared by the whole batch, so
            dopri5 rollouts are batch-independent only up to the tolerance.
        ligand_factory: builds the extra BindingNet-Ligand modules (mapping, refinement, diffusion,
            Langevin coefficients); default: ``BindingNetLigand`` sized like the force field.

    Options after ``method`` are keyword-only. Langevin options (the defaults are the paper's model):
        friction: initial learned friction gamma in 1 / snapshot interval, adding ``-gamma v`` to
            dv/dt (ODE and SDE); None or 0: no friction.
        noise: SDE noise form: ``"rank1"`` (the paper: one Brownian motion per atom times a
            learned vector), ``"full"`` (three per atom in the atom's equivariant frame, amplitude
            sigma_i / sqrt(m_i) learned) or ``"fdt"`` (full-rank with fluctuation-dissipation,
            sigma_i^2 = 2 gamma_i kT; needs friction).
        coefficients: ``"constant"`` (gamma and sigma are learned numbers shared by all atoms) or
            ``"ligand"`` (per atom, from the invariant output of a BindingNet-Ligand, softplus).
        kT: initial learned kT for ``noise="fdt"``, in amu Å² / snapshot interval².

    time_scale: how many of the dynamics' own time units one snapshot interval spans (1: the
        interval is the unit, as trained). ``s`` integrates the learned dynamics over s times the
        time per interval, the finite-difference velocity divided by s: the same stationary
        distribution, s times faster relaxation, s times the force evaluations. A calibration to
        choose on validation rollouts after training (docs/results.md, 3.2.2), not a training knob.

    Equilibrium score matching (``noise="fdt"`` only; module ``_score``): with fluctuation-dissipation
    the model samples ``exp(-U / kT)`` in the long run, so ``F / kT`` can be fitted to the training
    snapshots' score directly, beside (or, with ``loss="score"``, before) the trajectory loss:
        score_weight: weight of :meth:`score_matching_loss` added to every ``loss`` (0: off).
        score_noise: sigma of the denoising noise, Å per coordinate.
        score_snapshots: snapshots drawn per complex for one evaluation of the term.

    A prior from the trajectory's past (``noise="fdt"`` only):
        history_prior: add the harmonic well of the snapshots seen so far (0..start of each
            rollout or training window; :func:`_langevin.history_well`) to the learned force. Its
            Boltzmann density at the model's kT is the Stationary baseline's ``N(mean_i, s_i^2 I)``,
            so the learned force corrects a prior that is already the right equilibrium to first
            order, and the learned friction and kT decide how fast a rollout relaxes into it. The
            model then reads the trajectory's history like the history baselines do, and pools
            the data's reference poses of the same complex into the well where there are any
            (:func:`neuralmd.data.with_reference_poses`), as Stationary does.
        local_well_weight: with reference poses, a well with two time scales instead
            (:func:`_langevin.mixture_well`): the mixture of the seen snapshots' own well (weight w,
            the current cage) and the pooled one (1 - w, the whole pocket), per complex; None
            (default) pools them into one well. A calibration read off validation rollouts.
        cage_drift: with reference poses, a well whose two time scales run at their own speeds
            instead (:class:`_langevin.DriftingWell`; BAOAB only): the seen snapshots' own cage,
            whose centre drifts into the pooled pocket as an Ornstein-Uhlenbeck process with this
            relaxation time in snapshot intervals (whatever ``time_scale``), so that the first
            snapshots rattle in the cage at the learned speed and the pose reaches the pocket's
            spread at the drift's. None (default): no drift. A calibration read off validation rollouts.
        prior_floor: Å^2 added to each atom's observed variance (a finite well after few snapshots).
        prior_shape: ``"isotropic"`` (one variance per atom, the Stationary baseline's) or
            ``"anisotropic"`` (each atom's 3 x 3 covariance).
        gate_learned_force: multiply the learned force by a learned scalar that starts at 0 (a
            ReZero-style gate; needs ``history_prior``), so that training starts from the well's
            own dynamics and the untrained force field's random forces never enter a rollout.
        centroid_confinement: the share c in (0, 1] of the well's net force kept on the ligand's
            centre of mass (:func:`_langevin.loosen_centroid`; 1: the whole well; below 1 needs
            ``history_prior``). The atoms' motion relative to each other stays in the well, while
            the pose as a whole is held c times as stiffly, so that it may wander from the
            snapshots seen so far. A fixed calibration like ``time_scale``, to choose on
            validation rollouts: training windows of a few snapshots cannot see how far a pose
            wanders over a whole forecast (docs/results.md, 3.2.7).

    Example:
        >>> import torch
        >>> from neuralmd.data import synthetic_trajectories
        >>> from neuralmd.layers import BindingNet
        >>> data = synthetic_trajectories(1, seed=0, n_snapshots=20)[0]
        >>> model = NeuralMD(BindingNet(hidden=8, num_layers=1), solver="sde", method="euler", step_size=0.5)
        >>> with torch.no_grad():
        ...     model.rollout(data, torch.arange(10, 20)).shape[0]           # (10, N_l, 3)
        10
        >>> langevin = NeuralMD(BindingNet(hidden=8, num_layers=1), solver="sde", method="baoab",
        ...                     friction=0.5, noise="fdt", kT=1.0)
        >>> with torch.no_grad():
        ...     langevin.rollout(data, [10, 11, 12], samples=4).shape[:2]   # an ensemble of 4
        torch.Size([4, 3])
    """

    def __init__(self, force_field: nn.Module, solver: str = "ode", method: str | None = None, *,
                 step_size: float = 0.5, adjoint: bool = False, velocity_mapping: bool = False,
                 velocity_refinement: float = 0.0, noise_scale: float = 0.1, rtol: float | None = None,
                 atol: float | None = None, ligand_factory: LigandFactory | None = None,
                 friction: float | None = None, noise: str = "rank1",
                 coefficients: str = "constant", kT: float = 1.0, score_weight: float = 0.0,
                 score_noise: float = 0.2, score_snapshots: int = 8, history_prior: bool = False,
                 prior_floor: float = 0.01, prior_shape: str = "isotropic",
                 gate_learned_force: bool = False, centroid_confinement: float = 1.0,
                 local_well_weight: float | None = None, cage_drift: float | None = None,
                 time_scale: float = 1.0) -> None:
        super().__init__()
        method, entry = integrator(solver, method)
        if adjoint and not entry.adjoint:
            raise ValueError(f"adjoint=True is supported for solver='ode' only, not {solver}/{method}")
        if step_size <= 0:
            raise ValueError(f"step_size must be positive, got {step_size}")
        if noise_scale <= 0:
            raise ValueError(f"noise_scale must be positive, got {noise_scale}")
        if isinstance(time_scale, bool) or not isinstance(time_scale, (int, float)) or not time_scale > 0:
            raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
        self.time_scale = float(time_scale)
        friction = _check_langevin_options(solver, method, friction, noise, coefficients, kT)
        _check_score_options(noise, score_weight, score_noise, score_snapshots)
        _check_prior_options(noise, history_prior, prior_floor, gate_learned_force, prior_shape)
        _check_centroid_confinement(history_prior, centroid_confinement)
        _check_local_well_weight(history_prior, local_well_weight)
        _check_cage_drift(cage_drift, history_prior=history_prior, method=method, score_weight=score_weight,
                          local_well_weight=local_well_weight, confinement=centroid_confinement)
        if entry.rank1_noise_only and noise != "rank1":
            raise ValueError(f"method {method!r} needs the rank-1 noise; use 'euler' or 'baoab' with noise={noise!r}")
        self.force_field = force_field
        self.solver, self.method, self.step_size, self.adjoint = solver, method, float(step_size), adjoint
        self.solver_options = solver_options(solver, method, {"rtol": rtol, "atol": atol})
        self.velocity_refinement = float(velocity_refinement)
        self.noise = noise
        self.score_weight, self.score_noise = float(score_weight), float(score_noise)
        self.score_snapshots = int(score_snapshots)
        self.history_prior, self.prior_floor, self.prior_shape = bool(history_prior), float(prior_floor), prior_shape
        ref = next(force_field.parameters(), torch.empty(()))
        self.force_gate = (nn.Parameter(torch.zeros((), dtype=ref.dtype, device=ref.device))
                           if gate_learned_force else None)
        self.centroid_confinement = float(centroid_confinement)
        self.local_well_weight = check_local_well_weight(local_well_weight)
        self.cage_drift = check_cage_drift(cage_drift)
        factory = ligand_factory or default_ligand_factory(force_field)
        self.velocity_mapper = factory() if velocity_mapping else None
        self.refiner = factory() if self.velocity_refinement != 0.0 else None
        if solver == "sde" and noise == "rank1":
            self.diffusion = factory()
            self.log_noise_scale = nn.Parameter(torch.tensor(math.log(noise_scale), dtype=ref.dtype,
                                                             device=ref.device))
        else:
            self.diffusion, self.log_noise_scale = None, None
        if friction is None and noise == "rank1":
            self.langevin = None       # the paper's model: no extra parameters, no extra code path
        else:
            ligand = factory() if coefficients == "ligand" else None
            self.langevin = LangevinCoefficients(friction=friction, noise=noise, noise_scale=noise_scale,
                                                 kT=kT, ligand=ligand, hidden=getattr(ligand, "hidden", 0),
                                                 dtype=ref.dtype).to(ref.device)

    @property
    def stochastic(self) -> bool:
        """The SDE samples; the ODE is deterministic."""
        return self.solver == "sde"

    @property
    def learns_equilibrium(self) -> bool:
        """With fluctuation-dissipation the model samples ``exp(-U / kT)``: F / kT is its score."""
        return self.noise == "fdt"

    @property
    def observes_history(self) -> bool:
        """With ``history_prior`` the model reads the snapshots before each start."""
        return self.history_prior

    def learned_force(self, data, x: Tensor, protein=None) -> Tensor:
        """(N, 3) the force field's force at x, times the learned gate with ``gate_learned_force``."""
        force = self.force_field(data, x, protein=protein)
        return force if self.force_gate is None else self.force_gate * force

    def prior(self, data, start: Tensor, *, kT: Tensor | None = None) -> Callable[[Tensor], Tensor] | None:
        """The history well of ``data``'s snapshots 0..start (N,) as a force, or None without one;
        at ``kT`` (default: the learned one)."""
        if not self.history_prior:
            return None
        kT = self.langevin.kT if kT is None else kT
        reference = reference_poses(data)
        batch, num = ligand_batch(data)
        if self.cage_drift is not None and reference is not None:
            # the centre drifts at its own speed in snapshot intervals, whatever the dynamics' time scale
            return DriftingWell(data["ligand"].pos, start, kT, floor=self.prior_floor, shape=self.prior_shape,
                                reference=reference, drift_time=self.cage_drift * self.time_scale)
        if self.local_well_weight is not None and reference is not None:
            well = mixture_well(data["ligand"].pos, start, kT, floor=self.prior_floor, shape=self.prior_shape,
                                reference=reference, local_weight=self.local_well_weight, batch=batch, num=num)
        else:
            well = history_well(data["ligand"].pos, start, kT, floor=self.prior_floor, shape=self.prior_shape,
                                reference=reference)
        if self.centroid_confinement == 1.0:
            return well
        return loosen_centroid(well, mass=data["ligand"].mass, batch=batch, num=num,
                               confinement=self.centroid_confinement)

    @property
    def noise_scale(self) -> Tensor | None:
        """The learned sigma of the paper's rank-1 SDE noise (None otherwise)."""
        return None if self.log_noise_scale is None else self.log_noise_scale.exp()

    def coefficients(self, data, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """Per-atom Langevin friction gamma (N, 1) and noise amplitude sigma (N, 1) at x (N, 3).

        Either is None when off (no friction; the paper's rank-1 noise, whose scale is
        :attr:`noise_scale`). The velocity noise of atom i has amplitude ``sigma_i / sqrt(m_i)``.
        """
        if self.langevin is None:
            return None, None
        batch, _ = ligand_batch(data)
        return self.langevin(data["ligand"].z, x, batch)

    def dynamics(self, data, prior: Callable[[Tensor], Tensor] | None = None) -> SecondOrderDynamics:
        """The Eq. 14 function for ``data``, with the protein encoded here, once; ``prior``: a
        fixed force added to the learned one (:meth:`prior`)."""
        protein = self.protein_encoding(data)
        friction = None
        if self.langevin is not None and self.langevin.has_friction:
            friction = lambda x: self.coefficients(data, x)[0]  # noqa: E731
        return SecondOrderDynamics(self.learned_force, data, protein, data["ligand"].mass,
                                   velocity_refinement=self.velocity_refinement, refiner=self.refiner,
                                   friction=friction, prior=prior)

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None, *, start: Tensor | None = None) -> Tensor:
        """(T, N, 3) positions at relative times (T,) in snapshot intervals from x0, v0 (N, 3);
        ``start`` (N,): each atom's start snapshot, needed with ``history_prior``."""
        v0, func = self._start_state(data, x0, v0, start)
        if self.time_scale != 1.0:  # snapshot intervals -> the dynamics' own time units
            times = times * self.time_scale
        if times.numel() == 1:
            return x0.unsqueeze(0)
        return INTEGRATORS[self.solver][self.method].integrate(self, func, data, x0, v0, times, generator)

    def _start_state(self, data, x0: Tensor, v0: Tensor, start: Tensor | None) -> tuple[Tensor, SecondOrderDynamics]:
        """What :meth:`predict` and :meth:`transition` start from: ``v0`` in the dynamics' own time
        units (divided by ``time_scale``), through the velocity map when there is one, and the
        dynamics function with the history well of the snapshots before ``start``."""
        if self.history_prior and start is None:
            raise ValueError("history_prior reads the snapshots before the start: pass start= (N,)")
        if self.time_scale != 1.0:
            v0 = v0 / self.time_scale
        if self.velocity_mapper is not None:
            v0 = map_initial_velocity(self.velocity_mapper, data, x0, v0)
        return v0, self.dynamics(data, self.prior(data, start))

    @property
    def has_gaussian_transition(self) -> bool:
        """Langevin NeuralMD with full-rank noise and no velocity refinement (:meth:`transition`)."""
        return (self.stochastic and self.langevin is not None and self.noise != "rank1"
                and self.velocity_refinement == 0.0)

    def transition(self, data, x0: Tensor, v0: Tensor, *, start: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean (N, 3) and per-coordinate variance (N, 1) of the positions one snapshot interval after
        ``x0`` (``v0`` and ``start`` as in :meth:`predict`): the model's Langevin dynamics solved
        exactly over the interval with the force held at its value at ``x0``
        (:func:`~neuralmd.dynamics._transition.langevin_transition`), a Gaussian. Needs
        ``solver="sde"`` with ``noise="full"`` or ``"fdt"`` and no velocity refinement."""
        if not self.has_gaussian_transition:  # (a refined velocity depends on the position along the step)
            raise ValueError("a Gaussian one-step transition needs solver='sde', noise='full' or 'fdt' and "
                             f"velocity_refinement=0 (got solver={self.solver!r}, noise={self.noise!r}, "
                             f"velocity_refinement={self.velocity_refinement})")
        if self.cage_drift is not None:
            raise ValueError("cage_drift moves the well during the interval, which the one-step transition "
                             "holds fixed: train with loss='energy'")
        v0, func = self._start_state(data, x0, v0, start)  # the interval is time_scale in the dynamics' units
        acceleration = func.acceleration(x0)
        gamma, sigma = self.coefficients(data, x0)
        diffusion = sigma.square() / data["ligand"].mass.unsqueeze(-1)  # b^2 of velocity_noise's columns
        return langevin_transition(x0, v0, acceleration, gamma, diffusion, self.time_scale)

    def transition_loss(self, data, generator: torch.Generator | None = None) -> Tensor:
        """Mean negative log-likelihood (nats per coordinate) of the snapshot after a random start per
        complex under :meth:`transition`: a proper score of the model's one-step distribution that
        trains the force, the friction, kT (or the noise) and the velocity map without a rollout."""
        x0, v0, targets, _, start = sample_windows(data, 1, generator)
        mean, var = self.transition(data, x0, v0, start=start)
        return gaussian_nll(targets[1], mean, var)

    def score_matching_loss(self, data, generator: torch.Generator | None = None) -> Tensor:
        """Denoising score matching of ``F / kT`` on ``score_snapshots`` random snapshots of every
        complex of ``data``, perturbed by ``score_noise`` Å (module ``_score``); kT detached.

        Needs ``noise="fdt"`` (the kT whose Boltzmann density the model samples). Batch-independent:
        a complex's snapshots and noise come from its own stream.
        """
        if not self.learns_equilibrium:
            return super().score_matching_loss(data, generator)
        x, eps, _ = perturbed_snapshots(data, snapshots=self.score_snapshots, noise=self.score_noise,
                                        generator=generator)
        copies = replicate(data, self.score_snapshots).to(x.device)
        kT = self.langevin.kT.detach()
        # every snapshot of a training record is seen: the well of all of them
        atoms, length = copies["ligand"].pos.shape[:2]
        seen = torch.full((atoms,), length - 1, device=x.device)
        func = self.dynamics(copies, self.prior(copies, seen, kT=kT))

        def scaled_force(y: Tensor) -> Tensor:
            return func.forces(y.reshape(-1, 3)).reshape(y.shape) / kT

        return denoising_score_loss(scaled_force, x, eps, noise=self.score_noise)

    def loss(self, data, window: int = 5, loss: str = "mae", generator: torch.Generator | None = None,
             *, samples: int | None = None) -> Tensor:
        """:meth:`DynamicsModel.loss`, plus ``score_weight`` times :meth:`score_matching_loss` on the
        same records when that weight is not 0 (and ``loss`` is not ``"score"`` itself)."""
        value = super().loss(data, window, loss, generator, samples=samples)
        if self.score_weight == 0.0 or loss == "score":
            return value
        return value + self.score_weight * self.score_matching_loss(data, generator)

    @property
    def noise_channels(self) -> int:
        """Brownian motions per atom: 1 for the paper's rank-1 noise, 3 for full rank."""
        return 1 if self.noise == "rank1" else 3

    def velocity_noise(self, data, x: Tensor, sigma: Tensor | None = None) -> Tensor:
        """(N, 3, c): the diffusion of v, mapping the atom's c Brownian channels to Å/interval^1.5.

        ``sigma`` (N, 1): the full-rank amplitude when the caller already has it.
        """
        batch, num = ligand_batch(data)
        inv_mass = 1.0 / data["ligand"].mass.unsqueeze(-1)
        if self.noise == "rank1":
            _, u = self.diffusion(data["ligand"].z, x, batch=batch)
            return (self.noise_scale * u * inv_mass).unsqueeze(-1)
        if sigma is None:
            _, sigma = self.coefficients(data, x)
        # Columns e_1, e_2, e_3 of each atom's frame: dW in the frame, rotated into the lab.
        frame_columns = atom_frames(x, batch, num).transpose(-1, -2)
        return (sigma * inv_mass.sqrt()).unsqueeze(-1) * frame_columns


def _check_langevin_options(solver: str, method: str, friction: float | None, noise: str,
                            coefficients: str, kT: float) -> float | None:
    """Validate the Langevin options; returns the friction, None when it is off."""
    if friction is not None and (isinstance(friction, bool) or not isinstance(friction, (int, float))):
        raise ValueError(f"friction must be a non-negative number or None, got {friction!r}")
    if friction is not None and friction < 0:
        raise ValueError(f"friction must be non-negative (None or 0: off), got {friction}")
    friction = float(friction) if friction else None
    if noise not in NOISE_FORMS:
        raise ValueError(f"noise must be one of {NOISE_FORMS}, got {noise!r}")
    if noise != "rank1" and solver != "sde":
        raise ValueError(f"noise={noise!r} needs solver='sde' (the ODE has no noise)")
    if noise == "fdt" and friction is None:
        raise ValueError("noise='fdt' ties the noise to the friction; set friction > 0")
    if coefficients not in COEFFICIENT_SOURCES:
        raise ValueError(f"coefficients must be one of {COEFFICIENT_SOURCES}, got {coefficients!r}")
    if not kT > 0:
        raise ValueError(f"kT must be positive, got {kT}")
    return friction


def _check_local_well_weight(history_prior: bool, weight: float | None) -> None:
    """``local_well_weight``: None, or a number in (0, 1) with the history well."""
    if check_local_well_weight(weight) is not None and not history_prior:
        raise ValueError("local_well_weight mixes two history wells: it needs history_prior=True")


def _check_cage_drift(drift: float | None, *, history_prior: bool, method: str, score_weight: float,
                      local_well_weight: float | None, confinement: float) -> None:
    """``cage_drift``: None, or a positive number of intervals with the history well under BAOAB
    (which moves the centre in its O part), alone among the well's other shapes."""
    if check_cage_drift(drift) is None:
        return
    if not history_prior:
        raise ValueError("cage_drift moves the centre of the history well: it needs history_prior=True")
    if method != "baoab":
        raise ValueError(f"cage_drift moves the well's centre in BAOAB's O part: it needs method='baoab', "
                         f"got {method!r}")
    if local_well_weight is not None or confinement != 1.0:
        raise ValueError("cage_drift is a well of its own: it does not combine with local_well_weight or "
                         "centroid_confinement below 1")
    if score_weight != 0.0:
        raise ValueError("cage_drift's well moves during a rollout; score matching fits a fixed one: "
                         "use score_weight=0")


def _check_centroid_confinement(history_prior: bool, confinement: float) -> None:
    """Validate ``centroid_confinement`` (see NeuralMD)."""
    if check_confinement(confinement) != 1 and not history_prior:
        raise ValueError("centroid_confinement below 1 loosens the history well: it needs history_prior=True")


def _check_prior_options(noise: str, history_prior: bool, floor: float, gate: bool, shape: str) -> None:
    """Validate the history-prior options (see NeuralMD)."""
    if shape not in WELL_SHAPES:
        raise ValueError(f"prior_shape must be one of {WELL_SHAPES}, got {shape!r}")
    if not isinstance(history_prior, bool):
        raise ValueError(f"history_prior must be True or False, got {history_prior!r}")
    if not isinstance(gate, bool):
        raise ValueError(f"gate_learned_force must be True or False, got {gate!r}")
    if gate and not history_prior:
        raise ValueError("gate_learned_force needs history_prior=True (a zero force with no prior does not move)")
    if history_prior and noise != "fdt":
        raise ValueError(f"history_prior needs noise='fdt' (the kT of the well's equilibrium), got noise={noise!r}")
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not floor > 0:
        raise ValueError(f"prior_floor must be a positive number of Å^2, got {floor!r}")


def _check_score_options(noise: str, weight: float, sigma: float, snapshots: int) -> None:
    """Validate the equilibrium score-matching options (see NeuralMD)."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
        raise ValueError(f"score_weight must be a non-negative number, got {weight!r}")
    if weight > 0 and noise != "fdt":
        raise ValueError(f"score_weight > 0 needs noise='fdt' (the kT of the equilibrium), got noise={noise!r}")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise ValueError(f"score_noise must be a positive number of Å, got {sigma!r}")
    if isinstance(snapshots, bool) or not isinstance(snapshots, int) or snapshots < 1:
        raise ValueError(f"score_snapshots must be a positive integer, got {snapshots!r}")
