"""The trajectory record: validate_record's single clear error, and batching with PyG."""
import math

import pytest
import torch
from torch_geometric.data import Batch

from neuralmd.data import make_record, synthetic_trajectories, validate_record


@pytest.fixture(scope="module")
def records():
    return synthetic_trajectories(3, seed=11, n_snapshots=6)


def _record(**over):
    args = dict(id="TOY", ligand_z=torch.tensor([6, 8]), ligand_pos=torch.zeros(2, 4, 3),
                residue_type=torch.tensor([2, 3]), chain=torch.tensor([0, 0]), dt_ps=0.1,
                backbone=torch.tensor([[[1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0]]] * 2))
    args.update(over)
    return make_record(**args)


def test_valid_record_passes_and_is_returned():
    data = _record()
    assert validate_record(data) is data
    assert data["ligand"].mass.tolist() == pytest.approx([12.011, 15.999])


@pytest.mark.parametrize("change, message", [
    (lambda d: setattr(d["ligand"], "z", torch.zeros(0, dtype=torch.long)), "empty ligand"),
    (lambda d: setattr(d["ligand"], "pos", torch.zeros(2, 4)), r"ligand.pos has shape \(2, 4\)"),
    (lambda d: setattr(d["ligand"], "pos", torch.zeros(3, 4, 3)), "ligand.pos has shape"),
    (lambda d: d["ligand"].pos.__setitem__((1, 2, 0), math.nan), "NaN/inf ligand coordinates.*snapshot 2"),
    (lambda d: d["ligand"].pos.__setitem__((0, 0, 1), math.inf), "NaN/inf ligand"),
    (lambda d: d["residue"].backbone.__setitem__((0, 0, 0), math.nan), "NaN/inf protein"),
    (lambda d: setattr(d["residue"], "type", torch.zeros(0, dtype=torch.long)), "no protein residues"),
    (lambda d: setattr(d["residue"], "backbone", torch.zeros(2, 4, 3)), "residue shapes"),
    (lambda d: setattr(d["residue"], "type", torch.tensor([2, 99])), "residue.type outside"),
    (lambda d: setattr(d, "dt_ps", -1.0), "dt_ps must be a positive"),
    (lambda d: setattr(d["ligand"], "pos", torch.full((2, 4, 3), 50.0)), "ligand has left the pocket.*first snapshot"),
])
def test_bad_records_raise_one_clear_error(change, message):
    data = _record()
    change(data)
    with pytest.raises(ValueError, match=f"^complex TOY: {message}"):
        validate_record(data)


def test_pocket_check_uses_first_snapshot_and_cutoff():
    pos = torch.zeros(2, 4, 3)
    pos[:, :, 0] = 15.0 * torch.arange(4.0)  # leaves later, 15 Å a snapshot: still a valid record
    validate_record(_record(ligand_pos=pos))
    far = torch.full((2, 4, 3), 8.0)
    validate_record(_record(ligand_pos=far), pocket_cutoff=None)
    with pytest.raises(ValueError, match="cutoff 5.0"):
        validate_record(_record(ligand_pos=far), pocket_cutoff=5.0)


def test_batch_keeps_every_complex_separate(records):
    batch = Batch.from_data_list(records)
    n_l = [r["ligand"].z.numel() for r in records]
    n_r = [r["residue"].type.numel() for r in records]
    assert batch["ligand"].pos.shape == (sum(n_l), 6, 3)
    assert batch["residue"].backbone.shape == (sum(n_r), 3, 3)
    assert torch.bincount(batch["ligand"].batch).tolist() == n_l
    assert torch.bincount(batch["residue"].batch).tolist() == n_r
    assert batch.id == [r.id for r in records] and batch.dt_ps.tolist() == pytest.approx([r.dt_ps for r in records])
    for alone, back in zip(records, batch.to_data_list()):
        for store, key in [("ligand", "z"), ("ligand", "pos"), ("residue", "backbone"), ("residue", "chain")]:
            assert torch.equal(alone[store][key], back[store][key])


def test_a_ligand_jumping_mid_trajectory_is_rejected():
    pos = torch.zeros(2, 4, 3)
    pos[1, 2:, 2] = 100.0           # atom 1 teleports between snapshots 1 and 2 (a periodic wrap)
    with pytest.raises(ValueError, match=r"complex .*ligand atom 1 jumps 100.0 Å between snapshots 1 and 2"):
        validate_record(_record(ligand_pos=pos))


@pytest.mark.parametrize("dt_ps, words", [("abc", "dt_ps must be a number of picoseconds"),
                                          (6.0e6, "implausible")])
def test_dt_ps_that_is_not_a_time_in_ps_is_rejected(dt_ps, words):
    with pytest.raises(ValueError, match=words):
        validate_record(_record(dt_ps=dt_ps))
