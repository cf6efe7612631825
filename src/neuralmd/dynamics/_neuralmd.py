"""NeuralMD: BindingNet forces integrated as a second-order neural ODE or SDE (section 4.3)."""
from __future__ import annotations

import math

import torch
import torchdiffeq
import torchsde
from torch import Tensor, nn

from ._base import DynamicsModel, complex_ids, ligand_batch
from ._noise import ComplexBrownian, complex_seeds, draw_seed
from ._second_order import (LigandFactory, SecondOrderDynamics, default_ligand_factory,
                            map_initial_velocity)

ODE_METHODS = ("euler", "midpoint", "rk4", "dopri5")
#: Itô methods valid for NeuralMD's scalar-per-atom noise (torchsde "scalar" noise type).
SDE_METHODS = ("euler", "srk")
_FIXED_GRID = ("euler", "midpoint", "rk4")


class _LangevinSDE:
    """Data-driven Langevin dynamics (Eqs. 11, 37) in torchsde's layout.

    torchsde sees every ligand atom as one "batch" row with state ``[x, v]`` (6 channels) and one
    scalar Brownian motion ``W_i``: that is torchsde's ``scalar`` noise type, and it makes the
    diffusion (N, 6, 1) instead of the (1, 6N, N) dense matrix a ``general`` formulation over all
    atoms would need (1000 atoms: 6 thousand numbers instead of 6 million). The drift still couples
    all rows, since torchsde never assumes rows are independent.

        dx_i = v_i dt (+ refinement),
        dv_i = F_i(x) / m_i dt + sigma * u_i(x) / m_i dW_i,

    with ``u_i`` the equivariant vector of a BindingNet-Ligand and ``sigma`` learned. Following
    Eq. 37 (``m a = F + BindingNet-Ligand * eps``) the noise is divided by the mass like the force.
    """

    noise_type = "scalar"
    sde_type = "ito"

    def __init__(self, func: SecondOrderDynamics, diffusion: nn.Module, sigma: Tensor) -> None:
        self.func = func
        self.diffusion = diffusion
        self.sigma = sigma

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        dx, dv = self.func(t, (y[:, :3], y[:, 3:]))
        return torch.cat((dx, dv), dim=-1)

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        x = y[:, :3]
        _, u = self.diffusion(self.func.data["ligand"].z, x, batch=self.func.batch)
        dv = self.sigma * u * self.func.inv_mass
        return torch.cat((torch.zeros_like(dv), dv), dim=-1).unsqueeze(-1)


