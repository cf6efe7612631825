"""How well can any forecast of the bundled synthetic data beat Static? (docs/results.md, 3.6)

The generator is known exactly (``neuralmd.data.synthetic_trajectories``), so the best possible
point forecast, the conditional mean of the future, can be estimated by re-running it. For every
trajectory the script rebuilds its pocket, force field and the hidden state at snapshot 1 (the
positions and the velocities the generator had there), then runs ``--continuations`` fresh
Langevin continuations of the same toy dynamics and scores their mean against the recorded
snapshots 2..T-1, exactly the snapshots ``neuralmd train`` scores (prediction starts at snapshot 1):

* ``full state``: continuations from snapshot 1's positions *and velocities*: no model that sees
  snapshots 0 and 1 only can know more;
* ``positions only``: continuations from snapshot 1's positions with thermal velocities: the
  exact force field's drift without velocity information;
* each also as the mean of 8 continuations (``neuralmd train``'s default ``eval_samples``), the
  ensemble-mean MAE a perfect sampler of that distribution would get;
* ``damped centroid``: the ligand moves rigidly with the centroid's finite-difference velocity
  ``x_1 - x_0``, decaying with the generator's friction (5 / ps = 0.2 per interval);
* Static and MeanPose (snapshot 1; the mean of snapshots 0 and 1), as ``neuralmd train`` scores them.

    python -m benchmarks.synthetic_oracle                       # the default data: train / val / test
    python -m benchmarks.synthetic_oracle --seed 1 --num 32 --fractions 1 0 31   # 31 fresh trajectories
    python -m benchmarks.synthetic_oracle --seed 1 --num 32 --fractions 1 0 31 --checkpoints runs/A runs/B

``--checkpoints``: trained Langevin NeuralMD runs (``neuralmd train`` folders), scored on the test
split of the same data: the MAE of their ensemble mean with 8 and 32 rollouts and of their
noiseless path (kT set to 1e-8: the learned force, friction and velocity map alone), which tells
whether their forecast is limited by the learned drift or by the noise of the ensemble mean.

MAE in Å (``neuralmd.metrics.mae``), averaged over trajectories with equal weight, per split.
"""
from __future__ import annotations

import argparse
import copy
import math
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from neuralmd.cli._build import build_task
from neuralmd.data._synthetic import simulate_binding, toy_complex
from neuralmd.metrics import mae

CONFIG = Path(__file__).resolve().parents[1] / "src" / "neuralmd" / "conf" / "data" / "synthetic.yaml"
GENERATOR_FRICTION = 5.0 * 0.04   # simulate_binding's 5 / ps at the default 0.04 ps interval
ENSEMBLE = 8                      # neuralmd train's default eval_samples


def continuations(c: dict, x1: np.ndarray, v1: np.ndarray | None, snapshots: int, count: int,
                  stream: tuple[int, ...], options: dict) -> np.ndarray:
    """(count, snapshots - 1, N, 3) continuations from x1 (with velocities v1, or thermal ones)."""
    runs = [simulate_binding(c["z"], x1, c["sites"], np.random.default_rng([*stream, k]), n_snapshots=snapshots,
                             bonds=c["bonds"], rings=c["rings"], reference=c["start"], velocity=v1, **options)
            for k in range(count)]
    return np.stack([r.transpose(1, 0, 2)[1:] for r in runs])


