"""Residues and backbone from MISATO's flat per-atom arrays.

MISATO stores no residue boundaries. Atoms of one residue are contiguous and follow the Amber
templates: a residue starts with its backbone N (type N, or N3 at an N-terminus) and ends with the
backbone C and O (C, O2, O2 at a C-terminus); its C-alpha is the only atom of type CX. Side-chain
amides (Asn, Gln) also contain a C-O-N run, so the boundary before C-alpha k is taken as the *last*
N/N3 directly after an O/O2 between C-alpha k-1 and C-alpha k: nothing between a residue's N and
its C-alpha (at most Pro's ring) has that pattern.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._tables import ATOM_TYPE_CODES, UNKNOWN_RESIDUE, NUM_RESIDUE_TYPES

_CA = ATOM_TYPE_CODES["CX"]
_C = ATOM_TYPE_CODES["C"]
_N = (ATOM_TYPE_CODES["N"], ATOM_TYPE_CODES["N3"])
_O = (ATOM_TYPE_CODES["O"], ATOM_TYPE_CODES["O2"])


@dataclass
class ProteinAtoms:
    """Backbone atom indices of the residues found: ``n``, ``ca``, ``c``, ``type``, ``chain`` (N_r,)."""

    n: np.ndarray
    ca: np.ndarray
    c: np.ndarray
    type: np.ndarray
    chain: np.ndarray


def parse_protein(atom_type: np.ndarray, atom_residue: np.ndarray,
                  molecule_bounds: list[tuple[int, int]]) -> ProteinAtoms:
    """Find N, CA, C of every residue in the given ``[begin, end)`` atom ranges, one chain each.

    A molecule without any C-alpha (a cofactor) gives no chain; residues whose N or C cannot be
    found (truncated by the experiment) are left out. Chain ids are consecutive from 0.
    """
    atom_type = np.asarray(atom_type)
    is_n = np.isin(atom_type, _N)
    after_o = np.zeros_like(is_n)
    after_o[1:] = np.isin(atom_type[:-1], _O)
    out: dict[str, list[int]] = {k: [] for k in ("n", "ca", "c", "type", "chain")}
    chain = 0
    for begin, end in molecule_bounds:
        cas = begin + np.flatnonzero(atom_type[begin:end] == _CA)
        if len(cas) == 0:
            continue
        at_begin = np.arange(begin, end) == begin
        starts = np.flatnonzero(is_n[begin:end] & (after_o[begin:end] | at_begin)) + begin
        # start of residue k: the last candidate at or before its C-alpha (and after the previous one)
        pos = np.searchsorted(starts, cas, side="right") - 1
        found = 0
        for k, ca in enumerate(cas):
            lo = cas[k - 1] if k else begin - 1
            hi = cas[k + 1] if k + 1 < len(cas) else end
            if pos[k] < 0 or starts[pos[k]] <= lo:
                continue
            # the residue ends where the next one starts; its backbone C is the last C before that end
            nxt = np.searchsorted(starts, hi, side="right") - 1
            stop = starts[nxt] if k + 1 < len(cas) and starts[nxt] > ca else end
            c_atoms = ca + 1 + np.flatnonzero(atom_type[ca + 1 : stop] == _C)
            if len(c_atoms) == 0:
                continue
            code = int(atom_residue[ca])
            out["n"].append(int(starts[pos[k]]))
            out["ca"].append(int(ca))
            out["c"].append(int(c_atoms[-1]))
            out["type"].append(code if 0 < code < NUM_RESIDUE_TYPES else UNKNOWN_RESIDUE)
            out["chain"].append(chain)
            found += 1
        chain += found > 0
    return ProteinAtoms(**{k: np.asarray(v, dtype=np.int64) for k, v in out.items()})
