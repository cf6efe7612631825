"""How much is left to gain over the trivial Gaussian forecasts of T4L? (docs/results.md, 3.2.10)

Two checks that read **no test snapshot**, run before deciding whether to build another model:

* ``backtest`` (the single task's question): forecasts from origins inside every trajectory's
  training part (snapshots ``0..--seen - 1``, 80 of 100: the single task's test snapshots 80-99 are
  never read), ``--horizon`` snapshots each. Does anything in the past beyond the last pose help?
  The anisotropic Ornstein-Uhlenbeck relaxation (``OrnsteinUhlenbeckBaseline(shape="anisotropic")``'s
  law: mean ``mu + phi^k (x_0 - mu)``, covariance ``(1 - phi^2k) C``) against a Gaussian forecast
  conditioned on the last P snapshots through each atom's observed autocorrelation (P = 1 uses the
  observed correlation at every lag instead of ``phi^k``), the Stationary draw and RandomWalk's
  law (``N(x_0, msd(k) / 3)``).
* ``pocket`` (the multi task's question, with reference poses): on the validation split (train
  T4L_00-08, whose ligand poses are the reference poses, validate T4L_09-11), from snapshot
  ``--start`` over the whole horizon. Is the pooled pocket's per-atom Gaussian the right
  equilibrium shape? ``StationaryBaseline(shape="anisotropic")`` against a whole-pose shrinkage
  kernel density of the same poses (bandwidth h: component j centred at ``mu + sqrt(1 - h^2) (x_j -
  mu)`` with covariance ``h^2 C``, so the total covariance stays C; h = 1 is the Gaussian). (Whether
  a second time scale helps the relaxation is ``OrnsteinUhlenbeckBaseline(cage_drift=)``'s
  question, run by ``benchmarks.accuracy --cage-drift``.)

The trivial baselines are the library's own (``rollout(..., samples=K)`` from each origin of the
record cut to what it may see); the other forecasts are per-lag Gaussian (or kernel) draws,
``--samples`` per lag. All are scored by the energy score (``neuralmd.metrics.energy_score``, per
snapshot and atom, so only the per-lag marginals count); a trajectory's score is its mean over
seeds and origins, and each method is compared to the reference with a paired 95 % bootstrap
interval over trajectories::

    python -m benchmarks.headroom backtest --data benchmarks/data/t4l_50fs.hdf5
    python -m benchmarks.headroom pocket --data benchmarks/data/t4l_50fs.hdf5
"""
from __future__ import annotations

import argparse
import copy
import statistics
from collections import defaultdict
from typing import Callable

import h5py
import torch
from torch import Tensor

from neuralmd.data import attach_reference_poses, read_misato
from neuralmd.dynamics import OrnsteinUhlenbeckBaseline, RandomWalkBaseline, StationaryBaseline
from neuralmd.dynamics._baselines import observed_covariance, symmetric_sqrt
from neuralmd.metrics import energy_score, paired_ratio_interval

#: (K, T, N, 3) standard normal draws -> (K, T, N, 3) forecast samples.
Forecast = Callable[[Tensor], Tensor]
#: The library's trivial baselines each check compares against.
BACKTEST_BASELINES = {"Stationary (anisotropic)": lambda: StationaryBaseline(shape="anisotropic"),
                      "RandomWalk": RandomWalkBaseline,
                      "OrnsteinUhlenbeck (anisotropic)": lambda: OrnsteinUhlenbeckBaseline(shape="anisotropic")}


def moments(poses: Tensor) -> tuple[Tensor, Tensor]:
    """Each atom's mean (N, 3) and unbiased 3 x 3 covariance (N, 3, 3) over ``poses`` (N, S, 3)."""
    return observed_covariance(poses, torch.full((poses.shape[0],), poses.shape[1] - 1, dtype=torch.long))


