"""read_misato / write_misato on files in MISATO's MD layout built from the real reference proteins."""
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from neuralmd.data import RESIDUE_NAMES, read_misato, simulate_binding, synthetic_trajectories, write_misato

MISATO = Path(__file__).resolve().parents[2] / "shared" / "data" / "misato"
needs_misato = pytest.mark.skipif(not MISATO.is_dir(), reason=f"MISATO reference files not found at {MISATO}")
MD_KEYS = {"trajectory_coordinates", "atoms_type", "atoms_number", "atoms_element", "atoms_residue",
           "molecules_begin_atom_index", "frames_interaction_energy", "frames_distance", "frames_rmsd_ligand",
           "frames_bSASA"}
# GST P1-1 (11gs) starts "PPYTVVYF..."; the structure lacks the first Pro
GST_START = ["PRO", "TYR", "THR", "VAL", "VAL", "TYR", "PHE"]


def _protein(pdb: str) -> dict:
    with h5py.File(MISATO / "inference_from_pdb.hdf5", "r") as f:
        return {k: f[pdb][k][()] for k in f[pdb]}


def _write_md_group(f: h5py.File, name: str, prot: dict, lig_z: np.ndarray, lig_traj: np.ndarray) -> None:
    """One complex in MISATO's MD layout: protein atoms rigid in every snapshot, the ligand last."""
    t = lig_traj.shape[1]
    n_p = len(prot["atoms_type"])
    coords = np.concatenate([np.repeat(prot["atoms_coordinates_ref"][None], t, 0), lig_traj.transpose(1, 0, 2)], 1)
    g = f.create_group(name)
    g["trajectory_coordinates"] = coords.astype(np.float32)
    g["atoms_type"] = np.r_[prot["atoms_type"], np.full(len(lig_z), 38)]  # 38 = GAFF c3
    g["atoms_number"] = np.r_[prot["atoms_number"], lig_z]
    g["atoms_element"] = np.r_[prot["atoms_element"], np.full(len(lig_z), 2)]
    g["atoms_residue"] = np.r_[prot["atoms_residue"], np.zeros(len(lig_z), dtype=np.int64)]
    g["molecules_begin_atom_index"] = np.r_[prot["molecules_begin_atom_index"], n_p]
    for key in ("frames_interaction_energy", "frames_distance", "frames_rmsd_ligand", "frames_bSASA"):
        g[key] = np.zeros(t, dtype=np.float32)


@pytest.fixture(scope="module")
def misato_11gs(tmp_path_factory):
    """MD-layout file with the real 11gs protein and the real 11GS QM ligand (66 atoms with H),
    its trajectory from the project's generator; plus the trajectory and atomic numbers."""
    with h5py.File(MISATO / "tiny_qm.hdf5", "r") as f:
        props = f["11GS/atom_properties"]
        z = np.array([int(a) for a in props["atom_names"][()]])
        xyz = props["atom_properties_values"][:, :3].astype(np.float64)
    prot = _protein("11gs")
    traj = simulate_binding(z, xyz, prot["atoms_coordinates_ref"], seed=0, n_snapshots=100, steps_per_snapshot=3)
    path = tmp_path_factory.mktemp("misato") / "MD.hdf5"
    with h5py.File(path, "w") as f:
        _write_md_group(f, "11GS", prot, z, traj)
    return path, z, traj.astype(np.float32)


pytestmark = needs_misato


def test_11gs_chains_sequence_and_ligand(misato_11gs):
    path, z, traj = misato_11gs
    data = read_misato(path, "11gs")
    assert data.id == "11GS" and data.dt_ps == 80.0
    assert torch.bincount(data["residue"].chain).tolist() == [208, 208]
    names = [RESIDUE_NAMES[int(t)] for t in data["residue"].type]
    assert names[:7] == GST_START and names[208:215] == GST_START
    heavy = z != 1
    assert data["ligand"].z.tolist() == z[heavy].tolist() and 1 not in data["ligand"].z
    assert data["ligand"].pos.shape == (heavy.sum(), 100, 3) and data["ligand"].pos.dtype == torch.float32
    assert torch.equal(data["ligand"].pos, torch.from_numpy(traj[heavy]))
    assert data["ligand"].mass.tolist() == pytest.approx([{6: 12.011, 7: 14.007, 8: 15.999, 16: 32.06,
                                                           17: 35.45}[a] for a in z[heavy]])


