"""Simulating from PDB + SDF: the pure parts (PDB checks, caps, disulfides, names, options) run
everywhere; RDKit, AmberTools and OpenMM parts skip with the reason when those are absent."""
import shutil

import numpy as np
import pytest

from neuralmd.data import _amber_prep as prep
from neuralmd.data.openmm import simulate_structures


def _pdb_line(serial, name, resname, resnum, xyz, chain=" "):
    padded = name if len(name) == 4 else f" {name:<3s}"
    return f"ATOM  {serial:5d} {padded} {resname:>3s} {chain}{resnum:4d}    {xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00"


def _write_pdb(path, residues):
    """residues: [(resname, chain, [(atom name, xyz)])]; residue numbers from 1."""
    lines, serial = [], 1
    for num, (resname, chain, atoms) in enumerate(residues, 1):
        for name, xyz in atoms:
            lines.append(_pdb_line(serial, name, resname, num, xyz, chain))
            serial += 1
    path.write_text("\n".join(lines) + "\nEND\n")
    return path


def _backbone(x0, prefix=()):
    return list(prefix) + [("N", (x0, 0, 0)), ("CA", (x0 + 1.45, 0, 0)), ("C", (x0 + 2.0, 1.4, 0)), ("O", (x0 + 1.4, 2.4, 0))]


def test_caps_are_renamed_to_amber_and_water_dropped(tmp_path):
    ace = [("HH31", (0, 0, 1)), ("CH3", (0, 0, 0)), ("HH32", (0, 1, 0)), ("HH33", (1, 0, 0)), ("C", (-1, 0, 0)), ("O", (-1, 1, 0))]
    nme = [("N", (9, 0, 0)), ("H", (9, 1, 0)), ("CH3", (10, 0, 0)), ("HH31", (10, 1, 0)), ("HH32", (11, 0, 0)), ("HH33", (10, 0, 1))]
    pdb = _write_pdb(tmp_path / "p.pdb", [("ACE", "A", ace), ("ALA", "A", _backbone(0.3)), ("NME", "A", nme),
                                            ("HOH", "A", [("O", (20, 20, 20))]), ("HOH", "A", [("O", (25, 20, 20))])])
    protein = prep.read_protein_pdb(pdb)
    names = [(line[17:20], line[12:16].strip()) for line in protein.text.splitlines() if line.startswith("ATOM")]
    assert ("ACE", "H1") in names and ("ACE", "H3") in names and ("ACE", "CH3") in names
    assert ("NME", "C") in names and ("NME", "H2") in names and ("NME", "CH3") not in names
    assert not any(r == "HOH" for r, _ in names)
    assert protein.dropped == {"HOH": 2} and protein.residues == 3
    # every rewritten line keeps the PDB columns: coordinates read back unchanged
    first = next(line for line in protein.text.splitlines() if line.startswith("ATOM"))
    assert float(first[30:38]) == 0.0 and float(first[46:54]) == 1.0


def test_disulfides_become_cyx_and_chain_breaks_get_ter(tmp_path):
    cys1 = _backbone(0.0) + [("SG", (1.0, -2.0, 0.0))]
    cys2 = _backbone(2.0 + 1.33) + [("SG", (1.0, -2.0, 2.05))]   # peptide-bonded to residue 1
    far = _backbone(20.0)                                           # 14 Å gap: a chain break
    protein = prep.read_protein_pdb(_write_pdb(tmp_path / "p.pdb", [("CYS", "A", cys1), ("CYS", "A", cys2), ("GLY", "A", far)]))
    assert protein.disulfides == [(1, 2)]
    body = protein.text.splitlines()
    assert sum(line[17:20] == "CYX" for line in body) == 10
    gly = next(i for i, line in enumerate(body) if line[17:20] == "GLY")
    assert body[gly - 1] == "TER" and body[:gly].count("TER") == 1
    script = prep.leap_script(protein)
    assert "bond P.1.SG P.2.SG" in script and "phosaa" not in script


def test_solvent_padding_adds_a_neutralised_water_box_after_the_complex(tmp_path):
    protein = prep.read_protein_pdb(_write_pdb(tmp_path / "p.pdb", [("GLY", "A", _backbone(0.0))]))
    assert "TIP3P" not in prep.leap_script(protein).upper()
    lines = prep.leap_script(protein, solvent_padding=10.0).splitlines()
    order = [lines.index(x) for x in ("source leaprc.water.tip3p", "C = combine {P LIG}", "solvatebox C TIP3PBOX 10",
                                      "addions C Na+ 0", "addions C Cl- 0", "saveamberparm C complex.prmtop complex.inpcrd")]
    assert order == sorted(order)


