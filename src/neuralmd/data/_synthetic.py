"""``synthetic_trajectories``: toy protein-ligand binding dynamics, the bundled default data set.

Each trajectory is a random drug-like ligand (``_toy_ligand``) in a pocket of ideal backbone built
to fit it (``_toy_pocket``), simulated with Langevin dynamics in a toy force field (``_langevin``):
the ligand vibrates, rotates and drifts a little inside the pocket, as in a short MD run.
"""
from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import HeteroData

from ._langevin import LigandForceField, langevin, perceive_bonds
from ._record import make_record
from ._tables import RESIDUE_NAMES, atomic_masses
from ._toy_ligand import toy_ligand
from ._toy_pocket import beta_carbons, toy_pocket

_AMINO_ACIDS = np.array([i for i, r in enumerate(RESIDUE_NAMES) if r not in ("MOL", "ACE", "CYX", "UNK")])
_CLEARANCE = 3.8  # Å, closest approach of a pocket site to the ligand it is built around
_SITE_RANGE = 12.0  # Å, pocket sites farther than this from the starting ligand are left out
_HEAVY_H_MASS = 4.0  # amu; hydrogen mass repartitioning keeps X-H vibrations stable at a 4 fs step


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _wall_sites(backbone: np.ndarray, residue_type: np.ndarray) -> np.ndarray:
    """Backbone atoms plus C-beta (no C-beta for glycine): the pocket's repulsive/attractive sites."""
    cb = beta_carbons(backbone)[residue_type != RESIDUE_NAMES.index("GLY")]
    return np.concatenate([backbone.reshape(-1, 3), cb])


