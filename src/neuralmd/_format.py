"""The trajectory record format: its keys, vocabularies, plausibility limits, checks and batch helpers.

The one low-level module every step of the data path agrees on (``data`` builds records,
``layers`` encodes them, ``dynamics`` rolls them out, ``io`` exports them); it imports nothing else
of the package, so any subpackage may import it. One protein-ligand trajectory
is one PyG ``HeteroData`` (``docs/design.md``):

- ``ligand.z`` (N_l,) long atomic numbers, ``ligand.mass`` (N_l,) amu, ``ligand.pos`` (N_l, T, 3) Å;
- ``residue.type`` (N_r,) long codes, ``residue.backbone`` (N_r, 3, 3) Å rows N, CA, C,
  ``residue.chain`` (N_r,) long;
- graph-level ``id`` (str) and ``dt_ps`` (float, ps between snapshots).

**Two residue vocabularies, on purpose.** The data tables know ``NUM_RESIDUE_TYPES`` = 24 codes
(MISATO's 0 ``MOL`` ... 22 ``VAL`` and the project's 23 ``UNK``): a record with another code is
invalid. The models embed residue types in ``RESIDUE_VOCABULARY`` = 32 rows: the 24 codes plus 8
spare rows, so that growing the table (e.g. non-standard amino acids) keeps the parameter shapes,
and every checkpoint trained so far, loadable. A layer therefore accepts codes below its embedding
size; a record must also lie inside the table.

Checks come at three levels, each raising one ``ValueError`` that names the complex (records) or
the input (tensors): :func:`validate_record` for a whole record (what readers and importers run),
:func:`check_trajectory` for what a dynamics model reads, :func:`check_atoms` and
:func:`check_backbone` for the tensors a layer receives.

>>> import torch
>>> from torch_geometric.data import HeteroData
>>> data = HeteroData()
>>> data["ligand"].z = torch.tensor([6, 8])
>>> node_batch(data, "ligand", "z")        # a single record: every atom in complex 0
tensor([0, 0])
>>> complex_name(data), RESIDUE_VOCABULARY >= NUM_RESIDUE_TYPES
('complex', True)
"""
from __future__ import annotations

import math
from typing import Any, Optional

import torch
from torch import Tensor

#: Node types of a record.
LIGAND, RESIDUE = "ligand", "residue"
#: Residue-type codes a record may hold: MISATO's 23 (0 = ligand 'MOL' ... 22 'VAL') plus 23 = 'UNK'
#: (``neuralmd.data.RESIDUE_NAMES`` lists them and checks its length against this number).
NUM_RESIDUE_TYPES = 24
#: Rows of the models' residue-type embeddings: the codes above plus 8 spare (module docstring).
RESIDUE_VOCABULARY = 32
#: Rows of the models' atom-type embeddings: atomic numbers 0..118.
ATOM_VOCABULARY = 119

#: A ligand whose atoms are all farther than this from every C-alpha in the first snapshot has left
#: the pocket; the same radius picks the pocket residues an export writes. C-alpha sit 2-5 Å behind
#: the side-chain atoms that touch a bound ligand, so a tighter cutoff would reject real complexes;
#: ligands that flew away (MISATO's 2BMV, 3LK1) are > 15 Å out.
POCKET_CUTOFF = 10.0
#: Largest believable displacement (Å) of a ligand atom between two consecutive snapshots. MISATO's
#: 80 ps snapshots move atoms by a few Å; a jump of tens of Å is a periodic-image wrap or a
#: corrupted frame, and would teach the model teleportation.
MAX_JUMP = 20.0
#: Largest believable time between snapshots (ps): 100 ns. Larger values come from time stamps in
#: other units (an XTC written with frame numbers or fs as "time", e.g. 6,000,000 ps).
MAX_DT_PS = 1.0e5


# ---------------------------------------------------------------------------------------------
# batch helpers


def complex_name(data: Any) -> str:
    """A short name of the complex(es) in ``data`` for error messages."""
    ident = getattr(data, "id", None)
    if ident is None:
        return "complex"
    if isinstance(ident, (list, tuple)):
        shown = ", ".join(map(str, ident[:4])) + (", ..." if len(ident) > 4 else "")
        return f"complexes [{shown}]"
    return f"complex {ident}"


def node_batch(data: Any, node_type: str, key: str) -> Tensor:
    """(N,) long complex index of every ``node_type`` node: ``data[node_type].batch`` when PyG
    made one, else rebuilt from the batch's slice offsets of attribute ``key`` (PyG skips the batch
    vector of a node type whose ``num_nodes`` it cannot infer), else zeros (a single record)."""
    from torch_geometric.data import Batch

    store = data[node_type]
    num = store[key].shape[0]
    device = store[key].device
    if "batch" in store:
        return store.batch
    slices = data._slice_dict if isinstance(data, Batch) else None
    if slices and node_type in slices and key in slices[node_type]:
        ptr = slices[node_type][key].to(device)
        return torch.repeat_interleave(torch.arange(ptr.numel() - 1, device=device), ptr.diff())
    return torch.zeros(num, dtype=torch.long, device=device)