def conditioned(seen: Tensor, lags: Tensor, *, past: int) -> Forecast:
    """The Gaussian forecast conditioned on the last ``past`` snapshots through each atom's observed
    autocorrelation (about its mean, averaged over the coordinates, at lags 0..past - 1 + max lag),
    in the shape of its covariance: mean ``mu + sum_p w_p (x_p - mu)``, covariance
    ``(1 - w . c) C``, ``w = R^-1 c`` for the past-past correlations R and past-future ones c.
    ``past = 1`` is the Ornstein-Uhlenbeck law with the observed correlation at every lag in place
    of ``phi^k``."""
    mean, cov = moments(seen)
    centred = seen - mean.unsqueeze(1)
    length = seen.shape[1]
    most = past - 1 + int(lags.max())
    if most >= length - 1:
        raise ValueError(f"conditioning on {past} snapshots {int(lags.max())} ahead needs more than {length} seen")
    acov = torch.stack([(centred[:, k:] * centred[:, :length - k]).sum((1, 2)) / (3 * (length - k))
                        for k in range(most + 1)], 1)                                   # (N, most + 1)
    corr = acov / acov[:, :1].clamp_min(torch.finfo(seen.dtype).tiny)
    order = torch.arange(past)                                  # 0 = the last snapshot, p = p before it
    pair = corr[:, (order.unsqueeze(0) - order.unsqueeze(1)).abs()] + 1e-6 * torch.eye(past, dtype=seen.dtype)
    recent = centred[:, length - 1 - order]                                             # (N, P, 3)
    centres, factors = [], []
    for k in lags.long().tolist():
        ahead = corr[:, order + k]                                                      # (N, P)
        weights = torch.linalg.solve(pair, ahead.unsqueeze(-1)).squeeze(-1)
        centres.append(mean + torch.einsum("np,npc->nc", weights, recent))
        factors.append((1 - (weights * ahead).sum(1)).clamp_min(1e-4))
    root = torch.stack(factors).sqrt()[..., None, None] * symmetric_sqrt(cov)           # (T, N, 3, 3)
    centres = torch.stack(centres)
    return lambda z: centres + torch.einsum("tnij,ktnj->ktni", root, z)


def shrinkage_kde(pool: Tensor, *, bandwidth: float, generator: torch.Generator) -> Forecast:
    """Whole-pose kernel density of the poses ``pool`` (N, S, 3) with bandwidth h in (0, 1]: each
    sample picks one pose j and draws ``mu + sqrt(1 - h^2) (x_j - mu) + h C^(1/2) z``; its mean and
    covariance are the pool's, and h = 1 is the Gaussian."""
    if not 0 < bandwidth <= 1:
        raise ValueError(f"bandwidth must be in (0, 1], got {bandwidth}")
    mean, cov = moments(pool)
    shrunk = mean.unsqueeze(1) + (1 - bandwidth ** 2) ** 0.5 * (pool - mean.unsqueeze(1))       # (N, S, 3)
    root = bandwidth * symmetric_sqrt(cov)

    def draw(z: Tensor) -> Tensor:
        pick = torch.randint(pool.shape[1], z.shape[:2], generator=generator)          # (K, T): whole poses
        return shrunk[:, pick].permute(1, 2, 0, 3) + torch.einsum("nij,ktnj->ktni", root, z)

    return draw


def score(forecast: Forecast, future: Tensor, *, samples: int, generator: torch.Generator) -> float:
    """Energy score of ``samples`` draws of ``forecast`` against ``future`` (N, T, 3)."""
    z = torch.randn(samples, future.shape[1], future.shape[0], 3, generator=generator, dtype=future.dtype)
    return energy_score(forecast(z), future.transpose(0, 1))


def score_baseline(model, record, origin: int, horizon: int, *, samples: int, seed: int) -> float:
    """Energy score of a library baseline's ensemble from ``origin`` over ``horizon`` snapshots."""
    times = torch.arange(origin, origin + horizon + 1)
    draws = model.rollout(record, times, generator=torch.Generator().manual_seed(seed), samples=samples)
    return energy_score(draws[:, 1:], record["ligand"].pos[:, origin + 1:origin + 1 + horizon].transpose(0, 1))


def cut(record, snapshots: int):
    """``record`` with its ligand's first ``snapshots`` snapshots only: what the check may read."""
    out = copy.copy(record)
    out["ligand"].pos = record["ligand"].pos[:, :snapshots]
    return out