def simulate_binding(
    z: np.ndarray, pos: np.ndarray, sites: np.ndarray, seed: int | np.random.Generator = 0, *,
    n_snapshots: int = 100, steps_per_snapshot: int = 10, dt_fs: float = 4.0,
    temperature: float = 300.0, friction: float = 5.0, bonds: np.ndarray | None = None,
    rings: list[list[int]] = (), free_radius: float = 1.0, reference: np.ndarray | None = None,
    velocity: np.ndarray | None = None, return_velocity: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Langevin trajectory (N_l, T, 3) Å of a ligand in a rigid pocket, with the toy force field.

    Args:
        z: (N_l,) atomic numbers; pos: (N_l, 3) Å starting pose; sites: (S, 3) Å pocket atoms
            (Lennard-Jones walls).
        n_snapshots, steps_per_snapshot, dt_fs: T snapshots, ``steps_per_snapshot`` steps of
            ``dt_fs`` fs apart. temperature: K. friction: 1/ps.
        bonds: (B, 2) covalent bonds (perceived from covalent radii if None); rings: atom lists.
        free_radius: Å the ligand centroid may move from its start before a restraint acts.
        reference: (N_l, 3) Å the pose that defines the force field (rest geometry of the
            ligand's springs, pocket contacts, centre of the centroid restraint); default ``pos``.
            Pass the original start with a later ``pos`` and ``velocity`` to continue a trajectory.
        velocity: (N_l, 3) Å/ps starting velocities (default: drawn at ``temperature``).
        return_velocity: also return the last velocities (N_l, 3) Å/ps.

    Hydrogens move with 4 amu in the integrator (hydrogen mass repartitioning, as in MD codes)
    so that a 4 fs step stays stable; their positions are still recorded.
    """
    rng = np.random.default_rng(seed)
    z = np.asarray(z)
    ref = np.asarray(pos if reference is None else reference)
    bonds = perceive_bonds(z, ref) if bonds is None else np.asarray(bonds)
    ff = LigandForceField.from_geometry(ref, bonds.reshape(-1, 2), list(rings))
    sites = np.asarray(sites, dtype=np.float64)
    # the pocket is rigid and the ligand moves a few Å at most: far sites never matter
    sites = sites[np.linalg.norm(sites[:, None] - ref[None], axis=-1).min(1) < _SITE_RANGE]
    mass = np.maximum(atomic_masses(torch.as_tensor(z)).double().numpy(), _HEAVY_H_MASS)
    traj = langevin(pos, mass, ff, sites, ref.mean(0), free_radius, rng=rng, n_snapshots=n_snapshots,
                    steps_per_snapshot=steps_per_snapshot, dt_ps=dt_fs * 1e-3, temperature=temperature,
                    friction=friction, velocity=velocity, reference=ref, return_velocity=True)
    return (traj[0].transpose(1, 0, 2), traj[1]) if return_velocity else traj[0].transpose(1, 0, 2)


def toy_complex(index: int, seed: int, *, ligand_atoms: tuple[int, int], residues: tuple[int, int]) -> dict:
    """Everything of trajectory ``index`` of ``synthetic_trajectories(seed=seed)`` but its dynamics.

    Returns a dict: ``z``, ``bonds``, ``rings``, ``backbone``, ``chain``, ``residue_type``,
    ``start`` (N_l, 3) Å (the first snapshot), ``sites`` (the pocket atoms of the force field)
    and ``rng``, the generator whose next draws are the dynamics' (so that
    ``simulate_binding(..., seed=rng)`` reproduces the trajectory).
    """
    rng = np.random.default_rng([seed, index])
    z, lig, bonds, rings = toy_ligand(int(rng.integers(ligand_atoms[0], ligand_atoms[1] + 1)), rng)
    lig = lig @ _rotation(rng).T
    n_res = int(rng.integers(residues[0], residues[1] + 1))
    backbone, chain = toy_pocket(n_res, 1 + int(rng.random() < 0.5), lig, _CLEARANCE, rng)
    rtype = rng.choice(_AMINO_ACIDS, size=n_res)
    start = lig + rng.normal(0.0, 0.3, 3)  # slightly off its snug pose: the ligand settles
    return {"z": z, "bonds": bonds, "rings": rings, "backbone": backbone, "chain": chain, "residue_type": rtype,
            "start": start, "sites": _wall_sites(backbone, rtype), "rng": rng}


def _one(index: int, seed: int, *, n_snapshots: int, ligand_atoms: tuple[int, int], residues: tuple[int, int],
         steps_per_snapshot: int, dt_fs: float, temperature: float) -> HeteroData:
    c = toy_complex(index, seed, ligand_atoms=ligand_atoms, residues=residues)
    pos = simulate_binding(c["z"], c["start"], c["sites"], c["rng"], n_snapshots=n_snapshots,
                           steps_per_snapshot=steps_per_snapshot, dt_fs=dt_fs, temperature=temperature,
                           bonds=c["bonds"], rings=c["rings"])
    dt_ps = steps_per_snapshot * dt_fs * 1e-3
    return make_record(f"SYN{seed:04d}-{index:05d}", c["z"], pos, c["residue_type"], c["backbone"], c["chain"],
                       dt_ps=dt_ps)


def synthetic_trajectories(
    n: int,
    seed: int = 0,
    *,
    n_snapshots: int = 100,
    ligand_atoms: tuple[int, int] = (10, 30),
    residues: tuple[int, int] = (30, 80),
    steps_per_snapshot: int = 10,
    dt_fs: float = 4.0,
    temperature: float = 300.0,
) -> list[HeteroData]:
    """``n`` toy protein-ligand trajectories, the project's bundled default data set.

    Each has a ligand of ``ligand_atoms`` heavy atoms (C, N, O, S, F, Cl; one or two aromatic
    rings), a pocket of ``residues`` residues of ideal backbone in 1-2 chains, and ``n_snapshots``
    snapshots of Langevin dynamics at ``temperature`` K, ``steps_per_snapshot`` x ``dt_fs`` fs
    apart (``dt_ps`` = 0.04 ps by default). Trajectory ``i`` depends only on ``(seed, i)``, so
    ``synthetic_trajectories(5, s)[:3] == synthetic_trajectories(3, s)``. Ids are
    ``SYN<seed>-<i>``. Positions in Å, float32, shape (N_l, T, 3).

    >>> data = synthetic_trajectories(1, seed=0, n_snapshots=10)[0]
    >>> data["ligand"].pos.shape[1], data.dt_ps
    (10, 0.04)
    """
    if n < 0 or n_snapshots < 1 or ligand_atoms[0] < 6 or residues[0] < 1:
        raise ValueError("synthetic_trajectories needs n >= 0, n_snapshots >= 1, >= 6 ligand atoms, >= 1 residue")
    return [_one(i, seed, n_snapshots=n_snapshots, ligand_atoms=ligand_atoms, residues=residues,
                 steps_per_snapshot=steps_per_snapshot, dt_fs=dt_fs, temperature=temperature) for i in range(n)]