def ligand_batch(data: Any) -> tuple[Tensor, int]:
    """(N_l,) complex index of every ligand atom and the number of complexes B.

    A single ``HeteroData`` is one complex (all zeros); a PyG ``Batch`` carries ``ligand.batch``.
    """
    batch = node_batch(data, LIGAND, "z")
    num = getattr(data, "num_graphs", None)
    if num is None:
        num = int(batch.max()) + 1 if batch.numel() else 1
    return batch, int(num)


# ---------------------------------------------------------------------------------------------
# checks of the tensors a layer receives


def all_finite(values: Tensor) -> bool:
    """Whether every entry is finite, by one reduction and one read to the host (a force field
    checks its positions at every evaluation): the float64 sum is NaN or infinite exactly when an
    entry is, since finite float32 coordinates cannot overflow it."""
    return math.isfinite(float(values.detach().sum(dtype=torch.float64))) if values.numel() else True


def check_atoms(
    z: Tensor, pos: Tensor, batch: Optional[Tensor], max_z: int, vec: Optional[Tensor] = None, what: str = "ligand"
) -> Tensor:
    """Raise one clear ``ValueError`` for wrong shapes, out-of-range types or non-finite positions;
    return the initial per-atom vector (``vec``, or zeros as in the paper)."""
    if z.dim() != 1 or z.dtype not in (torch.long, torch.int32, torch.int64):
        raise ValueError(f"{what}: z must be a 1-D integer tensor, got {tuple(z.shape)} {z.dtype}")
    if pos.shape != (z.shape[0], 3):
        raise ValueError(f"{what}: pos must have shape ({z.shape[0]}, 3), got {tuple(pos.shape)}")
    if z.numel() == 0:
        raise ValueError(f"{what}: no atoms")
    low, high = torch.stack(torch.aminmax(z)).tolist()  # one read to the host
    if low < 0 or high >= max_z:
        raise ValueError(f"{what}: atom types must lie in [0, {max_z}), got {low}..{high}")
    if not all_finite(pos):
        raise ValueError(f"{what}: positions contain NaN or infinite values")
    if batch is not None and batch.shape != z.shape:
        raise ValueError(f"{what}: batch must have shape {tuple(z.shape)}, got {tuple(batch.shape)}")
    if vec is None:
        return torch.zeros_like(pos)
    if vec.shape != pos.shape:
        raise ValueError(f"{what}: vec must have shape {tuple(pos.shape)}, got {tuple(vec.shape)}")
    return vec


def residue_type_problem(residue_type: Tensor, num_types: int) -> str | None:
    """What is wrong with residue codes (N_r,) for a vocabulary of ``num_types``, or None."""
    low, high = int(residue_type.min()), int(residue_type.max())
    if low < 0 or high >= num_types:
        return f"residue type codes must lie in [0, {num_types}), got {low}..{high}"
    return None


def check_backbone(residue_type: Tensor, backbone: Tensor, chain: Tensor, batch: Optional[Tensor],
                   num_types: int) -> None:
    """Raise one clear ``ValueError`` for a malformed protein (codes below ``num_types``)."""
    n = residue_type.shape[0] if residue_type.dim() == 1 else -1
    if n <= 0:
        raise ValueError(f"protein: residue type must be a non-empty 1-D tensor, got {tuple(residue_type.shape)}")
    if backbone.shape != (n, 3, 3):
        raise ValueError(f"protein: backbone must have shape ({n}, 3, 3) (rows N, CA, C), got {tuple(backbone.shape)}")
    if chain.shape != (n,):
        raise ValueError(f"protein: chain must have shape ({n},), got {tuple(chain.shape)}")
    if batch is not None and batch.shape != (n,):
        raise ValueError(f"protein: batch must have shape ({n},), got {tuple(batch.shape)}")
    problem = residue_type_problem(residue_type, num_types)
    if problem is not None:
        raise ValueError(f"protein: {problem}")
    if not torch.isfinite(backbone).all():
        raise ValueError("protein: backbone coordinates contain NaN or infinite values")


# ---------------------------------------------------------------------------------------------
# checks of a record


def check_trajectory(data: Any) -> Tensor:
    """Validate and return ``data["ligand"].pos`` (N_l, T, 3), what a dynamics model reads; one
    clear ValueError otherwise (shape, emptiness, finiteness, masses, one ``dt_ps`` per batch)."""
    lig = data[LIGAND]
    pos = getattr(lig, "pos", None)
    if pos is None or pos.dim() != 3 or pos.shape[-1] != 3:
        shape = None if pos is None else tuple(pos.shape)
        raise ValueError(f"{complex_name(data)}: ligand.pos must have shape (N_l, T, 3), got {shape}")
    if pos.shape[0] == 0:
        raise ValueError(f"{complex_name(data)}: empty ligand")
    if not torch.isfinite(pos).all():
        raise ValueError(f"{complex_name(data)}: ligand.pos contains NaN or inf")
    mass = getattr(lig, "mass", None)
    if mass is None or mass.shape != pos.shape[:1] or not (mass > 0).all():
        raise ValueError(f"{complex_name(data)}: ligand.mass must be (N_l,) positive amu")
    intervals = getattr(data, "dt_ps", None)
    if isinstance(intervals, Tensor) and intervals.numel() > 1 and not bool((intervals == intervals.flatten()[0]).all()):
        # Time inside the models is counted in snapshot intervals: one step must mean one duration.
        raise ValueError(f"{complex_name(data)}: complexes with different snapshot intervals in one batch "
                         f"(dt_ps {sorted(set(intervals.flatten().tolist()))}); batch complexes of one dt_ps")
    return pos


