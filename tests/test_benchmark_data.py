"""The committed multi-complex MD data (benchmarks/data/complexes.hdf5) keeps its contract: MISATO
layout readable by read_misato, ids target-ligand-kk matching the group attributes, one dt_ps,
>= 10 proteins, >= 4 trajectories x 100 snapshots per complex, settings recorded."""
import json
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np
import pytest

from neuralmd.data import parse_complex_id, read_misato

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "complexes.hdf5"


@pytest.fixture(scope="module")
def groups():
    if not DATA.exists():
        pytest.skip(f"{DATA} not present")
    with h5py.File(DATA, "r") as f:
        yield {name: f[name] for name in f}


def test_ids_attributes_and_one_interval(groups):
    trajectories = defaultdict(list)
    for name, g in groups.items():
        cid = parse_complex_id(name)
        assert (g.attrs["target"], g.attrs["ligand"]) == (cid.target, cid.ligand), name
        assert g["trajectory_coordinates"].dtype == np.float32
        settings = json.loads(g.attrs["settings"])
        assert settings["dt_ps"] == g.attrs["dt_ps"] and settings["atoms"] == g["atoms_number"].shape[0]
        assert g.attrs["wall_s"] > 0 and g.attrs["ns_per_day"] > 0
        trajectories[(cid.target, cid.ligand)].append((g.attrs["seed"], g["trajectory_coordinates"].shape[0]))
    assert len({float(g.attrs["dt_ps"]) for g in groups.values()}) == 1
    assert len({target for target, _ in trajectories}) >= 10
    for key, runs in trajectories.items():
        assert len(runs) >= 4 and all(t >= 100 for _, t in runs), key
        assert len({seed for seed, _ in runs}) == len(runs), f"{key}: repeated seeds"


def test_one_trajectory_per_complex_reads_as_a_record(groups):
    first = {}
    for name in sorted(groups):
        first.setdefault(name.rsplit("-", 1)[0], name)
    for name in first.values():
        record = read_misato(DATA, name)
        assert record.id == name and record["ligand"].pos.shape[1] >= 100
        assert record["residue"].type.numel() > 0 and float(record.dt_ps) == float(groups[name].attrs["dt_ps"])
