"""``read_misato``: one complex of a MISATO MD HDF5 file as a trajectory record."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, Union

import h5py
import numpy as np
import torch
from torch_geometric.data import HeteroData

from ._misato_protein import parse_protein
from ._record import POCKET_CUTOFF, make_record, validate_record

#: MISATO keeps 100 snapshots of 8 ns of MD (paper section 2.3): one snapshot every 80 ps.
MISATO_DT_PS = 80.0
#: Keys every complex of an MD file must have for a record to be built from it.
REQUIRED_KEYS = ("trajectory_coordinates", "atoms_type", "atoms_number", "atoms_residue",
                 "molecules_begin_atom_index")

H5Source = Union[str, os.PathLike, h5py.File, h5py.Group]


@contextlib.contextmanager
def open_h5(source: H5Source) -> Iterator[h5py.Group]:
    """Yield an open HDF5 group for a path (opened read-only, closed after) or an open file."""
    if isinstance(source, (h5py.File, h5py.Group)):
        yield source
    else:
        with h5py.File(source, "r") as f:
            yield f


def find_group(f: h5py.Group, pdb_id: str) -> h5py.Group:
    """The group of ``pdb_id`` (MISATO writes ids upper case; either case is accepted)."""
    for key in dict.fromkeys((pdb_id, pdb_id.upper(), pdb_id.lower())):
        if key in f and isinstance(f[key], h5py.Group):
            return f[key]
    raise ValueError(f"complex {pdb_id}: not in {f.file.filename}")


def _read_group(g: h5py.Group, name: str):
    """The arrays ``read_misato`` needs from one complex's group (checked for consistency)."""
    missing = [k for k in REQUIRED_KEYS if k not in g]
    if missing:
        raise ValueError(f"complex {name}: missing HDF5 key(s) {', '.join(missing)}")
    atom_type = g["atoms_type"][()]
    atom_number = g["atoms_number"][()]
    atom_residue = g["atoms_residue"][()]
    begin = g["molecules_begin_atom_index"][()]
    traj = g["trajectory_coordinates"]
    n = len(atom_type)
    if len(atom_number) != n or len(atom_residue) != n or traj.ndim != 3 or traj.shape[1:] != (n, 3):
        raise ValueError(
            f"complex {name}: inconsistent shapes: {n} atom types, {len(atom_number)} atomic numbers, "
            f"{len(atom_residue)} residue codes, trajectory {traj.shape} (expected (T, {n}, 3))")
    if len(begin) == 0 or np.any(np.diff(begin) < 0) or begin[0] != 0 or begin[-1] > n:
        raise ValueError(f"complex {name}: molecules_begin_atom_index {begin.tolist()[:10]} is not an "
                         f"increasing list of atom indices starting at 0")
    if traj.shape[0] == 0:
        raise ValueError(f"complex {name}: trajectory has no snapshots")
    lig = slice(int(begin[-1]), n)
    bounds = list(zip(begin[:-1].tolist(), begin[1:].tolist()))
    protein = parse_protein(atom_type, atom_residue, bounds)
    first = traj[0]  # (N, 3): the rigid protein; only one snapshot of it is read
    lig_traj = traj[:, lig, :]  # (T, N_l, 3): a contiguous slab of the file
    dt_ps = g.attrs.get("dt_ps", MISATO_DT_PS)
    return atom_number, lig, protein, first, lig_traj, dt_ps


def read_misato(
    h5: H5Source,
    pdb_id: str,
    hydrogens: bool = False,
    pocket_cutoff: float | None = POCKET_CUTOFF,
) -> HeteroData:
    """Read one complex of a MISATO MD file (``MD.hdf5`` layout) as a trajectory record.

    The ligand is the last molecule (``molecules_begin_atom_index[-1]`` to the end), over all
    snapshots; the protein is every other molecule, one chain each, held rigid at its first
    snapshot (the semi-flexible setting). Residues and their backbone N, CA, C are found from the
    atom types (see ``_misato_protein``); ``residue.type`` is MISATO's residue code.

    Args:
        h5: path of the HDF5 file, or an open ``h5py.File``.
        pdb_id: the complex (group name), either case.
        hydrogens: keep ligand hydrogens (the paper drops them).
        pocket_cutoff: Å; see ``validate_record`` (None skips the check).

    Returns:
        ``HeteroData`` with ``ligand.z`` (N_l,), ``ligand.mass`` (N_l,) amu, ``ligand.pos``
        (N_l, T, 3) Å float32, ``residue.type``/``backbone``/``chain``, ``id`` (the group name) and
        ``dt_ps`` (the group's ``dt_ps`` attribute if present, else 80 ps).

    Raises:
        ValueError naming the complex: missing id or key, inconsistent shapes, an empty or
        hydrogen-only ligand, no protein backbone, NaN/inf coordinates, a ligand out of the pocket,
        a failed HDF5 checksum (a damaged file).
    """
    with open_h5(h5) as f:
        g = find_group(f, pdb_id)
        name = g.name.strip("/").split("/")[-1]
        try:
            atom_number, lig, protein, first, lig_traj, dt_ps = _read_group(g, name)
        except OSError as err:   # a failed fletcher32 check is a "filter returned failure" read error
            checked = any(getattr(g[k], "fletcher32", False) for k in g)
            what = "checksum failure (the file is damaged)" if checked and "filter" in str(err) else "HDF5 read error"
            raise ValueError(f"complex {name}: {what}: {' '.join(str(err).split())}; re-copy or re-write the "
                             "file") from None

    z = torch.as_tensor(atom_number[lig].astype(np.int64))
    if z.numel() and not hydrogens:
        keep = z != 1
        if not bool(keep.any()):
            raise ValueError(f"complex {name}: ligand has no heavy atoms (only {z.numel()} hydrogens)")
        z, lig_traj = z[keep], lig_traj[:, keep.numpy()]
    pos = torch.as_tensor(np.ascontiguousarray(lig_traj.transpose(1, 0, 2)), dtype=torch.float32)
    backbone = np.stack([first[protein.n], first[protein.ca], first[protein.c]], axis=1)
    record = make_record(name, z, pos, torch.as_tensor(protein.type), torch.as_tensor(backbone).reshape(-1, 3, 3),
                         torch.as_tensor(protein.chain), dt_ps=dt_ps)
    return validate_record(record, pocket_cutoff)
