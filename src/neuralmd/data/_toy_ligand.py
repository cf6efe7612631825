"""Random drug-like ligands: one or two aromatic rings with branched substituents.

Elements and bond lengths follow organic chemistry (C, N, O, S, F, Cl; single bonds from covalent
radii, aromatic bonds 1.39 Å; bond angles near tetrahedral); atoms that are not bonded stay at least
2.4 Å apart. Heavy atoms only, as the paper uses the data.
"""
from __future__ import annotations

import numpy as np

from ._tables import covalent_radius

_ELEMENTS = np.array([6, 7, 8, 16, 9, 17])
_WEIGHTS = np.array([0.66, 0.12, 0.15, 0.03, 0.025, 0.015])
_VALENCE = {6: 4, 7: 3, 8: 2, 16: 2, 9: 1, 17: 1}
_AROMATIC = 1.39
_MIN_NONBONDED = 2.4


def _bond_length(a: int, b: int) -> float:
    return 0.97 * (covalent_radius(a) + covalent_radius(b))


def _hexagon(center: np.ndarray, normal: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Six points of a regular aromatic ring around ``center`` in the plane normal to ``normal``."""
    e1 = start - center - np.dot(start - center, normal) * normal
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    ang = np.arange(6) * np.pi / 3
    return center + _AROMATIC * (np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2)


def _random_unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(3)
    return v / np.linalg.norm(v)


def toy_ligand(n_atoms: int, rng: np.random.Generator):
    """A ligand of ``n_atoms`` (>= 6) heavy atoms: (z (N,), pos (N, 3) Å centred, bonds (B, 2), rings)."""
    z = [6 if rng.random() > 0.15 else 7 for _ in range(6)]
    pos = list(_hexagon(np.zeros(3), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])))
    bonds = [(i, (i + 1) % 6) for i in range(6)]
    rings = [list(range(6))]
    want_second_ring = n_atoms >= 16 and rng.random() < 0.5
    attempts = 0
    while len(z) < n_atoms and attempts < 2000:
        attempts += 1
        degree = np.bincount(np.asarray(bonds).ravel(), minlength=len(z))
        in_ring = {i for r in rings for i in r}
        # ring atoms take one substituent; chain atoms fill their valence (capped at 3 heavy neighbours)
        room = [i for i in range(len(z)) if degree[i] < (3 if i in in_ring else min(_VALENCE[z[i]], 3))]
        if not room:
            break
        parent = int(rng.choice(room))
        nbrs = [j for b in bonds for j in b if parent in b and j != parent]
        away = pos[parent] - np.mean([pos[j] for j in nbrs], axis=0) if nbrs else _random_unit(rng)
        away /= np.linalg.norm(away)
        direction = away + 0.8 * _random_unit(rng)
        direction /= np.linalg.norm(direction)
        if want_second_ring and n_atoms - len(z) >= 6 and z[parent] == 6:
            atom = pos[parent] + 1.48 * direction
            normal = np.cross(direction, _random_unit(rng))  # ring plane contains the new bond
            ring = _hexagon(atom + _AROMATIC * direction, normal / np.linalg.norm(normal), atom)
            new_z = [6] * 6
        else:
            new_z = [int(rng.choice(_ELEMENTS, p=_WEIGHTS))]
            ring = pos[parent] + _bond_length(z[parent], new_z[0]) * direction[None]
        others = np.delete(np.asarray(pos), parent, axis=0)
        if np.min(np.linalg.norm(others[:, None] - ring[None], axis=-1)) < _MIN_NONBONDED:
            continue
        first = len(z)
        z += new_z
        pos += list(ring)
        bonds.append((parent, first))
        if len(new_z) == 6:
            bonds += [(first + i, first + (i + 1) % 6) for i in range(6)]
            rings.append(list(range(first, first + 6)))
            want_second_ring = False
    pos = np.asarray(pos)
    return np.asarray(z), pos - pos.mean(0), np.asarray(bonds), rings
