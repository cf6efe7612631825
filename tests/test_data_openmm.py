"""neuralmd.data.openmm: a tiny complex simulated for a few steps, and the message without OpenMM."""
import sys

import numpy as np
import pytest
import torch

from neuralmd.data import read_misato, synthetic_trajectories


def test_clear_message_without_openmm(monkeypatch):
    from neuralmd.data import openmm as nmd_openmm

    monkeypatch.setitem(sys.modules, "openmm", None)  # makes "import openmm" fail
    with pytest.raises(ImportError, match=r"pip install 'neuralmd\[openmm\]'"):
        nmd_openmm.simulate(None, None, None)


def _tiny_complex(openmm):
    """Four Ala backbones (N, CA, C) and a four-carbon ligand with harmonic bonds and LJ contacts."""
    app = pytest.importorskip("openmm.app")
    rec = synthetic_trajectories(1, seed=6, n_snapshots=1, residues=(30, 30), ligand_atoms=(10, 10))[0]
    bb = rec["residue"].backbone[:4].double().numpy().reshape(-1, 3)
    lig = rec["ligand"].pos[:4, 0].double().numpy()
    lig = lig - lig.mean(0) + bb.mean(0) + np.array([0.0, 0.0, 4.0])
    top = app.Topology()
    chain = top.addChain()
    for i in range(4):
        res = top.addResidue("ALA", chain)
        for name, el in (("N", "N"), ("CA", "C"), ("C", "C")):
            top.addAtom(name, app.Element.getBySymbol(el), res)
    res = top.addResidue("LIG", top.addChain())
    for i in range(4):
        top.addAtom(f"C{i}", app.Element.getBySymbol("C"), res)
    system = openmm.System()
    for atom in top.atoms():
        system.addParticle(atom.element.mass)
    bonds = openmm.HarmonicBondForce()
    for i in range(12, 15):
        r0 = np.linalg.norm(lig[i - 12] - lig[i - 11]) / 10.0
        bonds.addBond(i, i + 1, r0, 2.0e5)
    system.addForce(bonds)
    lj = openmm.NonbondedForce()
    lj.setNonbondedMethod(openmm.NonbondedForce.NoCutoff)
    for _ in range(16):
        lj.addParticle(0.0, 0.30, 0.4)
    for i in range(12, 15):
        lj.addException(i, i + 1, 0.0, 0.1, 0.0)
    system.addForce(lj)
    return system, top, np.concatenate([bb, lig]) / 10.0, bb, lig


@pytest.mark.parametrize("fix_protein", [True, False])
def test_tiny_complex_runs_and_round_trips(tmp_path, fix_protein):
    openmm = pytest.importorskip("openmm")
    from neuralmd.data.openmm import simulate

    system, top, positions, bb, lig = _tiny_complex(openmm)
    data = simulate(system, top, positions, n_snapshots=4, steps_per_snapshot=10, timestep_fs=1.0,
                    fix_protein=fix_protein, minimize=False, id="TINY", platform="Reference",
                    path=tmp_path / "md.h5")
    assert data["ligand"].z.tolist() == [6, 6, 6, 6] and data.dt_ps == pytest.approx(0.01)
    pos = data["ligand"].pos.double()
    assert pos.shape == (4, 4, 3) and torch.isfinite(pos).all()
    assert torch.allclose(pos[:, 0], torch.from_numpy(lig), atol=1e-4)
    assert (pos[:, -1] - pos[:, 0]).norm(dim=-1).mean() > 1e-3  # the ligand moved
    assert torch.allclose(data["residue"].backbone.double(), torch.from_numpy(bb.reshape(4, 3, 3)), atol=1e-4)
    assert [int(t) for t in data["residue"].type] == [2, 2, 2, 2]
    # the caller's System is left as it was; freezing happens on a copy
    assert system.getParticleMass(0).value_in_unit(openmm.unit.dalton) > 0.0
    back = read_misato(tmp_path / "md.h5", "TINY")
    assert torch.equal(back["ligand"].pos, data["ligand"].pos)


def test_missing_ligand_is_reported():
    openmm = pytest.importorskip("openmm")
    from neuralmd.data.openmm import simulate

    system, top, positions, _, _ = _tiny_complex(openmm)
    with pytest.raises(ValueError, match="complex TINY: no residue named 'XYZ'"):
        simulate(system, top, positions, ligand="XYZ", id="TINY")
