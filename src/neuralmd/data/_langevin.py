"""A toy force field and Langevin integrator for a flexible ligand in a rigid pocket.

Energy terms (kcal/mol): harmonic springs that hold the ligand's covalent geometry (bonds, 1-3
"angle" distances, all distances inside a ring, weak 1-4 "torsion" distances), a soft repulsion
between other ligand atom pairs, a Lennard-Jones 12-6 wall between ligand atoms and the pocket's
sites, and a flat-bottomed restraint on the ligand centroid (without it, the solvent and the rest
of the protein, which the toy leaves out, would let the ligand wander off). Units: Å, amu, ps; forces are converted from kcal/mol/Å.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._tables import covalent_radius

KCAL_TO_AMU_A2_PS2 = 418.4  # 1 kcal/mol in amu Å^2 / ps^2
BOLTZMANN_KCAL = 0.0019872  # kcal/mol/K
_LJ_SIGMA, _LJ_EPS = 3.4, 0.12  # Å, kcal/mol per ligand-site pair: a carbon-like contact
_REPULSION_RANGE, _REPULSION_K = 3.0, 20.0  # Å, kcal/mol/Å^2 between non-bonded ligand atoms
_MAX_FORCE = 200.0  # kcal/mol/Å; caps the LJ core so one unlucky step cannot explode


def perceive_bonds(z: np.ndarray, pos: np.ndarray, tolerance: float = 1.2) -> np.ndarray:
    """Covalent bonds (B, 2) of a molecule: atom pairs closer than ``tolerance`` x the sum of radii."""
    r = np.array([covalent_radius(int(a)) for a in z])
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    i, j = np.nonzero(np.triu(d < tolerance * (r[:, None] + r[None]), k=1))
    return np.stack([i, j], axis=1)


@dataclass
class LigandForceField:
    """Springs and exclusions of one ligand, built from a reference geometry (N_l, 3) Å."""

    pairs: np.ndarray  # (P, 2) spring atom pairs
    r0: np.ndarray  # (P,) rest lengths, Å
    k: np.ndarray  # (P,) spring constants, kcal/mol/Å^2
    free: np.ndarray  # (Q, 2) non-bonded pairs that only repel
    n_atoms: int

    def __post_init__(self) -> None:
        self.spring_incidence = _incidence(self.pairs, self.n_atoms)
        self.free_incidence = _incidence(self.free, self.n_atoms)

    @classmethod
    def from_geometry(cls, pos: np.ndarray, bonds: np.ndarray, rings: list[list[int]] = (),
                      k_bond: float = 150.0, k_angle: float = 50.0,
                      k_torsion: float = 8.0) -> "LigandForceField":
        n = len(pos)
        adj = np.zeros((n, n), dtype=bool)
        adj[bonds[:, 0], bonds[:, 1]] = adj[bonds[:, 1], bonds[:, 0]] = True
        a = adj.astype(int)
        two = (a @ a > 0) & ~adj & ~np.eye(n, dtype=bool)
        # weak 1-4 springs stand in for torsion barriers: substituents flex but do not spin freely
        three = (a @ a @ a > 0) & ~two & ~adj & ~np.eye(n, dtype=bool)
        ring = np.zeros_like(adj)
        for members in rings:  # every distance inside a ring: keeps it flat without dihedral terms
            ring[np.ix_(members, members)] = True
        spring_k = np.where(adj, k_bond, np.where(two | ring, k_angle, np.where(three, k_torsion, 0.0)))
        i, j = np.nonzero(np.triu(spring_k > 0, k=1))
        fi, fj = np.nonzero(np.triu(spring_k == 0, k=1))
        r0 = np.linalg.norm(pos[i] - pos[j], axis=-1)
        return cls(np.stack([i, j], 1), r0, spring_k[i, j], np.stack([fi, fj], 1), n)


def _pair_forces(x: np.ndarray, pairs: np.ndarray, incidence: np.ndarray, magnitude) -> np.ndarray:
    """Forces (N, 3) from pair terms; ``magnitude(r)`` is -dE/dr per pair (positive pushes apart).

    ``incidence`` (P, N) holds +1 at a pair's first atom and -1 at its second, so scattering the
    pair forces back onto atoms is one small matrix product (much faster than ``np.add.at``).
    """
    if len(pairs) == 0:
        return np.zeros_like(x)
    d = x[pairs[:, 0]] - x[pairs[:, 1]]
    r = np.sqrt(np.einsum("pi,pi->p", d, d)) + 1e-9
    return incidence.T @ ((magnitude(r) / r)[:, None] * d)


def _incidence(pairs: np.ndarray, n: int) -> np.ndarray:
    inc = np.zeros((len(pairs), n))
    inc[np.arange(len(pairs)), pairs[:, 0]] = 1.0
    inc[np.arange(len(pairs)), pairs[:, 1]] = -1.0
    return inc


def contact_sigma6(x0: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Lennard-Jones sigma^6 (N_l, S) per ligand-site pair, shrunk where the starting pose is closer.

    A crystal pose has contacts (hydrogen bonds, hydrogens against a protein without hydrogens)
    closer than a generic sigma allows; shrinking sigma so that each such contact starts at the LJ
    minimum treats the start as physically valid instead of blasting it apart.
    """
    d0 = np.linalg.norm(x0[:, None] - sites[None], axis=-1)
    return np.minimum(_LJ_SIGMA, d0 / 2.0 ** (1.0 / 6.0)) ** 6


