"""Export of ligand trajectories with the rigid protein backbone: ``.traj`` and ``.xyz`` through ASE,
``.pdb``, ``.dcd`` and ``.xtc`` through MDAnalysis' writers.

PDB files carry residue names from ``residue.type`` (the project's residue table), one chain id per
protein chain (A, B, ...) and the next letter for the ligand, unique ligand atom names (C1, C2,
O1, ...) on HETATM records in residue LIG, and CONECT records for the ligand's bonds (atoms closer
than ``BOND_TOLERANCE`` times the sum of their covalent radii in the first exported snapshot).
DCD and XTC hold coordinates only: write a ``.pdb`` of the same trajectory as their topology.

>>> import torch
>>> from torch_geometric.data import HeteroData
>>> data = HeteroData()
>>> data["ligand"].z = torch.tensor([6, 8])
>>> data["ligand"].pos = torch.zeros(2, 4, 3)            # (N_l, T, 3): 2 atoms, 4 snapshots
>>> data["ligand"].pos[1, :, 0] = 1.2
>>> frames = to_ase(data, protein="none")
>>> len(frames), frames[0].get_chemical_formula()
(4, 'CO')
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import ase
import ase.io
import numpy as np
import torch
from ase.data import chemical_symbols
from torch import Tensor

from neuralmd._elements import COVALENT_RADII
from neuralmd._format import POCKET_CUTOFF
from neuralmd.data._tables import RESIDUE_NAMES

__all__ = ["LIGAND_TAG", "PROTEIN_TAG", "POCKET_CUTOFF", "BOND_TOLERANCE", "FORMATS", "to_ase", "to_universe",
           "write_trajectory"]

#: ``Atoms.get_tags()`` value of ligand atoms and of protein backbone atoms.
LIGAND_TAG = 1
PROTEIN_TAG = 2
#: Two ligand atoms are bonded when closer than this times the sum of their covalent radii.
BOND_TOLERANCE = 1.2
#: File extension -> writer: an ``ase.io`` format name, or ``mdanalysis``.
FORMATS = {".traj": "traj", ".xyz": "extxyz", ".extxyz": "extxyz", ".pdb": "mdanalysis", ".dcd": "mdanalysis",
           ".xtc": "mdanalysis"}
_CHAIN_LETTERS = "ABCDEFGHIJKMNOPQRSTUVWXYZ"     # no L: the ligand's letter follows the protein's

_BACKBONE_Z = np.array([7, 6, 6])            # rows of residue.backbone: N, CA, C
_BACKBONE_NAMES = np.array(["N", "CA", "C"])

Protein = Literal["pocket", "backbone", "none"]


def _name(data: Any) -> str:
    return str(getattr(data, "id", None) or "unnamed complex")


def _ligand_trajectory(data: Any, traj: Tensor | np.ndarray | None) -> np.ndarray:
    """Ligand positions as a float64 (T, N_l, 3) array from ``traj`` or the record's (N_l, T, 3)."""
    name = _name(data)
    n = int(data["ligand"].z.shape[0])
    if traj is None:
        pos = getattr(data["ligand"], "pos", None)
        if pos is None:
            raise ValueError(f"{name}: no traj given and the record has no ligand.pos")
        pos = torch.as_tensor(pos).detach().cpu()
        pos = pos.unsqueeze(1) if pos.dim() == 2 else pos          # one snapshot (N_l, 3)
        if pos.dim() != 3 or pos.shape[0] != n or pos.shape[-1] != 3:
            raise ValueError(f"{name}: ligand.pos must have shape ({n}, T, 3), got {tuple(pos.shape)}")
        out = pos.transpose(0, 1).numpy()
    else:
        out = torch.as_tensor(traj).detach().cpu().numpy()
        if out.ndim != 3 or out.shape[1:] != (n, 3):
            raise ValueError(f"{name}: traj must have shape (T, {n}, 3), got {tuple(out.shape)}")
    if out.shape[0] == 0:
        raise ValueError(f"{name}: the trajectory has no snapshot")
    out = out.astype(np.float64)
    if not np.isfinite(out).all():
        raise ValueError(f"{name}: the ligand trajectory contains NaN or inf coordinates")
    return out


