"""A pocket of ideal protein backbone: helices and strands around a cavity.

Each segment is built atom by atom from ideal bond lengths, bond angles and (phi, psi, omega)
torsions (Engh & Huber geometry), so its N-CA, CA-C and peptide-bond lengths and its frames look
like a real protein's; segments are laid tangentially on a sphere around the cavity, leaving an open
mouth, the way a binding pocket is lined by pieces of several secondary-structure elements.
"""
from __future__ import annotations

import numpy as np

_BOND = {"N-CA": 1.458, "CA-C": 1.525, "C-N": 1.329}
_ANGLE = {"N-CA-C": 111.2, "CA-C-N": 116.2, "C-N-CA": 121.7}
_SECONDARY = {"helix": (-57.0, -47.0), "strand": (-120.0, 130.0)}
_AXIS_OFFSET = {"helix": 2.3, "strand": 1.0}  # Å, how far C-alpha sit from a segment's axis
_MOUTH_COS = 0.55  # no segment within ~57 degrees of the mouth direction (+z)


def _place(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: float, torsion: float) -> np.ndarray:
    """Atom d with |cd| = bond, angle bcd = angle, torsion abcd = torsion (degrees)."""
    bc = c - b
    bc /= np.linalg.norm(bc)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    th, ph = np.radians(angle), np.radians(torsion)
    d_local = np.array([-bond * np.cos(th), bond * np.sin(th) * np.cos(ph), bond * np.sin(th) * np.sin(ph)])
    return c + d_local[0] * bc + d_local[1] * m + d_local[2] * n


def ideal_segment(n_res: int, kind: str, rng: np.random.Generator, jitter: float = 6.0) -> np.ndarray:
    """Backbone (n_res, 3, 3) Å, rows N, CA, C, of one helix or strand; torsions jittered by degrees."""
    phi0, psi0 = _SECONDARY[kind]
    atoms = [np.zeros(3), np.array([_BOND["N-CA"], 0.0, 0.0])]
    th = np.radians(180.0 - _ANGLE["N-CA-C"])
    atoms.append(atoms[1] + _BOND["CA-C"] * np.array([np.cos(th), np.sin(th), 0.0]))
    for i in range(1, n_res):
        psi, phi = psi0 + jitter * rng.standard_normal(), phi0 + jitter * rng.standard_normal()
        omega = 180.0 + 3.0 * rng.standard_normal()
        atoms.append(_place(atoms[-3], atoms[-2], atoms[-1], _BOND["C-N"], _ANGLE["CA-C-N"], psi))
        atoms.append(_place(atoms[-3], atoms[-2], atoms[-1], _BOND["N-CA"], _ANGLE["C-N-CA"], omega))
        atoms.append(_place(atoms[-3], atoms[-2], atoms[-1], _BOND["CA-C"], _ANGLE["N-CA-C"], phi))
    return np.asarray(atoms).reshape(n_res, 3, 3)


def beta_carbons(bb: np.ndarray) -> np.ndarray:
    """Ideal C-beta (N_r, 3) of each residue from its N, CA, C: where side chains start."""
    n, ca, c = bb[:, 0], bb[:, 1], bb[:, 2]
    b, cc = ca - n, c - ca
    a = np.cross(b, cc)
    return -0.58273431 * a + 0.56802827 * b - 0.54067466 * cc + ca


def _directions(k: int, rng: np.random.Generator) -> np.ndarray:
    """k well-spread unit vectors away from the mouth (+z), ordered around the z axis."""
    cand = rng.standard_normal((64 * k, 3))
    cand /= np.linalg.norm(cand, axis=1, keepdims=True)
    cand = cand[cand[:, 2] < _MOUTH_COS]
    chosen = [cand[0]]
    for _ in range(1, k):  # greedy farthest point: segments do not pile up on one side
        closest = np.max(cand @ np.asarray(chosen).T, axis=1)  # cosine to the nearest chosen one
        chosen.append(cand[np.argmin(closest)])
    chosen = np.asarray(chosen)
    return chosen[np.argsort(np.arctan2(chosen[:, 1], chosen[:, 0]))]


