"""Code tables of the MISATO format and a small periodic table (masses; covalent radii come from
``neuralmd._elements``, the one radii table of the package).

The numbers live in ``tables/misato.json`` (package data) so that they can be read and checked
without running Python; this module turns them into lookups.
"""
from __future__ import annotations

import json
from importlib import resources

import torch

from .._elements import COVALENT_RADII
from .._format import NUM_RESIDUE_TYPES

_RAW = json.loads(resources.files("neuralmd.data").joinpath("tables/misato.json").read_text())

#: MISATO ``atoms_type`` code -> Amber/GAFF atom-type string (codes start at 1).
ATOM_TYPES: dict[int, str] = {int(k): v for k, v in _RAW["atom_types"].items()}
ATOM_TYPE_CODES: dict[str, int] = {v: k for k, v in ATOM_TYPES.items()}

#: ``residue.type`` vocabulary: index = MISATO ``atoms_residue`` code (0 is the ligand, 'MOL'),
#: plus one project code, 23 = 'UNK', for amino acids MISATO has no code for.
RESIDUE_NAMES: tuple[str, ...] = tuple(_RAW["residues"][str(i)] for i in range(len(_RAW["residues"]))) + ("UNK",)
if len(RESIDUE_NAMES) != NUM_RESIDUE_TYPES:   # the format fixes the count; the table must fill it
    raise ImportError(f"tables/misato.json gives {len(RESIDUE_NAMES)} residue names, the record format "
                      f"(neuralmd._format.NUM_RESIDUE_TYPES) {NUM_RESIDUE_TYPES}")
UNKNOWN_RESIDUE: int = NUM_RESIDUE_TYPES - 1
LIGAND_RESIDUE: int = 0

#: MISATO's coarse element class (its ``atoms_element``), keyed by atomic number; 0 = other.
ELEMENT_CLASSES: dict[int, int] = {int(k): v for k, v in _RAW["element_classes"].items()}

SYMBOLS: tuple[str, ...] = tuple(_RAW["symbols"])
_MASSES = torch.tensor([0.0] + _RAW["masses"], dtype=torch.float32)  # index 0 unused: z starts at 1
_DEFAULT_RADIUS = 1.5  # Å; for atomic numbers beyond the table

# Force-field and simulation-package spellings of the same amino acid; MISATO itself uses Amber's
# names with every histidine written HIE, so all protonation variants collapse onto one code.
_ALIASES = {
    "HIS": "HIE", "HID": "HIE", "HIP": "HIE", "HSD": "HIE", "HSE": "HIE", "HSP": "HIE", "HIE": "HIE",
    "CYM": "CYS", "ASH": "ASP", "GLH": "GLU", "LYN": "LYS", "MSE": "MET",
}


def residue_code(name: str) -> int:
    """Residue-type code for a residue name as MDAnalysis, OpenMM, GROMACS or CHARMM spell it.

    Amber's terminal variants (``NALA``, ``CGLY``) map to their amino acid; unknown names map to
    ``UNKNOWN_RESIDUE``.
    """
    name = name.strip().upper()
    name = _ALIASES.get(name, name)
    if name in RESIDUE_NAMES[1:-1]:
        return RESIDUE_NAMES.index(name)
    if len(name) == 4 and name[0] in "NC":
        return residue_code(name[1:])
    return UNKNOWN_RESIDUE


def atomic_masses(z: torch.Tensor) -> torch.Tensor:
    """Standard atomic weights (amu, float32) for atomic numbers ``z`` of any shape, 1 <= z <= 86."""
    z = torch.as_tensor(z, dtype=torch.long)
    if z.numel() and (int(z.min()) < 1 or int(z.max()) >= len(_MASSES)):
        raise ValueError(f"atomic numbers must lie in 1..{len(_MASSES) - 1}, got {z.min()}..{z.max()}")
    return _MASSES[z]


def covalent_radius(z: int) -> float:
    """Single-bond covalent radius in Å of element ``z`` (a generic 1.5 Å where not tabulated)."""
    z = int(z)
    return COVALENT_RADII[z] if 1 <= z < len(COVALENT_RADII) else _DEFAULT_RADIUS


def element_number(symbol: str) -> int:
    """Atomic number of an element symbol, case-insensitive ('CL', 'Cl', 'cl' -> 17); 0 if unknown."""
    key = symbol.strip().capitalize()
    return SYMBOLS.index(key) + 1 if key in SYMBOLS else 0