def backtest(args) -> dict[str, dict[str, list[float]]]:
    """``{method: {trajectory: [score per seed and origin]}}`` on the training parts (``backtest``)."""
    results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    lags = torch.arange(1, args.horizon + 1, dtype=torch.float64)
    with h5py.File(args.data, "r") as f:
        names = args.trajectories or sorted(f)
        records = {n: cut(read_misato(f, n), args.seen) for n in names}
    baselines = {name: make() for name, make in BACKTEST_BASELINES.items()}
    for name, record in records.items():
        pos = record["ligand"].pos.double()
        for seed in args.seeds:
            generator = torch.Generator().manual_seed(seed)
            for origin in range(args.first_origin, args.seen - args.horizon, args.every):
                for method, model in baselines.items():
                    results[method][name].append(score_baseline(model, record, origin, args.horizon,
                                                                samples=args.samples, seed=seed))
                seen, future = pos[:, :origin + 1], pos[:, origin + 1:origin + 1 + args.horizon]
                for past in args.past:
                    results[f"conditioned on the last {past}"][name].append(
                        score(conditioned(seen, lags, past=past), future, samples=args.samples, generator=generator))
    return results


def pocket(args) -> dict[str, dict[str, list[float]]]:
    """Whole-horizon results of the kernel densities against the pooled Gaussian (``pocket``)."""
    results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with h5py.File(args.data, "r") as f:
        train = [read_misato(f, n) for n in args.train]
        tests = attach_reference_poses([read_misato(f, n) for n in args.test], train)
    gaussian = StationaryBaseline(shape="anisotropic")
    for name, record in zip(args.test, tests):
        pos = record["ligand"].pos.double()
        reference = record["ligand"].reference_pos.double()
        pool = torch.cat([pos[:, :args.start + 1], reference[:, torch.isfinite(reference).all(-1).all(0)]], 1)
        future = pos[:, args.start + 1:]
        for seed in args.seeds:
            generator = torch.Generator().manual_seed(seed)
            results["Stationary (anisotropic), reference poses"][name].append(score_baseline(
                gaussian, record, args.start, future.shape[1], samples=args.samples, seed=seed))
            for h in args.bandwidths:
                results[f"kernel density, h = {h:g}"][name].append(score(
                    shrinkage_kde(pool, bandwidth=h, generator=generator), future, samples=args.samples,
                    generator=generator))
    return results


def report(results: dict[str, dict[str, list[float]]], reference: str, title: str) -> None:
    """Each method's mean score over trajectories and its ratio to ``reference`` with the paired
    95 % bootstrap interval over trajectories (each the mean of its seeds and origins)."""
    names = sorted(results[reference])
    base = [statistics.mean(results[reference][n]) for n in names]
    print(f"\n{title} ({len(names)} trajectories; ratio to {reference})")
    print("| method | energy score (Å) | ratio [95 % interval] | lower on |")
    print("|---|---:|---|---:|")
    for method, per in results.items():
        mine = [statistics.mean(per[n]) for n in names]
        ratio, low, high = paired_ratio_interval(mine, base)
        lower = sum(m < b for m, b in zip(mine, base))
        print(f"| {method} | {statistics.mean(mine):.4f} | {ratio:.3f} [{low:.3f}, {high:.3f}] "
              f"| {lower}/{len(names)} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("check", choices=("backtest", "pocket"))
    p.add_argument("--data", default="benchmarks/data/t4l_50fs.hdf5")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 42, 123])
    p.add_argument("--samples", type=int, default=16)
    # backtest
    p.add_argument("--horizon", type=int, default=20, help="backtest: snapshots per forecast")
    p.add_argument("--every", type=int, default=5, help="backtest: snapshots between origins")
    p.add_argument("--trajectories", nargs="+", default=None, help="backtest: default every trajectory")
    p.add_argument("--seen", type=int, default=80, help="backtest: snapshots 0..seen-1 only are read")
    p.add_argument("--first-origin", type=int, default=40)
    p.add_argument("--past", nargs="+", type=int, default=[1, 2, 4])
    # pocket
    p.add_argument("--train", nargs="+", default=[f"T4L_{i:02d}" for i in range(9)])
    p.add_argument("--test", nargs="+", default=["T4L_09", "T4L_10", "T4L_11"])
    p.add_argument("--start", type=int, default=20)
    p.add_argument("--bandwidths", nargs="+", type=float, default=[1.0, 0.7, 0.5, 0.3, 0.15])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.check == "backtest":
        report(backtest(args), "OrnsteinUhlenbeck (anisotropic)",
               f"backtest: origins {args.first_origin}, {args.first_origin + args.every}, ... inside snapshots "
               f"0-{args.seen - 1}, {args.horizon} snapshots each")
    else:
        report(pocket(args), "Stationary (anisotropic), reference poses",
               f"pocket: {', '.join(args.test)} from snapshot {args.start}, the whole horizon")


if __name__ == "__main__":
    main()
