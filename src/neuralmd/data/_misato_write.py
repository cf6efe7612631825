"""``write_misato``: trajectory records as a MISATO MD HDF5 file."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import h5py
import numpy as np
from torch_geometric.data import HeteroData

from ._tables import ATOM_TYPE_CODES, ELEMENT_CLASSES

# Backbone atoms as MISATO writes them: (Amber type, atomic number) for N, CA, C, O.
_N, _N_TERM, _CA, _C = ATOM_TYPE_CODES["N"], ATOM_TYPE_CODES["N3"], ATOM_TYPE_CODES["CX"], ATOM_TYPE_CODES["C"]
_O, _O_TERM = ATOM_TYPE_CODES["O"], ATOM_TYPE_CODES["O2"]
# Records keep no ligand atom types; a generic GAFF type per element keeps the file well formed.
_LIGAND_TYPES = {1: "hc", 6: "c3", 7: "n3", 8: "o", 9: "f", 15: "p5", 16: "ss", 17: "cl", 35: "br", 53: "i"}
_CO_BOND = 1.23  # Å, carbonyl C=O
_PER_SNAPSHOT_KEYS = ("frames_interaction_energy", "frames_distance", "frames_bSASA")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-8)


def _carbonyl_oxygens(bb: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ideal backbone O of every residue (N_r, 3) and the second (OXT) O of chain ends.

    MISATO marks the end of a residue by its O, so the writer has to place one; it sits in the
    peptide plane, bisecting the CA-C-N(next) angle, or at 120 degrees off C-CA at a chain end.
    """
    n, ca, c = bb[:, 0], bb[:, 1], bb[:, 2]
    nxt = np.roll(n, -1, axis=0)
    u = _unit(c - ca)
    o = c + _CO_BOND * _unit(u + _unit(c - nxt))
    # at chain ends: two O at +-120 degrees from C->CA in the N-CA-C plane
    w = _unit(np.cross(np.cross(u, n - ca), u))
    o_a = c + _CO_BOND * (0.5 * u + 0.866 * w)
    o_b = c + _CO_BOND * (0.5 * u - 0.866 * w)
    o = np.where(last[:, None], o_a, o)
    return o, o_b


def _protein_atoms(data: HeteroData) -> dict[str, np.ndarray]:
    """Per-atom arrays of the protein, four backbone atoms per residue, chain by chain."""
    bb = data["residue"].backbone.numpy().astype(np.float64)
    rtype = data["residue"].type.numpy()
    chain = data["residue"].chain.numpy()
    first = np.r_[True, chain[1:] != chain[:-1]]
    last = np.r_[chain[1:] != chain[:-1], True]
    o, oxt = _carbonyl_oxygens(bb, last)
    types, numbers, res, xyz, starts = [], [], [], [], []
    for i in range(len(rtype)):
        if first[i]:
            starts.append(len(types))
        t = [_N_TERM if first[i] else _N, _CA, _C, _O_TERM if last[i] else _O]
        p = [bb[i, 0], bb[i, 1], bb[i, 2], o[i]]
        if last[i]:
            t.append(_O_TERM)
            p.append(oxt[i])
        types += t
        numbers += [7, 6, 6] + [8] * (len(t) - 3)
        res += [int(rtype[i])] * len(t)
        xyz += p
    return {"type": np.asarray(types), "number": np.asarray(numbers), "residue": np.asarray(res),
            "xyz": np.asarray(xyz, dtype=np.float32).reshape(-1, 3), "starts": np.asarray(starts)}


def _write_one(f: h5py.File, data: HeteroData) -> None:
    name = str(data.id)
    if name in f:
        raise ValueError(f"complex {name}: written twice")
    prot = _protein_atoms(data)
    z = data["ligand"].z.numpy().astype(np.int64)
    lig = data["ligand"].pos.numpy().astype(np.float32)  # (N_l, T, 3)
    t = lig.shape[1]
    n_p = len(prot["type"])
    coords = np.empty((t, n_p + len(z), 3), dtype=np.float32)
    coords[:, :n_p] = prot["xyz"][None]
    coords[:, n_p:] = lig.transpose(1, 0, 2)
    lig_types = [ATOM_TYPE_CODES[_LIGAND_TYPES.get(int(a), "c3")] for a in z]
    numbers = np.r_[prot["number"], z].astype(np.int64)
    g = f.create_group(name)
    g.attrs["dt_ps"] = float(data.dt_ps)
    # fletcher32: a checksum per chunk, so a flipped bit is reported on reading, not learned from
    g.create_dataset("trajectory_coordinates", data=coords, chunks=(1,) + coords.shape[1:], fletcher32=True)
    arrays = {"atoms_type": np.r_[prot["type"], lig_types].astype(np.int64), "atoms_number": numbers,
              "atoms_element": np.array([ELEMENT_CLASSES.get(int(a), 0) for a in numbers], np.int64),
              "atoms_residue": np.r_[prot["residue"], np.zeros(len(z))].astype(np.int64),
              "molecules_begin_atom_index": np.r_[prot["starts"], n_p].astype(np.int64),
              "frames_rmsd_ligand": np.sqrt(((lig - lig[:, :1]) ** 2).sum(-1).mean(0)).astype(np.float32)}
    # energies, distances and buried surface are outputs of MISATO's own analysis; not computed here
    arrays.update({key: np.full(t, np.nan, dtype=np.float32) for key in _PER_SNAPSHOT_KEYS})
    for key, values in arrays.items():
        g.create_dataset(key, data=values, fletcher32=True)


