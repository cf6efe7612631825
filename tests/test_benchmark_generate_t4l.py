"""benchmarks/generate_t4l.py: seeds name the trajectories, so a later ``--first-seed`` adds new runs.

The held-out T4L file (``T4L_16`` ... ``T4L_47``) must not repeat a seed of ``t4l_50fs.hdf5``'s 0-15,
or its "new" runs would share starting velocities and noise with trajectories already read. OpenMM
itself is replaced by a stand-in whose trajectory is its seed (running it takes too long here).
"""
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("openmm")

from benchmarks import generate_t4l  # noqa: E402


def test_first_seed_names_each_trajectory_by_its_seed_and_caches_it(monkeypatch, tmp_path) -> None:
    ran, written = [], {}
    sim = SimpleNamespace(keep=list(range(5)), n_protein=3, atom_arrays=lambda: {},
                          run=lambda seed, *args: ran.append(seed) or np.full((4, 5, 3), float(seed)))
    monkeypatch.setattr(generate_t4l, "fetch_complex", lambda cache: tmp_path)
    monkeypatch.setattr(generate_t4l, "pocket_system", lambda *args, **kwargs: sim)
    monkeypatch.setattr(generate_t4l, "write_atom_trajectory",
                        lambda f, name, traj, arrays, attrs: written.update({name: (float(traj[0, 0, 0]), attrs["seed"])}))
    argv = ["--first-seed", "16", "--trajectories", "3", "--snapshots", "4", "--cache", str(tmp_path),
            "--out", str(tmp_path / "out.hdf5")]
    generate_t4l.main(argv)
    assert ran == [16, 17, 18]
    assert written == {"T4L_16": (16.0, 16), "T4L_17": (17.0, 17), "T4L_18": (18.0, 18)}
    generate_t4l.main(argv)                     # a rerun reads every trajectory from the cache
    assert ran == [16, 17, 18]
    with pytest.raises(SystemExit, match="--first-seed must be >= 0"):
        generate_t4l.main(["--first-seed", "-1", "--cache", str(tmp_path), "--out", str(tmp_path / "x.hdf5")])
