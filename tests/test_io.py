"""ASE export: atoms, pocket selection, tags, and files read back by ``ase.io.read``."""
from __future__ import annotations

import ase.io
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, HeteroData

from neuralmd.io import LIGAND_TAG, PROTEIN_TAG, ligand_bonds, to_ase, write_trajectory


def record(steps: int = 3) -> HeteroData:
    """Ligand C, N, O near the origin drifting +0.1 Å/snapshot in x; 3 residues with C-alpha at
    x = 2, 8 and 30 Å (on the x axis), so a 10 Å pocket around the first snapshot holds 2 of them."""
    data = HeteroData()
    data["ligand"].z = torch.tensor([6, 7, 8])
    data["ligand"].mass = torch.tensor([12.011, 14.007, 15.999])
    base = torch.tensor([[0.0, 0.0, 0.0], [1.4, 0.0, 0.0], [0.0, 1.2, 0.0]])
    drift = torch.arange(steps, dtype=torch.float32)[:, None] * torch.tensor([0.1, 0.0, 0.0])
    data["ligand"].pos = (base[:, None] + drift[None]).float()            # (N_l, T, 3)
    ca = torch.tensor([[2.0, 0.0, 0.0], [8.0, 0.0, 0.0], [30.0, 0.0, 0.0]])
    offsets = torch.tensor([[-1.0, 0.5, 0.0], [0.0, 0.0, 0.0], [1.0, 0.5, 0.0]])  # N, CA, C
    data["residue"].backbone = ca[:, None] + offsets[None]                # (N_r, 3, 3)
    data["residue"].type = torch.tensor([0, 5, 9])
    data["residue"].chain = torch.zeros(3, dtype=torch.long)
    data.id = "TEST"
    data.dt_ps = 80.0
    return data


def test_to_ase_from_record_with_pocket():
    data = record()
    frames = to_ase(data)
    assert len(frames) == 3
    atoms = frames[2]
    # 3 ligand atoms + 2 pocket residues x (N, CA, C).
    assert atoms.get_chemical_symbols() == ["C", "N", "O", "N", "C", "C", "N", "C", "C"]
    np.testing.assert_allclose(atoms.positions[:3], data["ligand"].pos[:, 2].numpy(), atol=1e-6)
    np.testing.assert_allclose(atoms.positions[3:], data["residue"].backbone[:2].reshape(-1, 3))
    assert atoms.get_tags().tolist() == [LIGAND_TAG] * 3 + [PROTEIN_TAG] * 6
    assert atoms.get_array("residuenumbers").tolist() == [4, 4, 4, 1, 1, 1, 2, 2, 2]
    assert atoms.get_array("atomtypes")[3:6].tolist() == ["N", "CA", "C"]
    np.testing.assert_allclose(atoms.get_masses()[:3], [12.011, 14.007, 15.999], rtol=1e-6)
    assert atoms.info["id"] == "TEST" and atoms.info["time_ps"] == pytest.approx(160.0)


def test_protein_choices_and_cutoff():
    data = record()
    assert len(to_ase(data, protein="backbone")[0]) == 3 + 9
    assert len(to_ase(data, protein="none")[0]) == 3
    # The C-alpha at x = 2 is 0.6 Å from the nearest ligand atom, N at (1.4, 0, 0); the next
    # one, at x = 8, is 6.6 Å away.
    assert len(to_ase(data, pocket_cutoff=0.61)[0]) == 3 + 3
    assert len(to_ase(data, pocket_cutoff=6.59)[0]) == 3 + 3
    assert len(to_ase(data, pocket_cutoff=6.61)[0]) == 3 + 6
    with pytest.raises(ValueError, match="TEST: no residue"):
        to_ase(data, pocket_cutoff=0.59)


def test_pocket_is_taken_from_the_first_exported_snapshot():
    data = record()
    traj = data["ligand"].pos.transpose(0, 1).clone()
    traj[0] += torch.tensor([25.0, 0.0, 0.0])          # starts next to the residue at x = 30
    frames = to_ase(data, traj)
    # Nearest C-alpha distances at t = 0: 23, 17 and 3.6 Å, so only the third residue is kept.
    assert frames[0].get_array("residuenumbers")[3:].tolist() == [3, 3, 3]
    assert len({len(a) for a in frames}) == 1          # the pocket does not change over time


def test_to_ase_uses_given_trajectory():
    data = record()
    traj = torch.randn(5, 3, 3)
    frames = to_ase(data, traj, protein="none")
    assert len(frames) == 5
    np.testing.assert_allclose(frames[4].positions, traj[4].numpy(), atol=1e-6)