def score_trajectory(record, index: int, seed: int, count: int, options: dict) -> dict[str, float]:
    """The forecasts' MAEs on one trajectory (snapshots 2..T-1, from snapshot 1)."""
    opts = {k: options[k] for k in ("steps_per_snapshot", "dt_fs", "temperature") if k in options}
    c = toy_complex(index, seed, ligand_atoms=tuple(options.get("ligand_atoms", (10, 30))),
                    residues=tuple(options.get("residues", (30, 80))))
    pos = record["ligand"].pos.double().permute(1, 0, 2)      # (T, N, 3)
    first, v1 = simulate_binding(c["z"], c["start"], c["sites"], c["rng"], n_snapshots=2, bonds=c["bonds"],
                                 rings=c["rings"], return_velocity=True, **opts)
    x1 = first[:, 1]
    if x1.shape != tuple(pos[1].shape) or not np.allclose(x1, pos[1].numpy(), atol=1e-3):
        raise RuntimeError(f"{record.id}: the rebuilt snapshot 1 differs from the data set's; the generator changed")
    truth, snapshots = pos[2:], pos.shape[0] - 1

    def score(pred) -> float:
        pred = torch.as_tensor(np.asarray(pred, dtype=np.float64))
        return mae(pred.expand_as(truth), truth)

    def groups(samples: np.ndarray) -> float:
        return float(np.mean([score(samples[i:i + ENSEMBLE].mean(0)) for i in range(0, count, ENSEMBLE)]))

    full = continuations(c, x1, v1, snapshots, count, (99, seed, index), opts)
    thermal = continuations(c, x1, None, snapshots, count, (98, seed, index), opts)
    t = np.arange(1, snapshots)[:, None, None]
    step = (pos[1] - pos[0]).mean(0).numpy()
    decay = (1 - np.exp(-GENERATOR_FRICTION * t)) / GENERATOR_FRICTION
    return {"Static": score(x1[None]), "MeanPose": score(pos[:2].mean(0, keepdim=True).numpy()),
            f"full state, {count}": score(full.mean(0)), f"full state, {ENSEMBLE}": groups(full),
            f"positions only, {count}": score(thermal.mean(0)), f"positions only, {ENSEMBLE}": groups(thermal),
            "damped centroid": score(x1[None] + decay * step)}


def score_checkpoints(folders: list[str], task) -> None:
    """Ensemble-mean MAE (8 and 32 rollouts) and noiseless-path MAE of trained Langevin runs."""
    from neuralmd.cli._checkpoint import load_model
    from neuralmd.cli._evaluate import evaluate_methods
    print("| run | ensemble mean, 8 | ensemble mean, 32 | noiseless path |")
    print("|---|---:|---:|---:|")
    for folder in folders:
        model, _ = load_model(folder)
        if getattr(model, "langevin", None) is None or model.langevin.kT is None:
            raise SystemExit(f"{folder}: not a Langevin NeuralMD with a learned kT (model.noise=fdt)")
        cold = copy.deepcopy(model)
        with torch.no_grad():
            cold.langevin.log_kT.fill_(math.log(1e-8))
        device = torch.device("cpu")
        scores = [evaluate_methods({"model": model}, task, 8, device, 0, samples=n)[0].overall["mae"] for n in (8, 32)]
        scores.append(evaluate_methods({"noiseless": cold}, task, 8, device, 0, samples=1)[0].overall["mae"])
        print(f"| {folder} | " + " | ".join(f"{v:.3f}" for v in scores) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default: the data config's)")
    parser.add_argument("--num", type=int, default=None, help="trajectories (default: the data config's)")
    parser.add_argument("--fractions", type=float, nargs=3, default=None, help="train / val / test split")
    parser.add_argument("--continuations", type=int, default=64, help="per trajectory and kind (a multiple of 8)")
    parser.add_argument("--checkpoints", nargs="*", default=[], help="neuralmd train run folders to score too")
    args = parser.parse_args(argv)
    if args.continuations < ENSEMBLE or args.continuations % ENSEMBLE:
        parser.error(f"--continuations must be a positive multiple of {ENSEMBLE}, got {args.continuations}")
    cfg = OmegaConf.load(CONFIG)
    for key in ("seed", "num", "fractions"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    task = build_task(cfg)
    options = OmegaConf.to_container(cfg.options)
    rows: dict[str, list[dict[str, float]]] = {}
    for split, records in (("train", task.train), ("val", task.val), ("test", task.test)):
        for record in records:
            index = int(str(record.id).rsplit("-", 1)[1])
            rows.setdefault(split, []).append(score_trajectory(record, index, int(cfg.seed), args.continuations,
                                                               options))
    print(f"synthetic data seed {cfg.seed}, {cfg.num} trajectories, {args.continuations} continuations: "
          "MAE (Å) from snapshot 1, mean over trajectories")
    names = list(next(iter(rows.values()))[0])
    print("| split | trajectories | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for split, scores in rows.items():
        means = [np.mean([s[n] for s in scores]) for n in names]
        print(f"| {split} | {len(scores)} | " + " | ".join(f"{m:.3f}" if math.isfinite(m) else "n/a" for m in means) + " |")
    if args.checkpoints:
        torch.set_num_threads(1)
        score_checkpoints(args.checkpoints, task)


if __name__ == "__main__":
    main()
