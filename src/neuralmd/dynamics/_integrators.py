"""NeuralMD's integrators as data: one registry keyed by solver and method (torchdiffeq's ``SOLVERS``).

An entry says how to integrate Eq. 14 from (x0, v0) over relative times, which NeuralMD options only
it reads (with their defaults), and what it cannot do. Adding an integrator is adding one entry;
``NeuralMD`` validates its options against the entry and calls ``integrate``:

>>> sorted(INTEGRATORS["ode"]), DEFAULT_METHODS
(['dopri5', 'euler', 'midpoint', 'rk4'], {'ode': 'rk4', 'sde': 'euler'})
>>> INTEGRATORS["ode"]["dopri5"].options
{'rtol': 0.0, 'atol': 0.0001}
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
import torchdiffeq
import torchsde
from torch import Tensor

from .._format import ligand_batch
from ._langevin import baoab
from ._noise import ComplexBrownian, call_seeds, complex_noise, equivariant_noise

#: ``integrate(model, func, data, x0, v0, times, generator) -> (T, N, 3)`` positions at ``times``:
#: ``model`` the NeuralMD (its step size, method, noise and options), ``func`` its Eq. 14
#: ``SecondOrderDynamics`` for ``data``. (Not imported here: ``_neuralmd`` imports this module.)
Integrate = Callable[[Any, Any, Any, Tensor, Tensor, Tensor, "torch.Generator | None"], Tensor]


@dataclass(frozen=True)
class Integrator:
    """One way to integrate NeuralMD.

    Attributes:
        integrate: the integration itself (see ``Integrate``).
        options: NeuralMD options only this integrator reads, name -> default (dopri5's
            tolerances); passing one to another integrator is an error.
        adjoint: whether ``adjoint=True`` (torchdiffeq's O(1)-memory backward pass) applies.
        rank1_noise_only: the method needs the paper's rank-1 noise (torchsde's SRK).
    """

    integrate: Integrate
    options: Mapping[str, float] = field(default_factory=dict)
    adjoint: bool = False
    rank1_noise_only: bool = False


def _odeint(model: Any, func: Any, x0: Tensor, v0: Tensor, times: Tensor,
            **kwargs) -> Tensor:
    if model.adjoint:
        params = tuple(p for p in model.parameters() if p.requires_grad)
        xs, _ = torchdiffeq.odeint_adjoint(func, (x0, v0), times, adjoint_params=params, method=model.method, **kwargs)
    else:
        xs, _ = torchdiffeq.odeint(func, (x0, v0), times, method=model.method, **kwargs)
    return xs


def _fixed_grid_ode(model, func, data, x0, v0, times, generator) -> Tensor:
    """torchdiffeq's fixed-grid methods with step ``model.step_size``; without the adjoint, where
    every requested time is a grid point, by :func:`_grid_positions` (the same positions, the last
    step's unused force evaluation left out)."""
    if not model.adjoint and times.shape[0] > 1:
        grid = _step_grid(times, model.step_size)
        if bool(torch.isin(times, grid).all()):
            return _grid_positions(x0, v0, times, grid, functools.partial(_POSITION_STEPS[model.method], func))
    return _odeint(model, func, x0, v0, times, options={"step_size": model.step_size})


def _step_grid(times: Tensor, step_size: float) -> Tensor:
    """The grid torchdiffeq's fixed-grid solvers step along: ``times[0] + k * step_size``, its
    last point moved onto ``times[-1]`` (same arithmetic, so the same floats)."""
    count = int(torch.ceil((times[-1] - times[0]) / step_size + 1).item())
    grid = torch.arange(0, count, dtype=times.dtype, device=times.device) * step_size + times[0]
    grid[-1] = times[-1]
    return grid


def _euler_step(func, t0, t1, x, v, last):
    dt = t1 - t0
    if last:
        return x + dt * func.velocity(x, v), None
    dx, dv = func(t0, (x, v))
    return x + dt * dx, v + dt * dv


def _midpoint_step(func, t0, t1, x, v, last):
    dt = t1 - t0
    half_dt = 0.5 * dt
    dx, dv = func(t0, (x, v))
    x_mid, v_mid = x + dx * half_dt, v + dv * half_dt
    if last:
        return x + dt * func.velocity(x_mid, v_mid), None
    dx, dv = func(t0 + half_dt, (x_mid, v_mid))
    return x + dt * dx, v + dt * dv


def _rk4_step(func, t0, t1, x, v, last):
    # torchdiffeq's rk4: the 3/8 rule (rk_common.rk4_alt_step_func), term by term
    dt = t1 - t0
    third, two_thirds = 1 / 3, 2 / 3
    k1x, k1v = func(t0, (x, v))
    k2x, k2v = func(t0 + dt * third, (x + dt * k1x * third, v + dt * k1v * third))
    k3x, k3v = func(t0 + dt * two_thirds, (x + dt * (k2x - k1x * third), v + dt * (k2v - k1v * third)))
    x4, v4 = x + dt * (k1x - k2x + k3x), v + dt * (k1v - k2v + k3v)
    if last:
        return x + (k1x + 3 * (k2x + k3x) + func.velocity(x4, v4)) * dt * 0.125, None
    k4x, k4v = func(t1, (x4, v4))
    return x + (k1x + 3 * (k2x + k3x) + k4x) * dt * 0.125, v + (k1v + 3 * (k2v + k3v) + k4v) * dt * 0.125


#: One step of each fixed-grid method on (x, v): ``step(func, t0, t1, x, v, last) -> (x, v)``; on
#: the ``last`` step only x (v is None), with no force evaluation that only the final v would use.
_POSITION_STEPS = {"euler": _euler_step, "midpoint": _midpoint_step, "rk4": _rk4_step}


def _grid_positions(x0: Tensor, v0: Tensor, times: Tensor, grid: Sequence[Tensor], step: Callable) -> Tensor:
    """(T, N, 3) positions at ``times`` (each a point of ``grid``) by ``step(t0, t1, x, v, last)``
    from grid point to grid point, the ``last`` step moving x only (v None). A solver's steps bit for
    bit (torchdiffeq's fixed-grid methods, torchsde's Euler-Maruyama) without what would move only
    the final velocity, which no caller reads: torchdiffeq, integrating x and v flattened into one
    tensor, computed those accelerations and ran their backward on zero gradients (a training
    window of W snapshots at step 1/2: one force evaluation in 2W with Euler, 4W with midpoint, 8W
    with RK4, forward and backward)."""
    xs, x, v = [x0], x0, v0
    wanted, last = 1, len(grid) - 2
    for k in range(len(grid) - 1):
        x, v = step(grid[k], grid[k + 1], x, v, k == last)
        while wanted < times.shape[0] and grid[k + 1] >= times[wanted]:
            xs.append(x)
            wanted += 1
    return torch.stack(xs)


def _adaptive_ode(model, func, data, x0, v0, times, generator) -> Tensor:
    """torchdiffeq's dopri5 with the model's ``rtol`` and ``atol`` (``model.solver_options``)."""
    return _odeint(model, func, x0, v0, times, **model.solver_options)


class _LangevinSDE:
    """Data-driven Langevin dynamics (Eqs. 11, 37) in torchsde's layout.

    torchsde sees every ligand atom as one "batch" row with state ``[x, v]`` (6 channels) and
    ``c`` Brownian channels: ``c = 1`` for the paper's rank-1 noise (torchsde's ``scalar`` noise
    type), ``c = 3`` for the full-rank Langevin noise (``general``). The diffusion is then
    (N, 6, c) instead of the (1, 6N, cN) dense matrix a formulation over all atoms at once would
    need (1000 atoms: 18 thousand numbers instead of 18 million). The drift still couples all
    rows, since torchsde never assumes rows are independent.

        dx_i = v_i dt (+ refinement),
        dv_i = (F_i(x) / m_i [- gamma_i v_i]) dt + B_i(x) dW_i,

    with ``B_i`` (3, c) from ``velocity_noise``: ``sigma u_i(x) / m_i`` in the paper's mode (Eq. 37,
    ``m a = F + BindingNet-Ligand * eps``, the noise divided by the mass like the force), or
    ``b_i R_i(x)^T`` with the atom's equivariant frame for full-rank noise.
    """

    sde_type = "ito"

    def __init__(self, func: Any, velocity_noise: Callable[[Tensor], Tensor],
                 channels: int) -> None:
        self.func = func
        self.velocity_noise = velocity_noise
        self.noise_type = "scalar" if channels == 1 else "general"

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        dx, dv = self.func(t, (y[:, :3], y[:, 3:]))
        return torch.cat((dx, dv), dim=-1)

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        dv = self.velocity_noise(y[:, :3])                  # (N, 3, c)
        return torch.cat((torch.zeros_like(dv), dv), dim=1)


def _torchsde(model, func, data, x0, v0, times, generator) -> Tensor:
    """torchsde's Itô Euler-Maruyama or SRK over per-complex Brownian motions (``_noise``)."""
    batch, num = ligand_batch(data)
    counts = torch.bincount(batch, minlength=num).tolist()
    levy = "space-time" if model.method == "srk" else "none"
    channels = model.noise_channels
    bm = ComplexBrownian(float(times[0]), float(times[-1]), call_seeds(data, generator), counts, dtype=x0.dtype,
                         device=x0.device, levy_area_approximation=levy, channels=channels)
    sde = _LangevinSDE(func, lambda x: model.velocity_noise(data, x), channels)
    if model.method == "euler":
        grid = _sde_grid(times, model.step_size)
        if bool(torch.isin(times, torch.stack(grid)).all()):
            return _grid_positions(x0, v0, times, grid, _euler_maruyama_step(sde, bm))
    ys = torchsde.sdeint(sde, torch.cat((x0, v0), dim=-1), times, bm=bm, method=model.method, dt=model.step_size)
    return ys[..., :3]


def _sde_grid(times: Tensor, step_size: float) -> list[Tensor]:
    """The times torchsde's fixed-step solvers step through: ``t + step_size`` from ``times[0]``,
    capped at ``times[-1]`` (the same additions, so the same floats)."""
    grid = [times[0]]
    while grid[-1] < times[-1]:
        grid.append(min(grid[-1] + step_size, times[-1]))
    return grid


def _euler_maruyama_step(sde: _LangevinSDE, bm: ComplexBrownian) -> Callable:
    """One step of torchsde's Itô Euler-Maruyama for :func:`_grid_positions`, bit for bit
    (``y + f dt + g dW`` on the state ``[x, v]``, the Brownian motion asked for the same increments
    in the same order), except on the last step, where drift and diffusion would move only the final
    velocity: x moves by dx/dt alone and no increment is drawn. torchsde also evaluates the drift
    and the diffusion once more at the start only to check their shapes; that is left out too. A
    training window of W snapshots at step 1/2 evaluates the force 2W - 1 times instead of 2W + 1,
    and the noise network 2W - 1 times instead of 2W + 1."""

    def step(t0: Tensor, t1: Tensor, x: Tensor, v: Tensor, last: bool) -> tuple[Tensor, Tensor | None]:
        dt = t1 - t0
        if last:
            return x + sde.func.velocity(x, v) * dt, None
        y = torch.cat((x, v), dim=-1)
        dw = bm(t0, t1)
        y = y + sde.f(t0, y) * dt + torch.bmm(sde.g(t0, y), dw.unsqueeze(-1)).squeeze(-1)
        return y[:, :3], y[:, 3:]

    return step


def _baoab(model, func, data, x0, v0, times, generator) -> Tensor:
    """The BAOAB splitting (``_langevin.baoab``), its kicks from per-complex Gaussian streams."""
    noise = complex_noise(data, generator, x0)
    channels = model.noise_channels

    def friction_and_kick(x: Tensor) -> tuple[Tensor | None, Tensor]:
        gamma, sigma = model.coefficients(data, x)
        kick = (model.velocity_noise(data, x, sigma) @ noise.sample(channels).unsqueeze(-1)).squeeze(-1)
        return gamma, kick

    advance = None
    if hasattr(func.prior, "advance"):       # a drifting well's centre moves in the O part
        batch, num = ligand_batch(data)

        def advance(h: float, x: Tensor) -> None:
            func.prior.advance(h, equivariant_noise(x, batch, num, noise.sample(3)))

    xs, _ = baoab(func.velocity, func.acceleration, friction_and_kick, x0, v0, times, step_size=model.step_size,
                  velocities=False, advance=advance)
    return xs


#: solver -> method -> integrator. ODE: torchdiffeq; SDE: torchsde's Itô Euler-Maruyama and SRK
#: (strong order 1.5, rank-1 noise only), and BAOAB.
INTEGRATORS: dict[str, dict[str, Integrator]] = {
    "ode": {
        "euler": Integrator(_fixed_grid_ode, adjoint=True),
        "midpoint": Integrator(_fixed_grid_ode, adjoint=True),
        "rk4": Integrator(_fixed_grid_ode, adjoint=True),
        # rtol = 0 keeps the step-size control equivariant (see NeuralMD's docstring).
        "dopri5": Integrator(_adaptive_ode, options={"rtol": 0.0, "atol": 1e-4}, adjoint=True),
    },
    "sde": {
        "euler": Integrator(_torchsde),
        "srk": Integrator(_torchsde, rank1_noise_only=True),
        "baoab": Integrator(_baoab),
    },
}
#: The method of each solver when NeuralMD is given none: defined here only.
DEFAULT_METHODS = {"ode": "rk4", "sde": "euler"}


def integrator(solver: str, method: str | None) -> tuple[str, Integrator]:
    """The method name (``DEFAULT_METHODS`` when None) and its entry; one ValueError otherwise."""
    if solver not in INTEGRATORS:
        raise ValueError(f"solver must be one of {tuple(INTEGRATORS)}, got {solver!r}")
    method = method or DEFAULT_METHODS[solver]
    if method not in INTEGRATORS[solver]:
        raise ValueError(f"method {method!r} is not valid for solver {solver!r}; use one of "
                         f"{tuple(INTEGRATORS[solver])}")
    return method, INTEGRATORS[solver][method]


def solver_options(solver: str, method: str, given: Mapping[str, float | None]) -> dict[str, float]:
    """The integrator's own options: its defaults, overridden by the ``given`` ones that are not
    None; an option given to an integrator that does not read it is a ValueError."""
    entry = INTEGRATORS[solver][method]
    for name, value in given.items():
        if value is not None and name not in entry.options:
            owners = [f"{s}/{m}" for s, methods in INTEGRATORS.items() for m, e in methods.items() if name in e.options]
            raise ValueError(f"{name} applies to {', '.join(owners)} only, not to {solver}/{method}")
    return {**entry.options, **{k: float(v) for k, v in given.items() if v is not None}}