def write_misato(records: HeteroData | Iterable[HeteroData], path: str | os.PathLike, mode: str = "w") -> Path:
    """Write trajectory records to an HDF5 file in MISATO's MD layout, one group per ``id``.

    Each group has MISATO's keys: ``trajectory_coordinates`` (T, N, 3) float32 Å, ``atoms_type``,
    ``atoms_number``, ``atoms_element``, ``atoms_residue``, ``molecules_begin_atom_index`` (int64),
    and ``frames_rmsd_ligand``, ``frames_interaction_energy``, ``frames_distance``, ``frames_bSASA``
    (T,) float32, the last three NaN (not computed). The protein is written as N, CA, C and an
    ideal O per residue (MISATO's residue boundaries need the O), one molecule per chain, repeated
    in every snapshot; the ligand is the last molecule with generic GAFF types; ``dt_ps`` is a
    group attribute. Every dataset carries HDF5 fletcher32 checksums; ``read_misato`` reports a
    damaged chunk as a checksum failure naming the complex. ``read_misato`` gives back every record exactly (chains renumbered 0, 1, ...
    in order of appearance). ``mode`` is h5py's ("w" overwrites, "a" appends). Returns the path.
    """
    if isinstance(records, HeteroData):
        records = [records]
    path = Path(path)
    with hdf5_all_or_nothing(path, mode) as f:
        for data in records:
            _write_one(f, data)
    return path


@contextmanager
def hdf5_all_or_nothing(path: str | os.PathLike, mode: str = "w") -> Iterator[h5py.File]:
    """An open HDF5 file whose writes all land or none do.

    ``mode="w"`` (or a file that does not exist yet): the writes go to a temporary file beside
    ``path`` that replaces it only when the block ends without error, so a failure leaves the old
    file, or none, intact. ``mode="a"``: the groups the block added are deleted again if it fails,
    so the file keeps exactly what it held before.
    """
    if mode not in ("w", "a"):
        raise ValueError(f"mode must be 'w' (overwrite) or 'a' (append), got {mode!r}")
    path = Path(path)
    if mode == "w" or not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with h5py.File(tmp, "w") as f:
                yield f
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return
    with h5py.File(path, "a") as f:
        before = set(f.keys())
        try:
            yield f
        except BaseException:
            for name in set(f.keys()) - before:
                del f[name]
            raise


def write_atom_trajectory(f: h5py.Group, name: str, coords: np.ndarray, arrays: dict[str, np.ndarray],
                          attrs: dict) -> None:
    """One all-atom MD trajectory as a MISATO group: ``coords`` (T, N, 3) Å stored as float32.

    ``arrays`` holds MISATO's per-atom keys (``atoms_type``, ``atoms_number``, ``atoms_element``,
    ``atoms_residue``, ``molecules_begin_atom_index``), the ligand being the last molecule;
    ``frames_rmsd_ligand`` is computed here from its heavy atoms (no fitting: the frame is the fixed
    protein's). ``attrs`` become group attributes (``dt_ps`` is required). gzip-compressed.
    """
    if "dt_ps" not in attrs:
        raise ValueError(f"complex {name}: attrs need dt_ps")
    if name in f:
        raise ValueError(f"complex {name}: written twice")
    coords = np.asarray(coords, dtype=np.float32)
    g = f.create_group(name)
    g.create_dataset("trajectory_coordinates", data=coords, compression="gzip", compression_opts=9, shuffle=True,
                     chunks=coords.shape, fletcher32=True)
    for key, value in arrays.items():
        g.create_dataset(key, data=np.asarray(value).astype(np.int64), compression="gzip", fletcher32=True)
    begin = int(arrays["molecules_begin_atom_index"][-1])
    heavy = np.asarray(arrays["atoms_number"])[begin:] > 1
    lig = coords[:, begin:][:, heavy]
    g.create_dataset("frames_rmsd_ligand", data=np.sqrt(((lig - lig[:1]) ** 2).sum(-1).mean(-1)), fletcher32=True)
    for key, value in attrs.items():
        g.attrs[key] = value
