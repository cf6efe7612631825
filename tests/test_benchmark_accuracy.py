"""benchmarks/accuracy.py on a tiny stand-in of the complexes file: every cross-complex fold, resume, summary."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from _complexes_standin import write_standin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import accuracy  # noqa: E402

#: tyk2 with 3 ligands, p38 with 2, bace with 1; 2 trajectories each (12 records).
PLAN = [("tyk2", "a"), ("tyk2", "b"), ("tyk2", "c"), ("p38", "x"), ("p38", "w"), ("bace", "y")]
TINY = ["--steps", "2", "--hidden", "8", "--layers", "1", "--samples", "2", "--window", "3", "--batch", "2",
        "--multi-start", "2"]


@pytest.fixture(scope="module")
def complexes_file(tmp_path_factory) -> Path:
    return write_standin(tmp_path_factory.mktemp("complexes") / "complexes.hdf5", PLAN, n_snapshots=30, seed=5)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_fold_of_each_task_is_run_and_summarized(complexes_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs.jsonl"
    common = ["--data", str(complexes_file), "--out", str(out), *TINY]
    accuracy.main(["--task", "leave_target_out", "--methods", "NeuralMD Langevin", "Static", "MeanPose",
                   "--seeds", "0", "42", *common])
    rows = _rows(out)
    assert {(r["test"], r["target"], r["ligand"]) for r in rows} == {
        ("bace", "bace", "y"), ("p38", "p38", "w+x"), ("tyk2", "tyk2", "a+b+c")}
    assert len(rows) == 3 * 3 * 2
    for r in rows:                      # no validation set: every other trajectory trains
        n_test = {"bace": 2, "p38": 4, "tyk2": 6}[r["target"]]
        assert (r["test_trajectories"], r["train_trajectories"]) == (n_test, 12 - n_test)
        assert r["start"] == 2 and r["finite"] and r["data"] == "complexes.hdf5"
        # each test trajectory's scores, whose mean is the row's
        assert len(r["per_test"]) == n_test
        for key in ("energy_score", "mae"):
            assert sum(t[key] for t in r["per_test"].values()) / n_test == pytest.approx(r[key])
        # and its energy score at every lag, whose mean over lags is its energy score
        for t in r["per_test"].values():
            assert sum(t["energy_score_by_lag"]) / len(t["energy_score_by_lag"]) == pytest.approx(t["energy_score"])
        assert r["energy_score_by_lag"] == pytest.approx(
            [sum(c) / n_test for c in zip(*(t["energy_score_by_lag"] for t in r["per_test"].values()))])
    assert len({r["test_sha1"] for r in rows}) == 3            # one fingerprint of the test data per fold

    accuracy.main(["--task", "leave_target_out", "--methods", "NeuralMD Langevin", "Static", "MeanPose",
                   "--seeds", "0", "42", "123", "--resume", *common])      # only seed 123 is new
    assert len(_rows(out)) == 3 * 3 * 3

    accuracy.main(["--task", "leave_ligand_out", "--methods", "Static", "MeanPose", "--seeds", "0", *common])
    accuracy.main(["--task", "single", "--targets", "p38", "bace", "--methods", "Static", "--seeds", "0", *common])
    rows = _rows(out)
    llo = {(r["test"], r["target"], r["ligand"]) for r in rows if r["task"] == "leave_ligand_out"}
    assert llo == {(f"{t}:{lig}", t, lig) for t, lig in PLAN if t != "bace"}      # every ligand of tyk2 and p38
    single = [r for r in rows if r["task"] == "single"]
    assert {r["test"] for r in single} == {"p38-w-00", "p38-x-00", "bace-y-00"}   # trajectory 0 of each complex
    assert all(r["start"] == round(0.8 * 30) - 1 for r in single)

    capsys.readouterr()
    accuracy.main(["--summarize", str(out)])
    text = capsys.readouterr().out
    assert "leave_target_out task, pooled over 3 folds" in text
    assert "leave_ligand_out task, pooled over 5 folds" in text
    assert "| tyk2:a | " in text and "| folds won | " in text
    accuracy.main(["--summarize", str(out), "--summary-methods", "Static"])
    only_static = capsys.readouterr().out
    assert "| Static |" in only_static and "| MeanPose |" not in only_static and "NeuralMD" not in only_static
    pooled = {r["method"]: r for r in accuracy.pool_folds(
        [r for r in rows if r["task"] == "leave_target_out" and r["seed"] == 0])[0]}
    static = [r["mae"] for r in rows if r["task"] == "leave_target_out" and r["method"] == "Static" and r["seed"] == 0]
    assert pooled["Static"]["mae"] == pytest.approx(sum(static) / 3) and pooled["Static"]["folds"] == 3


def test_unknown_folds_are_refused(complexes_file: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="are not folds of leave_target_out"):
        accuracy.main(["--task", "leave_target_out", "--folds", "jnk1", "--data", str(complexes_file),
                       "--out", str(tmp_path / "x.jsonl")])
    with pytest.raises(ValueError, match="unknown target 'jnk1'"):
        accuracy.main(["--task", "leave_ligand_out", "--targets", "jnk1", "--data", str(complexes_file),
                       "--out", str(tmp_path / "x.jsonl")])


def test_test_trajectories_keeps_the_first_of_each_test_complex(complexes_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "first.jsonl"
    accuracy.main(["--task", "leave_target_out", "--folds", "tyk2", "--test-trajectories", "1", "--methods", "Static",
                   "--seeds", "0", "--data", str(complexes_file), "--out", str(out), *TINY])
    (row,) = _rows(out)
    assert (row["test_trajectories"], row["train_trajectories"]) == (3, 6)   # tyk2-{a,b,c}-00; p38 and bace train


def test_compare_flags_only_what_moved_beyond_the_seeds_noise(tmp_path: Path, capsys) -> None:
    def write(name: str, rows: list[tuple[str, int, float]]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(dict(task="single", test="T", method=m, seed=s, energy_score=v, mae=v))
                                + "\n" for m, s, v in rows))
        return path

    before = write("before.jsonl", [("Static", 0, 0.5), ("Static", 1, 0.5), ("Model", 0, 1.0), ("Model", 1, 1.2),
                                    ("Drifted", 0, 1.0), ("Drifted", 1, 1.1)])
    after = write("after.jsonl", [("Static", 0, 0.5), ("Static", 1, 0.5), ("Model", 0, 1.1), ("Model", 1, 1.3),
                                  ("Drifted", 0, 2.0), ("Drifted", 1, 2.1)])
    assert accuracy.compare(before, after) == 2          # Drifted's energy score and MAE
    out = capsys.readouterr().out
    assert "| single | T | Drifted | mae | 1.050 ± 0.071 | 2.050 ± 0.071 | **no** |" in out
    assert "| single | T | Model | energy_score | 1.100 ± 0.141 | 1.200 ± 0.141 | yes |" in out
    # a method without spread over seeds (a deterministic baseline) must match exactly
    write("after.jsonl", [("Static", 0, 0.501), ("Static", 1, 0.501)])
    assert accuracy.compare(before, tmp_path / "after.jsonl") == 2


def test_rolling_origins_score_short_forecasts_from_every_kth_snapshot(complexes_file: Path, tmp_path: Path) -> None:
    from neuralmd.data import read_misato

    from neuralmd.cli._evaluate import rolling_origins

    assert rolling_origins(20, 100, 10, 10) == [20, 30, 40, 50, 60, 70, 80] and rolling_origins(23, 30, 5, 10) == []
    out = tmp_path / "rolling.jsonl"
    accuracy.main(["--task", "leave_target_out", "--folds", "bace", "--methods", "Static", "Stationary", "--seeds", "0",
                   "--data", str(complexes_file), "--out", str(out), "--rolling-every", "9", "--rolling-horizon", "4",
                   *TINY])
    static, stationary = _rows(out)
    rolling = static["rolling"]
    assert rolling["origins"] == [2, 11, 20] and rolling["horizon"] == 4 and set(rolling["per_test"]) == set(
        static["per_test"])
    # Static's forecast from an origin is that snapshot's pose: its curve is the mean over the origins of
    # each trajectory's distance to it, lag by lag
    name = sorted(rolling["per_test"])[0]
    pos = read_misato(str(complexes_file), name)["ligand"].pos.double()               # (N, T, 3)
    expected = [sum(float((pos[:, o + lag] - pos[:, o]).norm(dim=-1).mean()) for o in (2, 11, 20)) / 3
                for lag in range(1, 5)]
    assert rolling["per_test"][name]["energy_score_by_lag"] == pytest.approx(expected, rel=1e-9)
    assert rolling["per_test"][name]["energy_score"] == pytest.approx(sum(expected) / 4)
    assert "rolling" in stationary
    with pytest.raises(SystemExit, match="leaves no origin"):
        accuracy.main(["--task", "leave_target_out", "--folds", "bace", "--methods", "Static", "--seeds", "1",
                       "--data", str(complexes_file), "--out", str(out), "--rolling-every", "9",
                       "--rolling-horizon", "28", *TINY])


def test_centroid_confinement_loosens_the_well_after_training_and_labels_the_row(complexes_file: Path,
                                                                                tmp_path: Path) -> None:
    out = tmp_path / "loose.jsonl"
    well = "SDE + all + anisotropic history prior, no learned force"
    common = ["--task", "leave_target_out", "--folds", "bace", "--methods", well, "--seeds", "0",
              "--data", str(complexes_file), "--out", str(out), *TINY]
    accuracy.main(common)
    accuracy.main([*common, "--centroid-confinement", "1", "0.25", "--resume"])   # only the new value runs
    whole, loose = _rows(out)
    assert (whole["method"], whole["centroid_confinement"]) == (well, 1.0)
    assert (loose["method"], loose["centroid_confinement"]) == (f"{well}, centroid confinement 0.25", 0.25)
    assert loose["energy_score"] != whole["energy_score"]           # the same training, another forecast
    both = tmp_path / "both.jsonl"
    accuracy.main([*common[:-len(TINY) - 2], "--out", str(both), *TINY, "--centroid-confinement", "1", "0.25"])
    again = _rows(both)
    assert [r["energy_score"] for r in again] == [whole["energy_score"], loose["energy_score"]]
    for other in ("SDE + all (Langevin)", "OrnsteinUhlenbeck (anisotropic)"):
        with pytest.raises(SystemExit, match="loosens a history well or the Stationary ensemble"):
            accuracy.main([*common, "--methods", other, "--centroid-confinement", "0.5"])
    trivial = tmp_path / "trivial.jsonl"
    accuracy.main([*common[:-len(TINY) - 2], "--out", str(trivial), *TINY, "--methods", "Stationary (anisotropic)",
                   "--centroid-confinement", "1", "0.25"])
    assert [r["method"] for r in _rows(trivial)] == ["Stationary (anisotropic)",
                                                     "Stationary (anisotropic), centroid confinement 0.25"]
    with pytest.raises(SystemExit):
        accuracy.main([*common, "--centroid-confinement", "0"])


def test_more_data_joins_a_second_files_trajectories_and_refuses_a_repeated_name(complexes_file: Path,
                                                                                 tmp_path: Path) -> None:
    from neuralmd.data import read_misato, write_misato

    held_out = read_misato(str(complexes_file), "bace-y-01")
    held_out.id = "bace-y-02"
    extra = write_misato([held_out], tmp_path / "held_out.hdf5")
    out = tmp_path / "runs.jsonl"
    accuracy.main(["--task", "multi", "--train", "bace-y-00", "--test", "bace-y-02", "--methods", "Static",
                   "--seeds", "0", "--data", str(complexes_file), "--more-data", str(extra), "--out", str(out), *TINY])
    (row,) = _rows(out)
    assert row["data"] == "complexes.hdf5+held_out.hdf5" and set(row["per_test"]) == {"bace-y-02"}
    # the held-out copy of bace-y-01 is scored exactly as bace-y-01 itself
    accuracy.main(["--task", "multi", "--train", "bace-y-00", "--test", "bace-y-01", "--methods", "Static",
                   "--seeds", "0", "--data", str(complexes_file), "--out", str(out), *TINY])
    assert _rows(out)[1]["energy_score"] == row["energy_score"]
    with pytest.raises(SystemExit, match="bace-y-00 is in both"):
        accuracy.main(["--task", "multi", "--methods", "Static", "--data", str(complexes_file),
                       "--more-data", str(complexes_file), "--out", str(out), *TINY])