def _orient(seg: np.ndarray, radial: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Lay a segment (L, 3, 3) with its axis tangent to the sphere of ``radius`` at ``radial``."""
    flat = seg.reshape(-1, 3)
    mid = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mid)
    axis = vt[0]
    tangent = np.cross(radial, rng.standard_normal(3))
    tangent /= np.linalg.norm(tangent)
    # rotation taking the segment axis onto the tangent, then a random spin about the tangent
    frame_a = np.stack([axis, vt[1], np.cross(axis, vt[1])])
    spin = rng.uniform(0, 2 * np.pi)
    other = np.cos(spin) * radial + np.sin(spin) * np.cross(tangent, radial)
    frame_b = np.stack([tangent, other, np.cross(tangent, other)])
    return ((flat - mid) @ frame_a.T @ frame_b + radius * radial).reshape(seg.shape)


def _first_contact(sites: np.ndarray, u: np.ndarray, obstacles: np.ndarray, reach: np.ndarray) -> float:
    """How far ``sites`` (S, 3) can move along -u before one comes within ``reach`` (O,) of an obstacle.

    Solves |d - lam u| = r for each site-obstacle pair (d = site - obstacle) and takes the
    smallest non-negative first root; inf if the path misses every obstacle.
    """
    d = sites[:, None, :] - obstacles[None]
    du = d @ u
    disc = du * du - (d * d).sum(-1) + reach[None] ** 2
    lam = du - np.sqrt(np.clip(disc, 0.0, None))
    lam = np.where((disc >= 0) & (lam >= 0), lam, np.inf)
    return float(lam.min()) if lam.size else np.inf


def toy_pocket(n_res: int, n_chains: int, ligand: np.ndarray, clearance: float, rng: np.random.Generator,
               spacing: float = 4.0):
    """Backbone (N_r, 3, 3) and chain (N_r,) of a pocket around a ligand (N_l, 3) centred at 0.

    Segments (helices of 6-12 residues, strands of 4-7) come in one by one from far out along
    well-spread directions and stop at first contact: ``clearance`` Å from a ligand atom or
    ``spacing`` Å from an earlier segment (C-beta included), so the pocket hugs the ligand on all
    sides but the mouth and large pockets grow outer layers instead of overlapping. Chains take
    consecutive segments: consecutive residues of a chain are bonded or across a chain break, as
    in a pocket cut out of a real protein.
    """
    kinds, lengths = [], []
    while sum(lengths) < n_res:
        kind = "helix" if rng.random() < 0.6 else "strand"
        low, high = (6, 12) if kind == "helix" else (4, 7)
        kinds.append(kind)
        lengths.append(int(min(rng.integers(low, high + 1), n_res - sum(lengths))))
    dirs = _directions(len(lengths), rng)
    obstacles, reach = ligand, np.full(len(ligand), clearance)
    segs = []
    for kind, length, u in zip(kinds, lengths, dirs):
        seg = ideal_segment(length, kind, rng)
        far = np.linalg.norm(obstacles, axis=1).max() + np.ptp(seg.reshape(-1, 3), axis=0).max() + 2 * spacing
        seg = _orient(seg, u, far, rng)
        sites = np.concatenate([seg.reshape(-1, 3), beta_carbons(seg)])
        shift = _first_contact(sites, u, obstacles, reach)
        if np.isfinite(shift):  # else it is aimed past everything and stays outside
            seg -= shift * u
        segs.append(seg)
        new = np.concatenate([seg.reshape(-1, 3), beta_carbons(seg)])
        obstacles = np.concatenate([obstacles, new])
        reach = np.concatenate([reach, np.full(len(new), spacing)])
    cut = int(np.ceil(len(segs) / n_chains))
    chain = np.concatenate([np.full(len(s), i // cut) for i, s in enumerate(segs)])
    return np.concatenate(segs), chain