def _protein_atoms(data: Any, first: np.ndarray, protein: Protein, cutoff: float
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """Backbone positions (3 M, 3), the record's index of each kept residue (M,), and N_r.

    ``first`` is the ligand's first exported snapshot (N_l, 3); it defines the pocket.
    """
    name = _name(data)
    backbone = getattr(data["residue"], "backbone", None) if "residue" in data.node_types else None
    if backbone is None:
        raise ValueError(f"{name}: protein={protein!r} needs residue.backbone; "
                         "pass protein='none' to export the ligand alone")
    backbone = torch.as_tensor(backbone).detach().cpu().numpy().astype(np.float64)
    if backbone.ndim != 3 or backbone.shape[1:] != (3, 3):
        raise ValueError(f"{name}: residue.backbone must have shape (N_r, 3, 3), "
                         f"got {tuple(backbone.shape)}")
    if not np.isfinite(backbone).all():
        raise ValueError(f"{name}: residue.backbone contains NaN or inf coordinates")
    keep = np.arange(backbone.shape[0])
    if protein == "pocket":
        ca = backbone[:, 1]
        nearest = np.linalg.norm(ca[:, None] - first[None], axis=-1).min(axis=1)
        keep = keep[nearest <= cutoff]
        if keep.size == 0:
            raise ValueError(f"{name}: no residue has its C-alpha within {cutoff} Å of the ligand; "
                             "raise pocket_cutoff or pass protein='backbone'")
    return backbone[keep].reshape(-1, 3), keep, backbone.shape[0]


def _ligand_atom_names(z: np.ndarray) -> np.ndarray:
    """Unique names element + count per element (C1, C2, O1, ...), as PDB viewers expect."""
    seen: dict[int, int] = {}
    names = []
    for k in z:
        seen[int(k)] = seen.get(int(k), 0) + 1
        names.append(f"{chemical_symbols[int(k)]}{seen[int(k)]}"[:4])
    return np.array(names)


def ligand_bonds(z: np.ndarray, pos: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, i < j, of ligand atoms closer than ``BOND_TOLERANCE`` x the sum of their
    covalent radii (Å) at positions ``pos`` (N_l, 3)."""
    radii = np.array([COVALENT_RADII[int(k)] if int(k) < len(COVALENT_RADII) else 1.5 for k in z])
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    i, j = np.nonzero(np.triu(dist < BOND_TOLERANCE * (radii[:, None] + radii[None]), k=1))
    return list(zip(i.tolist(), j.tolist()))


def to_ase(data: Any, traj: Tensor | np.ndarray | None = None, protein: Protein = "pocket",
           pocket_cutoff: float = POCKET_CUTOFF) -> list[ase.Atoms]:
    """One ``ase.Atoms`` per snapshot: the ligand, followed by the rigid protein backbone.

    Ligand atoms take their elements from ``data["ligand"].z`` and their positions from ``traj``
    or, without it, from the record's own trajectory ``data["ligand"].pos``; their masses come
    from ``data["ligand"].mass`` when present. Protein atoms are the backbone N, CA, C of every
    residue (``protein="backbone"``), of the pocket residues whose C-alpha lies within
    ``pocket_cutoff`` Å of any ligand atom in the first exported snapshot (``"pocket"``; the pocket
    is fixed for the whole trajectory so every frame has the same atoms), or none (``"none"``).

    Atoms are told apart by tags (:data:`LIGAND_TAG`, :data:`PROTEIN_TAG`) and by the arrays
    ``residuenumbers`` (record residue index + 1 for protein atoms, N_r + 1 for the ligand, 1
    without protein), ``residuenames`` ("LIG", or the residue's name from ``residue.type``),
    ``atomtypes`` (unique ligand names C1, C2, O1, ..., or N/CA/C) and ``chains`` (record chain
    index of protein atoms, -1 for the ligand). ``info`` holds the
    complex ``id``, the ``snapshot`` index and, if the record has ``dt_ps``, ``time_ps``.

    Args:
        data: one complex as a ``HeteroData`` record (not a batch of several).
        traj: optional (T, N_l, 3) ligand positions in Å, e.g. a model's ``rollout``.
        protein: which protein atoms to add: "pocket", "backbone" or "none".
        pocket_cutoff: pocket radius in Å.

    Returns:
        T ``ase.Atoms`` without cell or periodic boundaries, positions in Å.
    """
    if protein not in ("pocket", "backbone", "none"):
        raise ValueError(f"protein must be 'pocket', 'backbone' or 'none', got {protein!r}")
    name = _name(data)
    if "ligand" not in data.node_types or getattr(data["ligand"], "z", None) is None:
        raise ValueError(f"{name}: the record has no ligand.z")
    batch = getattr(data["ligand"], "batch", None)
    if batch is not None and batch.numel() and int(batch.max()) != int(batch.min()):
        raise ValueError(f"{name}: to_ase takes one complex; split the batch first "
                         "(Batch.get_example(i))")
    z = torch.as_tensor(data["ligand"].z).cpu().numpy().astype(int)
    if z.size == 0:
        raise ValueError(f"{name}: the ligand is empty")
    lig = _ligand_trajectory(data, traj)

    if protein == "none":
        prot, keep, n_res = np.zeros((0, 3)), np.zeros(0, dtype=int), 0
    else:
        prot, keep, n_res = _protein_atoms(data, lig[0], protein, pocket_cutoff)

    numbers = np.concatenate([z, np.tile(_BACKBONE_Z, keep.size)])
    tags = np.concatenate([np.full(z.size, LIGAND_TAG), np.full(prot.shape[0], PROTEIN_TAG)])
    resnum = np.concatenate([np.full(z.size, n_res + 1), np.repeat(keep + 1, 3)])
    codes = torch.as_tensor(data["residue"].type).cpu().numpy()[keep] if keep.size else np.zeros(0, dtype=int)
    resname = np.array(["LIG"] * z.size + [RESIDUE_NAMES[int(c)] if 0 <= c < len(RESIDUE_NAMES) else "UNK"
                                           for c in np.repeat(codes, 3)])
    chain = torch.as_tensor(data["residue"].chain).cpu().numpy()[keep] if keep.size else np.zeros(0, dtype=int)
    chains = np.concatenate([np.full(z.size, -1), np.repeat(chain, 3)])
    atomtype = np.concatenate([_ligand_atom_names(z), np.tile(_BACKBONE_NAMES, keep.size)])
    mass = getattr(data["ligand"], "mass", None)
    dt_ps = getattr(data, "dt_ps", None)

    frames = []
    for t, pos in enumerate(lig):
        atoms = ase.Atoms(numbers=numbers, positions=np.concatenate([pos, prot]), pbc=False)
        atoms.set_tags(tags)
        if mass is not None:
            masses = atoms.get_masses()
            masses[: z.size] = torch.as_tensor(mass).cpu().numpy()
            atoms.set_masses(masses)
        atoms.set_array("residuenumbers", resnum)
        atoms.set_array("residuenames", resname)
        atoms.set_array("atomtypes", atomtype)
        atoms.set_array("chains", chains)
        atoms.info.update(id=name, snapshot=t)
        if dt_ps is not None:
            atoms.info["time_ps"] = t * float(dt_ps)
        frames.append(atoms)
    return frames


def to_universe(data: Any, traj: Tensor | np.ndarray | None = None, **kwargs: Any):
    """The atoms of :func:`to_ase` as an ``MDAnalysis.Universe`` with an in-memory trajectory.

    Topology: atom names, elements, residue names and numbers, chain ids (A, B, ... per protein
    chain, the next letter for the ligand), ``record_types`` HETATM for the ligand and ATOM for the
    protein, the ligand's bonds (:func:`ligand_bonds`). ``dt`` is the record's ``dt_ps`` (ps).

    Args:
        data, traj, **kwargs: as in :func:`to_ase`.
    """
    import MDAnalysis as mda
    from MDAnalysis.coordinates.memory import MemoryReader

    frames = to_ase(data, traj, **kwargs)
    first = frames[0]
    resnum, chains = first.get_array("residuenumbers"), first.get_array("chains")
    ligand = first.get_tags() == LIGAND_TAG
    starts = np.r_[True, resnum[1:] != resnum[:-1]]
    atom_resindex = np.cumsum(starts) - 1
    n_chains = int(chains.max()) + 1 if (~ligand).any() else 0
    letters = np.array([_CHAIN_LETTERS[c % len(_CHAIN_LETTERS)] for c in np.where(ligand, n_chains, chains)])
    u = mda.Universe.empty(len(first), n_residues=int(starts.sum()), atom_resindex=atom_resindex, trajectory=False)
    u.add_TopologyAttr("names", first.get_array("atomtypes"))
    u.add_TopologyAttr("elements", first.get_chemical_symbols())
    u.add_TopologyAttr("types", first.get_chemical_symbols())
    u.add_TopologyAttr("resnames", first.get_array("residuenames")[starts])
    u.add_TopologyAttr("resids", resnum[starts])
    u.add_TopologyAttr("chainIDs", letters)
    u.add_TopologyAttr("record_types", np.where(ligand, "HETATM", "ATOM"))
    u.add_TopologyAttr("bonds", ligand_bonds(first.numbers[ligand], first.positions[ligand]))
    coords = np.stack([a.positions for a in frames]).astype(np.float32)
    dt_ps = getattr(data, "dt_ps", None)
    u.load_new(coords, format=MemoryReader, dt=float(dt_ps) if dt_ps else 1.0)
    return u


def _write_mdanalysis(path: Path, universe: Any) -> None:
    """Every frame of ``universe`` to ``path`` with MDAnalysis' writer for its extension."""
    import warnings

    import MDAnalysis as mda

    pdb = path.suffix.lower() == ".pdb"
    options = {"multiframe": True, "bonds": "all"} if pdb else {}
    if path.suffix.lower() == ".dcd":
        options["dt"] = universe.trajectory.dt     # DCD keeps one time step, not per-frame times
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # "no unit cell": there is none (pbc=False)
        with mda.Writer(str(path), n_atoms=universe.atoms.n_atoms, **options) as writer:
            for _ in universe.trajectory:
                writer.write(universe.atoms)
    if pdb:
        # MDAnalysis writes a 1 Å unit cell (and remarks on it) when there is none, which ASE would
        # read as periodic; ASE also reads the closing END after the last ENDMDL as one more, empty
        # frame. The models and the CONECT records stay.
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(ln for ln in lines if not ln.startswith(("CRYST1", "REMARK     285"))
                                and ln.strip() != "END"))


def write_trajectory(path: str | Path, data: Any, traj: Tensor | np.ndarray | None = None,
                     **kwargs: Any) -> Path:
    """Write a ligand trajectory with its protein to ``path``; the extension picks the format.

    ``.traj`` (ASE binary, exact float64) and ``.xyz``/``.extxyz`` (extended XYZ, keeps tags and
    info) go through ``ase.io.write``; ``.pdb`` (one MODEL per snapshot, 3 decimals, residue
    names, chain ids, CONECT for the ligand), ``.dcd`` and ``.xtc`` (coordinates only; use the
    ``.pdb`` as topology) through MDAnalysis (:func:`to_universe`). Read them back with
    ``ase.io.read(path, index=":")`` or ``MDAnalysis.Universe("x.pdb", "x.xtc")``.

    Args:
        path: output file; its folder must exist.
        data, traj: as in :func:`to_ase`.
        **kwargs: ``protein`` and ``pocket_cutoff``, passed to :func:`to_ase`.

    Returns:
        ``path`` as a ``Path``.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write {path.name!r}: unknown extension {path.suffix!r}; "
                         f"use one of {', '.join(FORMATS)}")
    if fmt == "mdanalysis":
        _write_mdanalysis(path, to_universe(data, traj, **kwargs))
    else:
        ase.io.write(path, to_ase(data, traj, **kwargs), format=fmt)
    return path
