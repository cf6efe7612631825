"""MisatoDataset (splits, peptides, quality checks, on-disk cache) and SingleTrajectoryDataset."""
import os
import warnings

import pytest
import torch
from torch_geometric.loader import DataLoader

import neuralmd.data._datasets as datasets_module
from neuralmd.data import (MisatoDataset, SingleTrajectoryDataset, official_split, subset_split,
                           synthetic_trajectories, write_misato)
from neuralmd.data._splits import peptide_ids

TRAIN, VAL, TEST = (official_split(s) for s in ("train", "val", "test"))
PEPTIDE = sorted(peptide_ids() & set(official_split("train", drop_peptides=False)))[0]
BAD = TRAIN[6]  # its ligand is moved out of the pocket


@pytest.fixture(scope="module")
def md_file(tmp_path_factory):
    ids = TRAIN[:6] + VAL[:2] + TEST[:2] + [PEPTIDE, BAD]
    records = synthetic_trajectories(len(ids), seed=2, n_snapshots=4, residues=(30, 35))
    for rec, pdb in zip(records, ids):
        rec.id = pdb
    records[-1]["ligand"].pos += 100.0
    path = tmp_path_factory.mktemp("md") / "MD.hdf5"
    write_misato(records, path)
    return path, {r.id: r for r in records}


def test_official_split_sizes_match_the_paper():
    assert (len(TRAIN), len(VAL), len(TEST)) == (13066, 1357, 1357)
    assert len(official_split("train", drop_peptides=False)) == 13765
    assert not set(TRAIN) & set(VAL) and not set(VAL) & set(TEST) and not set(TRAIN) & set(TEST)


def test_subset_split_is_seeded_disjoint_80_10_10():
    ids = [f"ID{i:04d}" for i in range(1000)]
    parts = {s: subset_split(ids, 100, seed=0, split=s) for s in ("train", "val", "test")}
    assert [len(p) for p in parts.values()] == [80, 10, 10]
    assert len(set().union(*parts.values())) == 100
    assert subset_split(list(reversed(ids)), 100, seed=0, split="val") == parts["val"]
    assert subset_split(ids, 100, seed=1, split="val") != parts["val"]
    with pytest.raises(ValueError, match="subset=2000"):
        subset_split(ids, 2000, seed=0, split="train")


def test_official_split_drops_peptides_and_skips_bad(md_file, tmp_path):
    path, records = md_file
    with pytest.warns(UserWarning, match="skipped 1 of 7"):
        ds = MisatoDataset(path, "train", cache_dir=tmp_path, progress=False)
    assert ds.ids == TRAIN[:6] and PEPTIDE not in ds.ids
    assert list(ds.skipped) == [BAD] and "left the pocket" in ds.skipped[BAD]
    assert len(MisatoDataset(path, "val", cache_dir=tmp_path, progress=False)) == 2
    item = ds[3]
    want = records[TRAIN[3]]
    assert item.id == want.id and torch.equal(item["ligand"].pos, want["ligand"].pos)
    assert torch.equal(item["residue"].backbone, want["residue"].backbone)


def test_cache_is_reused_and_keyed_by_file_identity(md_file, tmp_path, monkeypatch):
    path, _ = md_file
    calls = []
    real = datasets_module.read_misato
    monkeypatch.setattr(datasets_module, "read_misato", lambda f, pdb, **kw: calls.append(pdb) or real(f, pdb, **kw))
    MisatoDataset(path, [TRAIN[0], VAL[1]], cache_dir=tmp_path, progress=False)
    assert calls == [TRAIN[0], VAL[1]]  # opening reads only the selected complexes
    MisatoDataset(path, [TRAIN[0], VAL[1], TEST[0]], cache_dir=tmp_path, progress=False)
    assert calls == [TRAIN[0], VAL[1], TEST[0]]  # the cached ones are not read again
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # "a new version of the file"
    MisatoDataset(path, [TRAIN[0]], cache_dir=tmp_path, progress=False)
    assert calls[-1] == TRAIN[0] and len(calls) == 4
    assert len(list((tmp_path / "misato").iterdir())) == 2


