"""from_mdanalysis on a small protein-ligand trajectory (PDB + DCD) that the test writes itself."""
import warnings

import numpy as np
import pytest
import torch

mda = pytest.importorskip("MDAnalysis")

from neuralmd.data import RESIDUE_NAMES, from_mdanalysis, synthetic_trajectories  # noqa: E402

RESNAMES = ["HID", "HSE", "CYX", "ALA", "NGLY", "HIP"]  # force-field spellings, one per residue
LIGAND = [("C1", "C"), ("C2", "C"), ("N1", "N"), ("O1", "O"), ("CL1", "Cl"), ("H1", "H")]


def _random_rotation(rng):
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.linalg.det(q)


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """Two chains of three residues (N, CA, C, O) and a six-atom ligand; every frame of the DCD is
    the true frame moved by a random rigid motion, as an unaligned MD trajectory would be."""
    rec = synthetic_trajectories(1, seed=4, n_snapshots=5, residues=(30, 30))[0]
    bb = rec["residue"].backbone[:6].double().numpy()
    lig = rec["ligand"].pos[:6].double().numpy()  # (6, T, 3); its last atom plays a hydrogen
    lig = lig - lig[:, 0].mean(0) + bb[:, 1].mean(0)  # in the middle of the six residues
    n_prot = 6 * 4
    u = mda.Universe.empty(n_prot + len(LIGAND), n_residues=7, n_segments=2,
                           atom_resindex=np.r_[np.repeat(np.arange(6), 4), np.full(len(LIGAND), 6)],
                           residue_segindex=[0, 0, 0, 1, 1, 1, 1], trajectory=True)
    u.add_TopologyAttr("names", ["N", "CA", "C", "O"] * 6 + [n for n, _ in LIGAND])
    u.add_TopologyAttr("elements", ["N", "C", "C", "O"] * 6 + [e for _, e in LIGAND])
    u.add_TopologyAttr("resnames", RESNAMES + ["LIG"])
    u.add_TopologyAttr("resids", [1, 2, 3, 1, 2, 3, 4])
    u.add_TopologyAttr("segids", ["A", "B"])
    u.add_TopologyAttr("chainIDs", ["A"] * 12 + ["B"] * 12 + ["B"] * len(LIGAND))
    oxygens = bb[:, 2] + 1.23 * (bb[:, 2] - bb[:, 1]) / np.linalg.norm(bb[:, 2] - bb[:, 1], axis=1)[:, None]
    protein = np.concatenate([bb, oxygens[:, None]], axis=1).reshape(-1, 3)
    rng = np.random.default_rng(0)
    tmp = tmp_path_factory.mktemp("mda")
    frames = []
    for t in range(lig.shape[1]):
        r, shift = (np.eye(3), np.zeros(3)) if t == 0 else (_random_rotation(rng), rng.normal(0, 5, 3))
        frames.append(np.concatenate([protein, lig[:, t]]) @ r.T + shift)
    u.atoms.positions = frames[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PDB writer warns about the attributes it fills in
        u.atoms.write(tmp / "top.pdb")
        with mda.Writer(str(tmp / "traj.dcd"), u.atoms.n_atoms, dt=2.5) as w:
            for xyz in frames:
                u.atoms.positions = xyz
                w.write(u.atoms)
    return tmp, bb, lig


def test_superimposes_on_the_protein_and_keeps_heavy_atoms(system):
    tmp, bb, lig = system
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = from_mdanalysis(tmp / "top.pdb", tmp / "traj.dcd")
    assert data.id == "top" and data.dt_ps == pytest.approx(2.5, rel=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert from_mdanalysis(tmp / "top.pdb", tmp / "traj.dcd", dt_ps=0.04).dt_ps == 0.04   # given by the user
    assert data["ligand"].z.tolist() == [6, 6, 7, 8, 17]
    assert torch.allclose(data["ligand"].pos.double(), torch.from_numpy(lig[:5]), atol=2e-3)
    assert torch.allclose(data["residue"].backbone.double(), torch.from_numpy(bb), atol=2e-3)
    assert data["residue"].chain.tolist() == [0, 0, 0, 1, 1, 1]
    assert [RESIDUE_NAMES[t] for t in data["residue"].type] == ["HIE", "HIE", "CYX", "ALA", "GLY", "HIE"]


def test_options_and_errors(system):
    tmp, _, lig = system
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(str(tmp / "top.pdb"), str(tmp / "traj.dcd"))
        data = from_mdanalysis(u, ligand=None, protein=None, hydrogens=True, step=2, id="mine")
        assert data.id == "mine" and data["ligand"].z.tolist()[-1] == 1
        assert data["ligand"].pos.shape == (6, 3, 3) and data.dt_ps == pytest.approx(5.0, rel=1e-4)
        with pytest.raises(ValueError, match="complex top: ligand selection 'resname XYZ' matched no"):
            from_mdanalysis(tmp / "top.pdb", tmp / "traj.dcd", ligand="resname XYZ")
        with pytest.raises(ValueError, match="complex top: protein selection .* no residue"):
            from_mdanalysis(tmp / "top.pdb", tmp / "traj.dcd", protein="resname LIG")