def record_problem(data: Any, pocket_cutoff: float | None = POCKET_CUTOFF) -> str | None:
    """The first thing wrong with the record ``data``, in words, or None (see :func:`validate_record`)."""
    try:
        z, pos = data[LIGAND].z, data[LIGAND].pos
        rtype, bb, chain = data[RESIDUE].type, data[RESIDUE].backbone, data[RESIDUE].chain
        mass = data[LIGAND].mass
    except (AttributeError, KeyError) as err:
        return f"missing field ({err})"
    if z.dim() != 1 or z.numel() == 0:
        return f"empty ligand (ligand.z has shape {tuple(z.shape)})"
    n_l = z.numel()
    if pos.dim() != 3 or pos.shape[0] != n_l or pos.shape[2] != 3 or pos.shape[1] == 0:
        return f"ligand.pos has shape {tuple(pos.shape)}, expected ({n_l}, T>=1, 3)"
    if mass.shape != (n_l,):
        return f"ligand.mass has shape {tuple(mass.shape)}, expected ({n_l},)"
    if int(z.min()) < 1:
        return f"ligand.z holds atomic number {int(z.min())} < 1"
    n_r = rtype.numel()
    if n_r == 0:
        return "no protein residues with a backbone"
    if rtype.shape != (n_r,) or bb.shape != (n_r, 3, 3) or chain.shape != (n_r,):
        return (f"residue shapes type {tuple(rtype.shape)}, backbone {tuple(bb.shape)}, "
                f"chain {tuple(chain.shape)}, expected ({n_r},), ({n_r}, 3, 3), ({n_r},)")
    if residue_type_problem(rtype, NUM_RESIDUE_TYPES) is not None:
        return f"residue.type outside 0..{NUM_RESIDUE_TYPES - 1}"
    if not torch.isfinite(pos).all():
        t = int((~torch.isfinite(pos)).any(-1).any(0).nonzero()[0])
        return f"NaN/inf ligand coordinates (first at snapshot {t})"
    if not torch.isfinite(bb).all():
        return "NaN/inf protein backbone coordinates"
    dt = getattr(data, "dt_ps", None)
    if isinstance(dt, bool) or not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        return f"dt_ps must be a positive number of picoseconds, got {dt!r}"
    if dt > MAX_DT_PS:
        return (f"dt_ps={dt:g} ps between snapshots is implausible (more than {MAX_DT_PS:g} ps); the "
                "trajectory's time stamps are probably not in ps: give the interval yourself (dt_ps=..., "
                "data.dt_ps=... with data=mdanalysis)")
    if pos.shape[1] > 1:
        step = (pos[:, 1:] - pos[:, :-1]).norm(dim=-1)          # (N_l, T - 1)
        if float(step.max()) > MAX_JUMP:
            atom, t = divmod(int(step.argmax()), step.shape[1])
            return (f"ligand atom {atom} jumps {float(step.max()):.1f} Å between snapshots {t} and {t + 1} "
                    f"(more than {MAX_JUMP:g} Å): a periodic-image wrap or a broken frame; make the molecule "
                    "whole / unwrap the trajectory first")
    if pocket_cutoff is not None:
        nearest = torch.cdist(pos[:, 0].double(), bb[:, 1].double()).min()
        if nearest > pocket_cutoff:
            return (f"ligand has left the pocket: nearest C-alpha is {float(nearest):.1f} Å away in the "
                    f"first snapshot (cutoff {pocket_cutoff} Å)")
    return None


def validate_record(data: Any, pocket_cutoff: float | None = POCKET_CUTOFF) -> Any:
    """Check a trajectory record; raise one ``ValueError`` naming the complex and the problem.

    Checks: non-empty ligand with atomic numbers, mass and positions of shape (N_l,), (N_l,),
    (N_l, T, 3); at least one residue with consistent (N_r,), (N_r, 3, 3), (N_r,) fields and codes
    below ``NUM_RESIDUE_TYPES``; finite coordinates; positive ``dt_ps`` of at most ``MAX_DT_PS``;
    no ligand atom moving more than ``MAX_JUMP`` Å between consecutive snapshots; some C-alpha
    within ``pocket_cutoff`` Å of a ligand atom in the first snapshot (``None`` skips that check).
    Returns ``data`` so calls can be chained.
    """
    problem = record_problem(data, pocket_cutoff)
    if problem is not None:
        raise ValueError(f"complex {getattr(data, 'id', '<no id>')!s}: {problem}")
    return data