def test_11gs_backbone_bond_lengths(misato_11gs):
    bb = read_misato(misato_11gs[0], "11GS")["residue"].backbone.double()
    n_ca = (bb[:, 0] - bb[:, 1]).norm(dim=-1)
    ca_c = (bb[:, 1] - bb[:, 2]).norm(dim=-1)
    assert n_ca.mean() == pytest.approx(1.46, abs=0.02) and ca_c.mean() == pytest.approx(1.52, abs=0.02)
    assert 1.40 < n_ca.min() and n_ca.max() < 1.52 and 1.46 < ca_c.min() and ca_c.max() < 1.58
    peptide = (bb[1:, 0] - bb[:-1, 2]).norm(dim=-1)  # C(i)-N(i+1) inside each chain
    same_chain = torch.ones(len(peptide), dtype=torch.bool)
    same_chain[207] = False
    assert peptide[same_chain].max() < 1.4


def test_11gs_hydrogens_kept_on_request(misato_11gs):
    path, z, traj = misato_11gs
    data = read_misato(path, "11GS", hydrogens=True)
    assert data["ligand"].z.tolist() == z.tolist()
    assert torch.equal(data["ligand"].pos, torch.from_numpy(traj))


def test_6nij_parses_into_eight_chains(tmp_path):
    prot = _protein("6nij")
    ca = prot["atoms_coordinates_ref"][prot["atoms_type"] == 14][500]
    lig = synthetic_trajectories(1, seed=1, n_snapshots=3)[0]["ligand"]
    pos = lig.pos.numpy() - lig.pos[:, 0].mean(0).numpy() + ca + 6.0
    with h5py.File(tmp_path / "md.h5", "w") as f:
        _write_md_group(f, "6NIJ", prot, lig.z.numpy(), pos)
    data = read_misato(tmp_path / "md.h5", "6NIJ")
    counts = torch.bincount(data["residue"].chain).tolist()
    assert counts == [140, 112, 449, 140, 445, 133, 444, 139]
    assert (data["residue"].chain.diff() >= 0).all()


def test_write_has_misato_keys_and_dtypes(tmp_path):
    recs = synthetic_trajectories(2, seed=3, n_snapshots=7)
    write_misato(recs, tmp_path / "out.h5")
    with h5py.File(tmp_path / "out.h5", "r") as f:
        assert set(f.keys()) == {r.id for r in recs}
        g = f[recs[0].id]
        assert set(g.keys()) == MD_KEYS
        n = len(g["atoms_type"])
        assert g["trajectory_coordinates"].shape == (7, n, 3) and g["trajectory_coordinates"].dtype == np.float32
        for key in ("atoms_type", "atoms_number", "atoms_element", "atoms_residue", "molecules_begin_atom_index"):
            assert g[key].dtype == np.int64 and g[key].ndim == 1
        assert g["frames_rmsd_ligand"].shape == (7,) and g["frames_rmsd_ligand"][0] == 0
        n_lig = recs[0]["ligand"].z.numel()
        assert (g["atoms_residue"][-n_lig:] == 0).all() and g["molecules_begin_atom_index"][-1] == n - n_lig
        n_res = recs[0]["residue"].type.numel()
        assert (g["atoms_type"][()] == 14).sum() == n_res  # one CX (C-alpha) per residue


def test_round_trip_is_exact(tmp_path, misato_11gs):
    recs = synthetic_trajectories(3, seed=5, n_snapshots=10)
    recs.append(read_misato(misato_11gs[0], "11GS", hydrogens=True))
    write_misato(recs, tmp_path / "rt.h5")
    for rec in recs:
        back = read_misato(tmp_path / "rt.h5", rec.id, hydrogens=True)
        assert back.id == rec.id and back.dt_ps == rec.dt_ps
        for store, key in [("ligand", "z"), ("ligand", "mass"), ("ligand", "pos"), ("residue", "type"),
                           ("residue", "backbone"), ("residue", "chain")]:
            assert torch.equal(back[store][key], rec[store][key]), (rec.id, key)


