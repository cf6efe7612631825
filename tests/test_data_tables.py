"""The project's own MISATO code tables and periodic table, checked against MISATO's pickles and ASE."""
import pickle
from pathlib import Path

import pytest
import torch
from ase.data import atomic_masses as ase_masses, covalent_radii as ase_radii

from neuralmd.data import NUM_RESIDUE_TYPES, RESIDUE_NAMES, atomic_masses, residue_code
from neuralmd.data._tables import ATOM_TYPES, ELEMENT_CLASSES, UNKNOWN_RESIDUE, covalent_radius, element_number

MISATO = Path(__file__).resolve().parents[2] / "shared" / "data" / "misato"
needs_misato = pytest.mark.skipif(not MISATO.is_dir(), reason=f"MISATO reference files not found at {MISATO}")


def _pickle(name):
    with open(MISATO / name, "rb") as f:
        return pickle.load(f)


@needs_misato
def test_atom_type_codes_match_misato():
    assert ATOM_TYPES == _pickle("atoms_type_map.pickle")


@needs_misato
def test_residue_codes_match_misato():
    assert dict(enumerate(RESIDUE_NAMES[:-1])) == _pickle("atoms_residue_map.pickle")
    assert RESIDUE_NAMES[-1] == "UNK" and NUM_RESIDUE_TYPES == 24


@needs_misato
def test_element_classes_agree_with_misato_type_classes():
    # every atom type's coarse class in MISATO must be the class our table gives its element
    first_letter_z = {"c": 6, "h": 1, "n": 7, "o": 8, "f": 9, "p": 15, "s": 16, "i": 53}
    classes = _pickle("map_atomType_element_numbers.pickle")
    for code, type_name in ATOM_TYPES.items():
        key = type_name.lower().lstrip("0123456789")  # ff14SB also has carbon types 2C, 3C
        z = 17 if key == "cl" else 35 if key == "br" else first_letter_z[key[0]]
        assert ELEMENT_CLASSES[z] == classes[code], type_name


def test_masses_match_ase():
    z = torch.arange(1, 87)
    ours = atomic_masses(z).double()
    ref = torch.tensor(ase_masses[1:87])
    assert torch.allclose(ours, ref, atol=0.05), (ours - ref).abs().argmax() + 1
    assert atomic_masses(torch.tensor([6, 1, 8])).tolist() == pytest.approx([12.011, 1.008, 15.999])


def test_masses_reject_bad_atomic_numbers():
    with pytest.raises(ValueError, match="atomic numbers"):
        atomic_masses(torch.tensor([6, 0]))


def test_covalent_radii_match_ase():
    for z in (1, 6, 7, 8, 9, 15, 16, 17, 35, 53):
        assert covalent_radius(z) == pytest.approx(ase_radii[z], abs=0.02), z


@pytest.mark.parametrize("name, expected", [
    ("HIS", "HIE"), ("HID", "HIE"), ("HIP", "HIE"), ("HSD", "HIE"), ("HSE", "HIE"), ("HSP", "HIE"),
    ("CYX", "CYX"), ("CYS", "CYS"), ("CYM", "CYS"), ("ASH", "ASP"), ("GLH", "GLU"), ("LYN", "LYS"),
    ("MSE", "MET"), ("NALA", "ALA"), ("CGLY", "GLY"), ("ala", "ALA"), (" VAL ", "VAL"),
])
def test_residue_name_variants(name, expected):
    assert RESIDUE_NAMES[residue_code(name)] == expected


def test_unknown_residues_and_ligand_name():
    assert residue_code("XYZ") == UNKNOWN_RESIDUE
    assert residue_code("MOL") == UNKNOWN_RESIDUE  # the ligand code is never a residue type
    assert residue_code("NME") == UNKNOWN_RESIDUE


def test_element_symbols():
    assert [element_number(s) for s in ("C", "CL", "cl", "Br", "Xx", "")] == [6, 17, 17, 35, 0, 0]