def test_phosphothreonine_loads_phosaa(tmp_path):
    tpo = _backbone(0.0) + [("P", (1, -3, 0))]
    protein = prep.read_protein_pdb(_write_pdb(tmp_path / "p.pdb", [("TPO", "A", tpo)]))
    assert protein.phospho == ["TPO"]
    assert "source leaprc.phosaa14SB" in prep.leap_script(protein)


def test_unknown_residues_and_bad_files_are_refused(tmp_path):
    pdb = _write_pdb(tmp_path / "p.pdb", [("ALA", "A", _backbone(0)), ("HEM", "A", [("FE", (5, 5, 5))]),
                                          ("ZN", "A", [("ZN", (9, 9, 9))])])
    with pytest.raises(ValueError, match=r"p.pdb: residue\(s\) HEM, ZN have no Amber ff14SB"):
        prep.read_protein_pdb(pdb)
    with pytest.raises(ValueError, match="no such file"):
        prep.read_protein_pdb(tmp_path / "missing.pdb")
    (tmp_path / "empty.pdb").write_text("REMARK nothing\nEND\n")
    with pytest.raises(ValueError, match="empty.pdb: no ATOM/HETATM records"):
        prep.read_protein_pdb(tmp_path / "empty.pdb")


def test_ligand_names_are_sanitised():
    assert prep.sanitize_name("CAT-13f") == "CAT_13f"
    assert prep.sanitize_name(" p38a 2n ") == "p38a_2n"
    assert prep.sanitize_name("18629-1") == "18629_1"
    assert prep.sanitize_name("---") == "___" and prep.sanitize_name("") == "ligand"


def test_missing_tools_are_named(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None if name in ("tleap", "sqm") else "/bin/true")
    with pytest.raises(prep.ToolMissingError, match=r"missing: sqm, tleap.*pip install 'neuralmd\[openmm\]'"):
        prep.require_tools()


@pytest.mark.parametrize("options, message", [
    ({"implicit_solvent": "GBX"}, "implicit_solvent must be one of"),
    ({"pocket": 6.0, "fix_protein": False}, "a truncated pocket must be held fixed"),
    ({"pocket": -1.0}, "pocket must be a positive radius"),
    ({"snapshots": 0}, "snapshots must be a positive integer"),
    ({"interval_steps": 2.5}, "interval_steps must be a positive integer"),
    ({"equilibration_steps": -1}, "equilibration_steps must be a non-negative integer"),
    ({"timestep_fs": 4.0}, "a 4.0 fs step needs hydrogen mass repartitioning"),
    ({"timestep_fs": 4.0, "hydrogen_mass": 9.0}, "hydrogen_mass must be between 1 and 5"),
    ({"temperature": 0.0}, "must be positive"),
])
def test_bad_options_fail_before_any_tool_runs(tmp_path, options, message):
    # the files do not exist: the options are checked first, with no tool or package needed
    with pytest.raises(ValueError, match=message):
        simulate_structures(tmp_path / "p.pdb", tmp_path / "l.sdf", **options)


# --- RDKit ------------------------------------------------------------------------------------

_ETHANOL_NO_H = """ethanol-1
     RDKit          3D

  3  2  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.5200    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    2.0300    1.3400    0.5000 O   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  2  3  1  0
M  END
$$$$
"""


def test_ligand_gets_hydrogens_charge_and_name(tmp_path, monkeypatch):
    pytest.importorskip("rdkit", reason="RDKit is part of the optional extra 'openmm'")
    monkeypatch.setattr(shutil, "which", lambda name: "/bin/true")  # reading needs no AmberTools program
    ethoxide = _ETHANOL_NO_H.replace("ethanol-1", "ethoxide").replace("M  END", "M  CHG  1   3  -1\nM  END")
    sdf = tmp_path / "l.sdf"
    sdf.write_text(_ETHANOL_NO_H + ethoxide)
    lig = prep.read_ligand(sdf)
    assert lig.name == "ethanol_1" and lig.charge == 0 and lig.added_hydrogens == 6
    assert lig.mol.GetNumAtoms() == 9
    charged = prep.read_ligand(sdf, ligand="ethoxide")
    assert charged.charge == -1 and charged.added_hydrogens == 5
    with pytest.raises(ValueError, match="molecule 5 requested, the file has 2"):
        prep.read_ligand(sdf, ligand=5)
    with pytest.raises(ValueError, match="no molecule named 'x'"):
        prep.read_ligand(sdf, ligand="x")