# --- bad input: one ValueError naming the complex -------------------------------------------------

def _broken_copy(src: Path, dst: Path, edit) -> Path:
    with h5py.File(src, "r") as a, h5py.File(dst, "w") as b:
        a.copy("11GS", b)
        edit(b["11GS"])
    return dst


def _set(key, fn):
    def edit(g):
        value = fn(g[key][()])
        del g[key]
        g[key] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (lambda g: g.__delitem__("atoms_type"), "missing HDF5 key.*atoms_type"),
    (_set("atoms_number", lambda a: np.where(a == a, a, 0) * 0 + 1), "no heavy atoms"),
    (_set("atoms_type", lambda a: np.where(a == 14, 12, a)), "no protein residues"),
    (_set("trajectory_coordinates", lambda a: np.where(np.arange(a.shape[0])[:, None, None] == 4, np.nan, a)),
     "NaN.*snapshot 4"),
    (_set("trajectory_coordinates", lambda a: a + (np.arange(a.shape[1]) >= a.shape[1] - 66)[None, :, None] * 60.0),
     "left the pocket"),
    (_set("molecules_begin_atom_index", lambda a: np.r_[a, a[-1] + 10**6]), "molecules_begin_atom_index"),
    (_set("atoms_residue", lambda a: a[:-1]), "inconsistent shapes"),
])
def test_bad_input_names_the_complex(tmp_path, misato_11gs, edit, message):
    path = _broken_copy(misato_11gs[0], tmp_path / "bad.h5", edit)
    with pytest.raises(ValueError, match=f"complex 11GS: .*{message}"):
        read_misato(path, "11GS")


def test_unknown_id(misato_11gs):
    with pytest.raises(ValueError, match="complex 9XYZ: not in"):
        read_misato(misato_11gs[0], "9XYZ")


def test_written_files_carry_checksums_and_a_flipped_bit_is_reported(tmp_path):
    import h5py
    from neuralmd.data import synthetic_trajectories
    record = synthetic_trajectories(1, seed=3, n_snapshots=4, ligand_atoms=(6, 8), residues=(6, 10))[0]
    path = write_misato(record, tmp_path / "one.h5")
    with h5py.File(path, "r") as f:
        group = f[record.id]
        assert all(group[k].fletcher32 for k in group)
        offset = group["trajectory_coordinates"].id.get_chunk_info(2).byte_offset
    raw = bytearray(path.read_bytes())
    raw[offset + 5] ^= 0x10                      # one bit of one coordinate of snapshot 2
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=rf"complex {record.id}: checksum failure"):
        read_misato(path, record.id)


@pytest.mark.parametrize("mode", ["w", "a"])
def test_a_failed_write_leaves_the_file_as_it_was(tmp_path, mode):
    kept, new = synthetic_trajectories(2, seed=1, n_snapshots=5)
    path = write_misato(kept, tmp_path / "md.h5")
    before = path.read_bytes()
    # `new` is written, then the next group cannot be created because its id is taken: `new`
    # again (overwriting), or `kept`, which the file already holds (appending).
    with pytest.raises(ValueError):
        write_misato([new, new] if mode == "w" else [new, kept], path, mode=mode)
    with h5py.File(path, "r") as f:
        assert sorted(f) == [str(kept.id)]
    if mode == "w":     # appending may leave freed space behind, overwriting leaves the very bytes
        assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["md.h5"]     # no temporary file left


def test_write_mode_is_overwrite_or_append(tmp_path):
    record = synthetic_trajectories(1, seed=1, n_snapshots=5)[0]
    with pytest.raises(ValueError, match="mode must be 'w'"):
        write_misato(record, tmp_path / "md.h5", mode="r+")
    assert not (tmp_path / "md.h5").exists()
