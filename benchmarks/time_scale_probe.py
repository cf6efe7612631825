"""Probe a trained Langevin NeuralMD on a validation trajectory: run its learned dynamics s times
faster, or its force c times stronger, and score each (docs/results.md, 3.2.2).

    python -m benchmarks.time_scale_probe --method "SDE + all + equilibrium score" \\
        --scales 1 1.5 2 3 4 6 8 [--data benchmarks/data/t4l_50fs.hdf5]
    python -m benchmarks.time_scale_probe --method "SDE + all + equilibrium score" --scales 1 2 \\
        --force-scales 1 1.5 2 3 5
    python -m benchmarks.time_scale_probe --method "SDE + all + anisotropic history prior, no learned force" \\
        --scales 0.5 0.75 1 1.5 2 3 --data benchmarks/data/t4l_50fs.hdf5

The model trains as in benchmarks/accuracy.py (single task: the trajectory's first 80 % of
snapshots, 64 channels, 3 layers, the velocity map). "s times faster" integrates the learned
dynamics over s times the time with the same step (``NeuralMD(time_scale=s)``: the initial
velocity divided by s): the same stationary distribution, s times faster relaxation. "c times
stronger" multiplies the force field's output by c at the same kT: the equilibrium p becomes p^c,
narrower. Each setting is scored like a
benchmark row (16 rollouts) on the trajectory's last 20 % ("test": use a validation trajectory,
never a test one) and on the second half of the training snapshots ("train").
"""
from __future__ import annotations

import argparse
import itertools
import json
import types
from pathlib import Path

import h5py
import torch

from neuralmd.data import read_misato

try:
    from benchmarks.accuracy import apparent_kT, build, cut, score, train, training_loss
except ImportError:  # run as a script
    from accuracy import apparent_kT, build, cut, score, train, training_loss

ROOT = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT / "data" / "t4l.hdf5")
    p.add_argument("--trajectory", default="T4L_02", help="a validation trajectory")
    p.add_argument("--method", default="SDE + all + equilibrium score")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scales", type=float, nargs="+", default=[1.0], help="time scales s")
    p.add_argument("--force-scales", type=float, nargs="+", default=[1.0], help="force scales c")
    p.add_argument("--out", type=Path, default=None, help="append JSON rows here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    with h5py.File(args.data, "r") as f:
        record = read_misato(f, args.trajectory)
    length = int(record["ligand"].pos.shape[1])
    seen = round(0.8 * length)
    train_set = [cut(record, 0, seen)]
    options = types.SimpleNamespace(lr=1e-3, steps=150, batch=4, window=5, train_samples=4, score_steps=600,
                                    seed_now=args.seed)
    torch.manual_seed(args.seed)
    model = build(args.method, hidden=64, layers=3, velocity_mapping=True, kT=apparent_kT(train_set), friction=None)
    train(model, train_set, options, training_loss(args.method))
    print(f"learned kT {model.langevin.kT.item():.3f}", flush=True)
    force_field = model.force_field
    plain_forward = force_field.forward
    for c, s in itertools.product(args.force_scales, args.scales):
        force_field.forward = lambda *a, c=c, **k: c * plain_forward(*a, **k)
        model.time_scale = s
        for where, records, start in [("test", [record], seen - 1), ("train", train_set, seen // 2)]:
            torch.manual_seed(args.seed)
            result = score(model, records, start, args.seed, 16)
            row = dict(data=args.data.name, trajectory=args.trajectory, method=args.method, seed=args.seed,
                       time_scale=s, force_scale=c, where=where,
                       **{k: result[k] for k in ("energy_score", "mae", "rmsf_ratio", "decorrelation", "stability")})
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