class NeuralMD(DynamicsModel):
    """NeuralMD ODE (Newtonian, Eq. 10) or SDE (Langevin, Eqs. 11 and 37) on a BindingNet.

    Args:
        force_field: ``BindingNet`` (or any module with ``encode_protein`` and
            ``forward(data, x, protein=...) -> (N, 3)``).
        solver: ``"ode"`` (torchdiffeq) or ``"sde"`` (torchsde, Itô).
        method: ODE: ``euler``, ``midpoint``, ``rk4`` (default), ``dopri5``; SDE: ``euler``
            (Euler-Maruyama, default) or ``srk`` (strong order 1.5 for scalar noise).
        step_size: solver step in snapshot intervals (paper: 0.25, 0.5, 1); ignored by dopri5.
        adjoint: ODE only; backpropagate with ``odeint_adjoint`` (memory O(1) in the steps).
        velocity_mapping: map the finite-difference initial velocity through a BindingNet-Ligand.
        velocity_refinement: alpha of ``dx/dt = v + alpha * BindingNet-Ligand(x)`` (0, 0.01, 0.001).
        noise_scale: initial sigma of the SDE diffusion (learned, kept positive through its log).
        rtol, atol: dopri5 tolerances. The default ``rtol=0`` keeps the step-size control
            equivariant: torchdiffeq scales each coordinate's error by ``atol + rtol * |y|``,
            which depends on the orientation and origin unless rtol is 0 (then only the RMS error
            in Å, a rotation invariant, decides). Adaptive steps are shared by the whole batch, so
            dopri5 rollouts are batch-independent only up to the tolerance.
        ligand_factory: builds the extra BindingNet-Ligand modules (mapping, refinement, diffusion);
            default: ``BindingNetLigand`` sized like the force field.
        cache_protein: encode the rigid protein once per rollout (True) or at every evaluation.

    Example:
        >>> model = NeuralMD(BindingNet(), solver="sde", method="euler", step_size=0.5)  # doctest: +SKIP
        >>> traj = model.rollout(data, torch.arange(10, 20))  # (10, N_l, 3)  # doctest: +SKIP
    """

    def __init__(self, force_field: nn.Module, solver: str = "ode", method: str | None = None,
                 step_size: float = 0.5, adjoint: bool = False, velocity_mapping: bool = False,
                 velocity_refinement: float = 0.0, noise_scale: float = 0.1, rtol: float = 0.0,
                 atol: float = 1e-4, ligand_factory: LigandFactory | None = None,
                 cache_protein: bool = True) -> None:
        super().__init__()
        if solver not in ("ode", "sde"):
            raise ValueError(f"solver must be 'ode' or 'sde', got {solver!r}")
        method = method or ("rk4" if solver == "ode" else "euler")
        valid = ODE_METHODS if solver == "ode" else SDE_METHODS
        if method not in valid:
            raise ValueError(f"method {method!r} is not valid for solver {solver!r}; use one of {valid}")
        if adjoint and solver == "sde":
            raise ValueError("adjoint=True is supported for solver='ode' only")
        if step_size <= 0:
            raise ValueError(f"step_size must be positive, got {step_size}")
        if noise_scale <= 0:
            raise ValueError(f"noise_scale must be positive, got {noise_scale}")
        self.force_field = force_field
        self.solver, self.method, self.step_size, self.adjoint = solver, method, float(step_size), adjoint
        self.rtol, self.atol = rtol, atol
        self.velocity_refinement = float(velocity_refinement)
        self.cache_protein = cache_protein
        factory = ligand_factory or default_ligand_factory(force_field)
        self.velocity_mapper = factory() if velocity_mapping else None
        self.refiner = factory() if self.velocity_refinement != 0.0 else None
        if solver == "sde":
            self.diffusion = factory()
            ref = next(force_field.parameters(), torch.empty(()))
            self.log_noise_scale = nn.Parameter(torch.tensor(math.log(noise_scale), dtype=ref.dtype,
                                                             device=ref.device))
        else:
            self.diffusion, self.log_noise_scale = None, None

    @property
    def stochastic(self) -> bool:
        """The SDE samples; the ODE is deterministic."""
        return self.solver == "sde"

    @property
    def noise_scale(self) -> Tensor | None:
        """The learned SDE noise scale sigma (None for the ODE)."""
        return None if self.log_noise_scale is None else self.log_noise_scale.exp()

    def dynamics(self, data) -> SecondOrderDynamics:
        """The Eq. 14 function for ``data``, with the protein encoded here, once."""
        protein = self.force_field.encode_protein(data) if self.cache_protein else None
        return SecondOrderDynamics(self.force_field, data, protein, data["ligand"].mass,
                                   self.velocity_refinement, self.refiner)

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """(T, N, 3) positions at relative times (T,) in snapshot intervals from x0, v0 (N, 3)."""
        if self.velocity_mapper is not None:
            v0 = map_initial_velocity(self.velocity_mapper, data, x0, v0)
        func = self.dynamics(data)
        if times.numel() == 1:
            return x0.unsqueeze(0)
        if self.solver == "ode":
            return self._integrate_ode(func, x0, v0, times)
        return self._integrate_sde(func, data, x0, v0, times, generator)

    def _integrate_ode(self, func: SecondOrderDynamics, x0: Tensor, v0: Tensor, times: Tensor) -> Tensor:
        if self.method in _FIXED_GRID:
            kwargs = dict(method=self.method, options={"step_size": self.step_size})
        else:
            kwargs = dict(method=self.method, rtol=self.rtol, atol=self.atol)
        if self.adjoint:
            params = tuple(p for p in self.parameters() if p.requires_grad)
            xs, _ = torchdiffeq.odeint_adjoint(func, (x0, v0), times, adjoint_params=params, **kwargs)
        else:
            xs, _ = torchdiffeq.odeint(func, (x0, v0), times, **kwargs)
        return xs

    def _integrate_sde(self, func: SecondOrderDynamics, data, x0: Tensor, v0: Tensor, times: Tensor,
                       generator: torch.Generator | None) -> Tensor:
        batch, num = ligand_batch(data)
        seeds = complex_seeds(draw_seed(generator), complex_ids(data, num))
        counts = torch.bincount(batch, minlength=num).tolist()
        levy = "space-time" if self.method == "srk" else "none"
        bm = ComplexBrownian(float(times[0]), float(times[-1]), seeds, counts, x0.dtype, x0.device, levy)
        sde = _LangevinSDE(func, self.diffusion, self.noise_scale)
        y0 = torch.cat((x0, v0), dim=-1)
        ys = torchsde.sdeint(sde, y0, times, bm=bm, method=self.method, dt=self.step_size)
        return ys[..., :3]