# --- AmberTools + OpenMM: a capped tripeptide and ethanol, end to end ----------------------------

def _need_simulation_tools():
    pytest.importorskip("openmm", reason="OpenMM is the optional extra 'openmm'")
    pytest.importorskip("rdkit", reason="RDKit is part of the optional extra 'openmm'")
    missing = [t for t in prep.AMBERTOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"AmberTools programs {', '.join(missing)} not installed (pip install 'neuralmd[openmm]')")


@pytest.fixture(scope="module")
def peptide_and_ethanol(tmp_path_factory):
    """ACE-ALA-GLY-ALA-NME built by tleap, and ethanol (hydrogens from RDKit) 4.5 Å from its nearest atom."""
    _need_simulation_tools()
    import subprocess

    from rdkit import Chem
    from rdkit.Chem import AllChem

    folder = tmp_path_factory.mktemp("peptide")
    (folder / "leap.in").write_text("source leaprc.protein.ff14SB\nP = sequence {ACE ALA GLY ALA NME}\n"
                                    "savepdb P peptide.pdb\nquit\n")
    subprocess.run(["tleap", "-f", "leap.in"], cwd=folder, capture_output=True, check=True)
    xyz = np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])]
                    for line in (folder / "peptide.pdb").read_text().splitlines() if line.startswith("ATOM")])
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    conf = mol.GetConformer()
    lig = np.array(conf.GetPositions())
    centre = xyz.mean(0)
    # put the ethanol on a line out of the peptide's centre, 4.5 Å beyond its nearest atom
    direction = np.array([0.0, 0.0, 1.0])
    shift = centre + direction * (np.max((xyz - centre) @ direction) + 4.5) - lig.mean(0)
    for i, p in enumerate(lig + shift):
        conf.SetAtomPosition(i, p.tolist())
    mol.SetProp("_Name", "eth-anol")
    with Chem.SDWriter(str(folder / "ethanol.sdf")) as w:
        w.write(mol)
    return folder / "peptide.pdb", folder / "ethanol.sdf"


def test_from_structures_end_to_end(tmp_path, peptide_and_ethanol):
    from neuralmd.data import read_misato
    from neuralmd.data.openmm import from_structures

    pdb, sdf = peptide_and_ethanol
    out = tmp_path / "md.hdf5"
    records = from_structures(pdb, sdf, target="Pep", trajectories=2, snapshots=3, interval_steps=5,
                              equilibration_steps=5, timestep_fs=4.0, hydrogen_mass=3.0, pocket=8.0,
                              path=out, workdir=tmp_path / "work")
    assert [r.id for r in records] == ["pep-eth_anol-00", "pep-eth_anol-01"]
    for r in records:
        assert r["ligand"].z.tolist() == [6, 6, 8] and r["ligand"].pos.shape == (3, 3, 3)
        assert r.dt_ps == pytest.approx(0.02) and r["residue"].type.numel() == 3
        assert np.isfinite(r["ligand"].pos.numpy()).all()
    # the two seeds give different trajectories from the same minimum
    assert not np.allclose(records[0]["ligand"].pos[:, -1].numpy(), records[1]["ligand"].pos[:, -1].numpy())
    import h5py
    import json

    with h5py.File(out, "r") as f:
        g = f["pep-eth_anol-01"]
        assert g.attrs["target"] == "pep" and g.attrs["ligand"] == "eth_anol" and g.attrs["seed"] == 1
        settings = json.loads(g.attrs["settings"])
        assert settings["hydrogen_mass_amu"] == 3.0 and settings["dt_ps"] == pytest.approx(0.02)
        assert g["trajectory_coordinates"].dtype == np.float32
        ligand_start = int(g["molecules_begin_atom_index"][-1])
        assert g["atoms_number"][ligand_start:].tolist() == [6, 6, 8] + [1] * 6   # ligand last, with H
    back = read_misato(out, "pep-eth_anol-00")
    assert np.array_equal(back["ligand"].pos.numpy(), records[0]["ligand"].pos.numpy())
    with pytest.raises(ValueError, match="does not exist"):
        from_structures(pdb, sdf, target="Pep", path=tmp_path / "nowhere" / "md.hdf5")
    # a second call with the same ids is refused before anything runs
    with pytest.raises(ValueError, match="already holds pep-eth_anol-00"):
        from_structures(pdb, sdf, target="Pep", path=out)
    # the cached trajectories are reused: same positions, no new simulation
    again = from_structures(pdb, sdf, target="Pep", trajectories=2, snapshots=3, interval_steps=5,
                            equilibration_steps=5, timestep_fs=4.0, hydrogen_mass=3.0, pocket=8.0,
                            workdir=tmp_path / "work")
    assert np.array_equal(again[1]["ligand"].pos.numpy(), records[1]["ligand"].pos.numpy())


