"""benchmarks/openmm_full.py: the ligand split from the complex PDB, and the speed-up table."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("openmm")
pytest.importorskip("rdkit")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import openmm_full  # noqa: E402


def _pdb_line(serial: int, name: str, resname: str, resnum: int, xyz, element: str) -> str:
    return (f"ATOM  {serial:5d} {name:<4s} {resname:3s} A{resnum:4d}    "
            f"{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00          {element:>2s}")


def test_split_complex_keeps_the_protein_and_types_the_ligand_from_its_smiles(tmp_path: Path) -> None:
    from rdkit import Chem
    from rdkit.Chem import AllChem

    xylene = Chem.AddHs(Chem.MolFromSmiles(openmm_full.SMILES))
    AllChem.EmbedMolecule(xylene, randomSeed=1)
    conf = xylene.GetConformer()
    lines = [_pdb_line(1, "CA", "ALA", 1, (20.0, 0.0, 0.0), "C")]
    for k, atom in enumerate(xylene.GetAtoms()):
        p = conf.GetAtomPosition(k)
        lines.append(_pdb_line(k + 2, f"{atom.GetSymbol()}{k}", openmm_full.LIGAND, 2, (p.x, p.y, p.z),
                               atom.GetSymbol()))
    pdb = tmp_path / "complex.pdb"
    pdb.write_text("\n".join(lines + ["END"]) + "\n")
    protein, ligand = openmm_full.split_complex(pdb, tmp_path / "work")
    assert [line[17:20] for line in protein.read_text().splitlines() if line.startswith("ATOM")] == ["ALA"]
    (mol,) = list(Chem.SDMolSupplier(str(ligand), removeHs=False))
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == Chem.MolToSmiles(Chem.MolFromSmiles(openmm_full.SMILES))
    assert mol.GetNumAtoms() == 18                                       # 8 C + 10 H
    import numpy as np

    kept = mol.GetConformer().GetPositions()[[a.GetAtomicNum() == 6 for a in mol.GetAtoms()]]
    posed = conf.GetPositions()[[a.GetAtomicNum() == 6 for a in xylene.GetAtoms()]]
    nearest = np.linalg.norm(posed[:, None] - kept[None], axis=-1).min(1)
    assert nearest.max() < 1e-3                                           # the posed heavy atoms stay (PDB's 3 decimals)


def test_speed_up_is_md_cpu_seconds_per_snapshot_times_model_snapshots_per_cpu_second() -> None:
    results = {"threads": 1, "md": [dict(system="box", atoms=26000, ns_per_cpu_day=2.5, cpu_s_per_snapshot=17.0)],
               "model": [dict(batch=1, fps_cpu=100.0), dict(batch=32, fps_cpu=500.0)]}
    table = openmm_full.markdown(results)
    assert "| box | 26,000 | 2.50 | 17.00 | 1,700x | 8,500x |" in table