@pytest.mark.parametrize("suffix, decimals", [(".traj", 6), (".xyz", 5), (".pdb", 3)])
def test_files_read_back(tmp_path, suffix, decimals):
    data = record(steps=4)
    traj = torch.randn(4, 3, 3) * 3
    path = write_trajectory(tmp_path / f"out{suffix}", data, traj, protein="backbone")
    frames = ase.io.read(path, index=":")
    assert len(frames) == 4
    assert all(len(a) == 3 + 9 for a in frames)
    assert frames[0].get_chemical_symbols()[:3] == ["C", "N", "O"]
    for t, atoms in enumerate(frames):
        np.testing.assert_allclose(atoms.positions[:3], traj[t].numpy(), atol=10.0**-decimals)
        np.testing.assert_allclose(atoms.positions[3:], data["residue"].backbone.reshape(-1, 3),
                                   atol=10.0**-decimals)


def test_tags_survive_traj_and_extxyz(tmp_path):
    data = record()
    for suffix in (".traj", ".xyz"):
        frames = ase.io.read(write_trajectory(tmp_path / f"t{suffix}", data), index=":")
        assert frames[1].get_tags().tolist() == [LIGAND_TAG] * 3 + [PROTEIN_TAG] * 6


def test_bad_input_raises(tmp_path):
    data = record()
    with pytest.raises(ValueError, match="unknown extension '.mol2'"):
        write_trajectory(tmp_path / "out.mol2", data)
    with pytest.raises(ValueError, match=r"TEST: traj must have shape \(T, 3, 3\)"):
        to_ase(data, torch.zeros(4, 2, 3))
    with pytest.raises(ValueError, match="protein must be"):
        to_ase(data, protein="all")
    bad = torch.zeros(2, 3, 3)
    bad[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        to_ase(data, bad)
    with pytest.raises(ValueError, match="one complex"):
        to_ase(Batch.from_data_list([record(), record()]))
    del data["residue"].backbone
    with pytest.raises(ValueError, match="needs residue.backbone"):
        to_ase(data)
    assert len(to_ase(data, protein="none")) == 3


def test_pdb_has_residue_names_chains_unique_ligand_names_and_conect(tmp_path):
    import MDAnalysis as mda
    data = record()
    data["residue"].chain = torch.tensor([0, 0, 1])
    path = write_trajectory(tmp_path / "out.pdb", data, protein="backbone")
    u = mda.Universe(str(path))
    assert len(u.trajectory) == 3
    ligand, protein = u.select_atoms("resname LIG"), u.select_atoms("not resname LIG")
    assert list(ligand.names) == ["C1", "N1", "O1"] and set(ligand.record_types) == {"HETATM"}
    assert list(protein.residues.resnames) == ["MOL", "ASP", "GLU"]     # residue.type 0, 5, 9
    assert list(protein.residues.resids) == [1, 2, 3]
    assert list(protein.atoms.chainIDs) == ["A"] * 6 + ["B"] * 3 and set(ligand.chainIDs) == {"C"}
    # C-N 1.4 Å and C-O 1.2 Å are bonds; N-O 1.84 Å is not
    assert sorted(tuple(sorted(b.indices)) for b in ligand.bonds) == [(0, 1), (0, 2)]
    np.testing.assert_allclose(u.trajectory[2].positions[:3], data["ligand"].pos[:, 2].numpy(), atol=1e-3)
    frames = ase.io.read(path, index=":")                   # ASE: same frames, no cell, names kept
    assert len(frames) == 3 and not frames[0].pbc.any()
    assert list(frames[0].get_array("residuenames")[:4]) == ["LIG", "LIG", "LIG", "MOL"]


@pytest.mark.parametrize("suffix", [".dcd", ".xtc"])
def test_dcd_and_xtc_hold_the_trajectory_for_the_pdb_topology(tmp_path, suffix):
    import MDAnalysis as mda
    data = record(steps=5)
    traj = torch.randn(5, 3, 3) * 3
    topology = write_trajectory(tmp_path / "t.pdb", data, traj)
    coordinates = write_trajectory(tmp_path / f"t{suffix}", data, traj)
    u = mda.Universe(str(topology), str(coordinates))
    assert len(u.trajectory) == 5
    for t, ts in enumerate(u.trajectory):
        np.testing.assert_allclose(ts.positions[:3], traj[t].numpy(), atol=2e-3)
    assert u.trajectory.dt == pytest.approx(80.0)


def test_ligand_bonds_from_covalent_radii():
    pos = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [5.0, 0.0, 0.0]])
    assert ligand_bonds(np.array([6, 6, 6]), pos) == [(0, 1)]
