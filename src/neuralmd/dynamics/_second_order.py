"""The augmented second-order dynamics function of NeuralMD (paper Eq. 14, section 4.3)."""
from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

from .._format import ligand_batch


class SecondOrderDynamics:
    """``f(t, (x, v)) -> (dx/dt, dv/dt) = (v [+ alpha * refiner(x)], F(x) / m [- gamma(x) v])`` (Eq. 14).

    A plain callable in the torchdiffeq style: it holds the record, the protein encoding (computed
    once by the caller, since the protein is rigid) and the force field, and is evaluated by the
    solver as often as it likes.

    Units: x in Å, v in Å per snapshot interval, t in snapshot intervals, m in amu. Forces are
    learned in arbitrary units, so ``F / m`` is an acceleration in Å per interval^2 up to a scale
    the force field absorbs; dividing by the mass keeps heavy atoms slower for the same force.

    Args:
        force_field: a BindingNet-like module (or any callable),
            ``force_field(data, x, protein=enc) -> (N, 3)``.
        data: the record (or batch) the ligand belongs to.
        protein: the ``ProteinEncoding`` of ``data``; ``None`` lets the force field encode the
            protein at every evaluation (only useful to measure what caching saves).
        mass: (N,) masses in amu.
        velocity_refinement: alpha in ``v + alpha * refiner(z, x)`` (paper: 0, 0.01 or 0.001).
        refiner: a BindingNet-Ligand-like module ``refiner(z, x, batch=...) -> (h, vec)``;
            required when ``velocity_refinement != 0``.
        friction: ``x -> gamma (N, 1)``, a non-negative invariant friction in 1 / interval that
            adds ``-gamma v`` to dv/dt (Langevin NeuralMD); None (the paper) adds nothing.
        prior: ``x -> (N, 3)`` a fixed force added to the learned one (the history well of
            ``NeuralMD(history_prior=True)``); None adds nothing.

    Example:
        >>> import torch
        >>> from neuralmd.data import synthetic_trajectories
        >>> from neuralmd.layers import BindingNet
        >>> data = synthetic_trajectories(1, seed=0, n_snapshots=4)[0]
        >>> net = BindingNet(hidden=8, num_layers=1)
        >>> f = SecondOrderDynamics(net, data, net.encode_protein(data), data["ligand"].mass)
        >>> x = data["ligand"].pos[:, 0]
        >>> dx, dv = f(0.0, (x, torch.zeros_like(x)))   # dx/dt = v, dv/dt = F / m
        >>> dx.shape == dv.shape == x.shape, bool(dx.abs().max() == 0)
        (True, True)
    """

    def __init__(self, force_field: Callable[..., Tensor], data, protein, mass: Tensor, *,
                 velocity_refinement: float = 0.0, refiner: nn.Module | None = None,
                 friction: Callable[[Tensor], Tensor] | None = None,
                 prior: Callable[[Tensor], Tensor] | None = None) -> None:
        if velocity_refinement != 0.0 and refiner is None:
            raise ValueError("velocity_refinement != 0 needs a refiner (a BindingNet-Ligand)")
        self.force_field = force_field
        self.data = data
        self.protein = protein
        self.inv_mass = (1.0 / mass).unsqueeze(-1)
        self.velocity_refinement = float(velocity_refinement)
        self.refiner = refiner
        self.friction = friction
        self.prior = prior
        self.batch, self.num_complexes = ligand_batch(data)
        self.nfe = 0

    def forces(self, x: Tensor) -> Tensor:
        """(N, 3) forces on the ligand atoms at positions x (N, 3)."""
        learned = self.force_field(self.data, x, protein=self.protein)
        return learned if self.prior is None else learned + self.prior(x)

    def acceleration(self, x: Tensor) -> Tensor:
        """(N, 3) ``F / m``."""
        return self.forces(x) * self.inv_mass

    def velocity(self, x: Tensor, v: Tensor) -> Tensor:
        """dx/dt: the state's velocity, refined by ``alpha * BindingNet-Ligand(x)`` when alpha != 0."""
        if self.velocity_refinement == 0.0:
            return v
        _, vec = self.refiner(self.data["ligand"].z, x, batch=self.batch)
        return v + self.velocity_refinement * vec

    def __call__(self, t: Tensor | float, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        self.nfe += 1
        x, v = state
        if self.friction is None:
            return self.velocity(x, v), self.acceleration(x)
        return self.velocity(x, v), self.acceleration(x) - self.friction(x) * v


def map_initial_velocity(mapper: nn.Module, data, x: Tensor, v: Tensor) -> Tensor:
    """Surrogate initial velocity ``BindingNet-Ligand(z, x_t, vec=x_t - x_{t-1})`` (section 4.3).

    Args:
        mapper: BindingNet-Ligand-like module returning ``(h, vec)``; its ``vec`` output is used.
        x: (N, 3) positions; v: (N, 3) finite-difference velocity.

    Returns:
        (N, 3) equivariant velocity.
    """
    batch, _ = ligand_batch(data)
    _, vec = mapper(data["ligand"].z, x, batch=batch, vec=v)
    return vec


LigandFactory = Callable[[], nn.Module]


#: What a force field must tell :func:`default_ligand_factory` (``BindingNet`` has all three).
LIGAND_SIZES = ("hidden", "num_layers", "cutoff")


def default_ligand_factory(force_field: nn.Module) -> LigandFactory:
    """A factory of BindingNet-Ligand modules sized like ``force_field``: its ``hidden``,
    ``num_layers`` and ``cutoff``, on its dtype and device. A force field without those sizes
    needs its own ``ligand_factory``; the error says so when a model first builds an extra module."""

    def build() -> nn.Module:
        from neuralmd.layers import BindingNetLigand  # imported late: layers is optional at import

        missing = [name for name in LIGAND_SIZES if not hasattr(force_field, name)]
        if missing:
            raise ValueError(f"{type(force_field).__name__} has no {', '.join(missing)} to size the extra "
                             "BindingNet-Ligand modules by; pass ligand_factory=... to the model")
        module = BindingNetLigand(force_field.hidden, force_field.num_layers, force_field.cutoff)
        ref = next(force_field.parameters(), None)
        return module if ref is None else module.to(dtype=ref.dtype, device=ref.device)

    return build