def test_subset_selection_and_loader(md_file, tmp_path):
    path, _ = md_file
    parts = []
    for split in ("train", "val", "test"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the bad complex may fall into any part of the subset
            parts.append(MisatoDataset(path, split, subset=10, seed=0, cache_dir=tmp_path, progress=False))
    ids = [set(p.ids) | set(p.skipped) for p in parts]
    assert [len(i) for i in ids] == [8, 1, 1] and len(set().union(*ids)) == 10
    assert PEPTIDE not in set().union(*ids)
    batch = next(iter(DataLoader(parts[0], batch_size=3)))
    assert batch.num_graphs == 3 and batch["ligand"].pos.shape[1] == 4


def test_bad_arguments(md_file, tmp_path):
    path, _ = md_file
    with pytest.raises(ValueError, match="complex 9ZZZ: not in the file"):
        MisatoDataset(path, ["9ZZZ"], cache_dir=tmp_path)
    with pytest.raises(ValueError, match="split must be"):
        MisatoDataset(path, "training", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        MisatoDataset(tmp_path / "nope.h5", cache_dir=tmp_path)


def test_single_trajectory_windows():
    rec = synthetic_trajectories(1, seed=0, n_snapshots=100, residues=(30, 32))[0]
    train = SingleTrajectoryDataset(rec)
    assert len(train) == 71 and train[0]["ligand"].pos.shape[1] == 10 and train[70].t0 == 70
    assert torch.equal(train[5]["ligand"].pos, rec["ligand"].pos[:, 5:15])
    whole = SingleTrajectoryDataset(rec, window=None)
    assert len(whole) == 1 and torch.equal(whole[0]["ligand"].pos, rec["ligand"].pos[:, :80])
    test = SingleTrajectoryDataset(rec, split="test", context=2)
    assert len(test) == 1 and test[0].t0 == 78 and test[0]["ligand"].pos.shape[1] == 22
    assert torch.equal(test[0]["ligand"].pos, rec["ligand"].pos[:, 78:])
    assert rec["ligand"].pos.shape[1] == 100  # the source record is not modified
    with pytest.raises(ValueError, match=f"complex {rec.id}: train_fraction"):
        SingleTrajectoryDataset(rec, train_fraction=1.0)
    with pytest.raises(ValueError, match="window=90"):
        SingleTrajectoryDataset(rec, window=90)


@pytest.mark.parametrize("damage", ["delete", "truncate", "status"])
def test_damaged_cache_entry_is_processed_again(md_file, tmp_path, damage):
    path, records = md_file
    cache = tmp_path / "cache"
    first = MisatoDataset(path, split=TRAIN[:2], cache_dir=cache, progress=False)
    (folder,) = (cache / "misato").iterdir()
    entry = folder / f"{TRAIN[0]}.pt"
    if damage == "delete":
        entry.unlink()
    elif damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:100])
    else:
        (folder / "status.json").write_text("{not json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = MisatoDataset(path, split=TRAIN[:2], cache_dir=cache, progress=False)
    assert again.ids == first.ids
    assert torch.equal(again[0]["ligand"].pos, records[TRAIN[0]]["ligand"].pos)


def test_cache_entry_damaged_after_opening_is_processed_again(md_file, tmp_path):
    path, records = md_file
    data = MisatoDataset(path, split=TRAIN[:1], cache_dir=tmp_path, progress=False)
    (entry,) = (tmp_path / "misato").glob(f"*/{TRAIN[0]}.pt")
    entry.write_bytes(b"garbage")
    assert torch.equal(data[0]["ligand"].pos, records[TRAIN[0]]["ligand"].pos)


def test_temporaries_of_dead_writers_are_removed_and_live_ones_kept(md_file, tmp_path):
    path, _ = md_file
    MisatoDataset(path, split=TRAIN[:1], cache_dir=tmp_path, progress=False)
    (folder,) = (tmp_path / "misato").iterdir()
    dead_pid = 2**22 + 12345          # above Linux's default pid_max: no such process
    orphan = folder / f".{TRAIN[0]}.pt.{dead_pid}.tmp"
    live = folder / f".{TRAIN[1]}.pt.{os.getpid()}.tmp"
    orphan.write_bytes(b"half")
    live.write_bytes(b"in progress")
    (folder / f"{TRAIN[0]}.pt").unlink()     # something to process, so the cache is visited
    MisatoDataset(path, split=TRAIN[:1], cache_dir=tmp_path, progress=False)
    assert not orphan.exists() and live.exists()
