"""The committed held-out T4L runs (benchmarks/data/t4l_50fs_heldout.hdf5) are what results 3.2.11
says: 32 new runs of the same system and settings as t4l_50fs.hdf5, named and seeded 16-47, none a
copy of a run of the first file, readable beside it."""
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from neuralmd.data import read_misato

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"
FIRST, HELD_OUT = DATA / "t4l_50fs.hdf5", DATA / "t4l_50fs_heldout.hdf5"


@pytest.fixture(scope="module")
def files():
    if not (FIRST.exists() and HELD_OUT.exists()):
        pytest.skip(f"{FIRST} or {HELD_OUT} not present")
    with h5py.File(FIRST, "r") as first, h5py.File(HELD_OUT, "r") as held_out:
        yield first, held_out


def test_new_seeds_same_system_and_settings(files):
    first, held_out = files
    assert sorted(held_out) == [f"T4L_{seed:02d}" for seed in range(16, 48)]
    assert not set(held_out) & set(first)
    assert {int(g.attrs["seed"]) for g in held_out.values()} == set(range(16, 48))
    old = first["T4L_00"]
    settings = json.loads(old.attrs["settings"])
    for name, g in held_out.items():
        assert float(g.attrs["dt_ps"]) == 0.05 and json.loads(g.attrs["settings"]) == settings, name
        for key in ("atoms_type", "atoms_number", "atoms_element", "atoms_residue", "molecules_begin_atom_index"):
            assert np.array_equal(g[key][()], old[key][()]), (name, key)
        assert g["trajectory_coordinates"].shape == old["trajectory_coordinates"].shape


def test_no_held_out_run_repeats_a_first_run(files):
    first, held_out = files
    ligand = slice(-18, None)     # p-xylene's 18 atoms come last
    starts = [g["trajectory_coordinates"][0, ligand] for g in first.values()]
    for name, g in held_out.items():
        start = g["trajectory_coordinates"][0, ligand]
        assert min(float(np.abs(start - s).max()) for s in starts) > 0.1, name
    record = read_misato(str(HELD_OUT), "T4L_16")
    assert tuple(record["ligand"].pos.shape) == (8, 100, 3) and record.dt_ps == 0.05