def test_pocket_md_repartitions_mass_and_subset_keeps_energy(peptide_and_ethanol, tmp_path):
    import openmm

    from neuralmd.data import _amber_prep as p
    from neuralmd.data.openmm import PocketMD, subset_system

    pdb, sdf = peptide_and_ethanol
    lig = p.read_ligand(sdf)
    mol2, frcmod = p.parameterize_ligand(lig, tmp_path)
    prmtop, inpcrd = p.build_complex(p.read_protein_pdb(pdb), mol2, frcmod, tmp_path / "complex")
    plain = PocketMD.from_prmtop(prmtop, inpcrd, pocket=None, fix_protein=True, minimize_steps=0)
    heavy = PocketMD.from_prmtop(prmtop, inpcrd, pocket=None, fix_protein=True, minimize_steps=0,
                                 hydrogen_mass=3.0, timestep_fs=4.0)
    mass = lambda md: np.array([md.system.getParticleMass(i)._value for i in range(md.system.getNumParticles())])
    m0, m1 = mass(plain), mass(heavy)
    n = plain.n_protein
    assert (m0[:n] == 0).all() and (m1[:n] == 0).all()                       # the protein stays fixed
    assert m1[n:].sum() == pytest.approx(m0[n:].sum())                       # total ligand mass unchanged
    z = np.array([a.element.atomic_number for a in heavy.atoms[n:]])
    assert np.allclose(m1[n:][z == 1], 3.0) and (m1[n:][z > 1] < m0[n:][z > 1]).all()
    # keeping every atom in the same order leaves energy and forces as they were
    app = openmm.app
    top = app.AmberPrmtopFile(str(prmtop))
    xyz = app.AmberInpcrdFile(str(inpcrd)).getPositions(asNumpy=True)
    for solvent in (app.OBC2, app.GBn2):  # GBSAOBCForce and CustomGBForce
        full = top.createSystem(nonbondedMethod=app.CutoffNonPeriodic, implicitSolvent=solvent,
                                constraints=app.HBonds)
        energies = []
        for system in (full, subset_system(full, list(range(full.getNumParticles())))):
            ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
            ctx.setPositions(xyz)
            energies.append(ctx.getState(getEnergy=True).getPotentialEnergy()._value)
        assert energies[0] == pytest.approx(energies[1], rel=1e-9), solvent
    bad = openmm.System()
    bad.addParticle(1.0)
    bad.addForce(openmm.CustomExternalForce("x"))
    with pytest.raises(ValueError, match="cannot truncate a CustomExternalForce"):
        subset_system(bad, [0])


def test_gbn2_gets_its_own_radii(peptide_and_ethanol, tmp_path):
    import json
    import warnings

    import h5py

    from neuralmd.data.openmm import from_structures

    pdb, sdf = peptide_and_ethanol
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from_structures(pdb, sdf, implicit_solvent="GBn2", trajectories=1, snapshots=2, interval_steps=2,
                        equilibration_steps=0, path=tmp_path / "md.hdf5", workdir=tmp_path / "work")
    assert not [w for w in caught if "Non-optimal GB parameters" in str(w.message)]
    assert "set default PBradii mbondi3" in next((tmp_path / "work").glob("complex_*/leap.in")).read_text()
    with h5py.File(tmp_path / "md.hdf5", "r") as f:
        settings = json.loads(f["peptide-eth_anol-00"].attrs["settings"])
    assert settings["solvent"] == "GBn2 implicit" and "mbondi3 radii" in settings["protein"]