def forces(x: np.ndarray, ff: LigandForceField, sites: np.ndarray, sigma6: np.ndarray, center: np.ndarray,
           free_radius: float, *, k_center: float = 5.0) -> np.ndarray:
    """Total force (N_l, 3) on the ligand atoms, kcal/mol/Å; ``sigma6`` from ``contact_sigma6``."""
    f = _pair_forces(x, ff.pairs, ff.spring_incidence, lambda r: -ff.k * (r - ff.r0))
    f += _pair_forces(x, ff.free, ff.free_incidence,
                      lambda r: _REPULSION_K * np.clip(_REPULSION_RANGE - r, 0.0, None))
    if len(sites):
        # sum_j m_ij (x_i - s_j) = x_i sum_j m_ij - (m @ s)_i: no (N_l, S, 3) temporary
        r2 = np.maximum((x * x).sum(1)[:, None] + (sites * sites).sum(1)[None] - 2.0 * x @ sites.T, 1.0)
        s6 = sigma6 / (r2 * r2 * r2)
        mag = 24.0 * _LJ_EPS * (2.0 * s6 * s6 - s6) / r2  # -dE/dr / r
        f += mag.sum(1)[:, None] * x - mag @ sites
    off = x.mean(0) - center
    dist = np.linalg.norm(off)
    if dist > free_radius:
        f -= k_center * (dist - free_radius) * off / dist / len(x)
    norm = np.linalg.norm(f, axis=-1, keepdims=True)
    return f * np.minimum(1.0, _MAX_FORCE / np.maximum(norm, 1e-9))


def langevin(x0: np.ndarray, mass: np.ndarray, ff: LigandForceField, sites: np.ndarray, center: np.ndarray,
             free_radius: float, *, rng: np.random.Generator, n_snapshots: int, steps_per_snapshot: int,
             dt_ps: float, temperature: float = 300.0, friction: float = 5.0,
             velocity: np.ndarray | None = None, reference: np.ndarray | None = None,
             return_velocity: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Integrate with BAOAB Langevin dynamics; return snapshots (T, N_l, 3), the first being ``x0``.

    Velocities start from the Maxwell-Boltzmann distribution at ``temperature`` (K), or at
    ``velocity`` (N_l, 3) Å/ps when given (then nothing is drawn for them); ``friction`` is the
    collision rate in 1/ps. ``reference`` (default ``x0``): the pose whose contacts set the
    Lennard-Jones sigmas (``contact_sigma6``), so that a trajectory continued from a later state
    keeps the force field it started with. ``return_velocity``: also return the last velocities.
    """
    kt = BOLTZMANN_KCAL * temperature * KCAL_TO_AMU_A2_PS2
    inv_m = 1.0 / mass[:, None]
    sigma_v = np.sqrt(kt * inv_m)
    c1 = np.exp(-friction * dt_ps)
    c2 = np.sqrt(1.0 - c1 * c1) * sigma_v
    x = x0.astype(np.float64).copy()
    sigma6 = contact_sigma6(x if reference is None else np.asarray(reference, dtype=np.float64), sites)
    v = rng.standard_normal(x.shape) * sigma_v if velocity is None else np.array(velocity, dtype=np.float64)
    a = forces(x, ff, sites, sigma6, center, free_radius) * KCAL_TO_AMU_A2_PS2 * inv_m
    out = np.empty((n_snapshots,) + x.shape)
    out[0] = x
    for t in range(1, n_snapshots):
        for _ in range(steps_per_snapshot):
            v += 0.5 * dt_ps * a
            x += 0.5 * dt_ps * v
            v = c1 * v + c2 * rng.standard_normal(x.shape)
            x += 0.5 * dt_ps * v
            a = forces(x, ff, sites, sigma6, center, free_radius) * KCAL_TO_AMU_A2_PS2 * inv_m
            v += 0.5 * dt_ps * a
        out[t] = x
    return (out, v) if return_velocity else out
