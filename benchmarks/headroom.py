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
  ``--start``. Is the pooled pocket's per-atom Gaussian the right equilibrium shape? Against a
  whole-pose shrinkage kernel density of the same poses (bandwidth h: component j centred at
  ``mu + sqrt(1 - h^2) (x_j - mu)`` with covariance ``h^2 C``, so the total covariance stays C; h =
  1 is the Gaussian), scored over the whole horizon. And does a second time scale help the
  relaxation? The anisotropic OU relaxation into the pooled Gaussian against a two-scale one, the
  seen snapshots' cage (mean ``mu_o``, covariance ``C_o``) relaxing at ``phi_o`` while its centre
  drifts from ``mu_o`` into the pooled pocket at ``exp(-k / tau)`` (covariance the positive part of
  ``C - C_o``), scored on rolling origins ``--start, --start + --every, ...``, ``--horizon`` each.

Every forecast is a set of per-lag Gaussian (or kernel) draws, ``--samples`` per lag, scored by the
energy score (``neuralmd.metrics.energy_score``, per snapshot and atom, so only the per-lag
marginals count); a trajectory's score is its mean over seeds and origins, and each method is
compared to the reference with a paired 95 % bootstrap interval over trajectories::

    python -m benchmarks.headroom backtest --data benchmarks/data/t4l_50fs.hdf5
    python -m benchmarks.headroom pocket --data benchmarks/data/t4l_50fs.hdf5
"""
from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from typing import Callable

import h5py
import torch
from torch import Tensor

from neuralmd.data import attach_reference_poses, read_misato
from neuralmd.dynamics._baselines import observed_covariance, observed_lag1_correlation, symmetric_sqrt
from neuralmd.metrics import energy_score, paired_ratio_interval

#: (K, T, N, 3) standard normal draws -> (K, T, N, 3) forecast samples.
Forecast = Callable[[Tensor], Tensor]


def _all_seen(poses: Tensor) -> Tensor:
    """(N,) the last snapshot index of ``poses`` (N, S, 3): every pose counts as observed."""
    return torch.full((poses.shape[0],), poses.shape[1] - 1, dtype=torch.long)


def moments(poses: Tensor) -> tuple[Tensor, Tensor]:
    """Each atom's mean (N, 3) and unbiased 3 x 3 covariance (N, 3, 3) over ``poses`` (N, S, 3)."""
    return observed_covariance(poses, _all_seen(poses))


def lag1(poses: Tensor) -> Tensor:
    """(N,) each atom's lag-1 autocorrelation about its own mean over the snapshots ``poses``."""
    return observed_lag1_correlation(poses, _all_seen(poses))


def gaussian(mean: Tensor, root: Tensor) -> Forecast:
    """Draws ``mean + root z``: ``mean`` (T, N, 3), ``root`` (T, N, 3, 3) per lag and atom."""
    return lambda z: mean + torch.einsum("tnij,ktnj->ktni", root, z)


def stationary(seen: Tensor, lags: Tensor) -> Forecast:
    """The observed Gaussian of ``seen`` (N, S, 3) at every lag."""
    mean, cov = moments(seen)
    return gaussian(mean.expand(len(lags), -1, -1), symmetric_sqrt(cov).expand(len(lags), -1, -1, -1))


def ornstein_uhlenbeck(seen: Tensor, lags: Tensor, *, pool: Tensor | None = None) -> Forecast:
    """The anisotropic OU law from the last pose into the Gaussian of ``pool`` (default: ``seen``),
    at ``seen``'s own lag-1 correlation (as ``OrnsteinUhlenbeckBaseline`` with reference poses)."""
    mean, cov = moments(seen if pool is None else pool)
    phi = lag1(seen)
    a = phi.unsqueeze(0) ** lags.unsqueeze(1)                                           # (T, N)
    centre = mean + a.unsqueeze(-1) * (seen[:, -1] - mean)
    return gaussian(centre, (1 - a.square()).clamp_min(0).sqrt()[..., None, None] * symmetric_sqrt(cov))


def random_walk(seen: Tensor, lags: Tensor) -> Forecast:
    """RandomWalk's law: ``N(x_0, msd(k) / 3)`` per atom, the observed MSD at lag k (held beyond
    the largest observed lag)."""
    largest = seen.shape[1] - 1
    msd = torch.stack([(seen[:, min(int(k), largest):] - seen[:, :seen.shape[1] - min(int(k), largest)])
                       .square().sum(-1).mean(1) for k in lags])                       # (T, N)
    scale = (msd.cummax(0).values / 3).sqrt()[..., None, None] * torch.eye(3, dtype=seen.dtype)
    return gaussian(seen[:, -1].expand(len(lags), -1, -1), scale)


def conditioned(seen: Tensor, lags: Tensor, *, past: int) -> Forecast:
    """The Gaussian forecast conditioned on the last ``past`` snapshots through each atom's observed
    autocorrelation (about its mean, averaged over the coordinates, at lags 0..past - 1 + max lag),
    in the shape of its covariance: mean ``mu + sum_p w_p (x_p - mu)``, covariance
    ``(1 - w . c) C``, ``w = R^-1 c`` for the past-past correlations R and past-future ones c."""
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
    recent = centred[:, seen.shape[1] - 1 - order]                                      # (N, P, 3)
    centres, factors = [], []
    for k in lags.long().tolist():
        ahead = corr[:, order + k]                                                      # (N, P)
        weights = torch.linalg.solve(pair, ahead.unsqueeze(-1)).squeeze(-1)
        centres.append(mean + torch.einsum("np,npc->nc", weights, recent))
        factors.append((1 - (weights * ahead).sum(1)).clamp_min(1e-4))
    root = torch.stack(factors).sqrt()[..., None, None] * symmetric_sqrt(cov)
    return gaussian(torch.stack(centres), root)


def shrinkage_kde(pool: Tensor, lags: Tensor, *, bandwidth: float, generator: torch.Generator) -> Forecast:
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


def two_scale(seen: Tensor, lags: Tensor, *, pool: Tensor, tau: float) -> Forecast:
    """The seen cage relaxing at its lag-1 correlation while its centre drifts into ``pool``'s
    Gaussian at ``exp(-k / tau)`` (``tau`` in snapshots): mean ``mu + e_k (mu_o - mu) + phi_o^k
    (x_0 - mu_o)``, covariance ``(1 - phi_o^2k) C_o + (1 - e_k^2) [C - C_o]_+``."""
    own_mean, own_cov = moments(seen)
    mean, cov = moments(pool)
    values, vectors = torch.linalg.eigh(cov - own_cov)
    slow_cov = vectors @ torch.diag_embed(values.clamp_min(0)) @ vectors.transpose(-1, -2)
    fast = lag1(seen).unsqueeze(0) ** lags.unsqueeze(1)                                  # (T, N)
    slow = torch.exp(-lags / tau).unsqueeze(1).expand_as(fast)
    centre = mean + slow.unsqueeze(-1) * (own_mean - mean) + fast.unsqueeze(-1) * (seen[:, -1] - own_mean)
    total = ((1 - fast.square())[..., None, None] * own_cov + (1 - slow.square())[..., None, None] * slow_cov)
    return gaussian(centre, symmetric_sqrt(total))


def score(forecast: Forecast, future: Tensor, *, samples: int, generator: torch.Generator) -> float:
    """Energy score of ``samples`` draws of ``forecast`` against ``future`` (N, T, 3)."""
    z = torch.randn(samples, future.shape[1], future.shape[0], 3, generator=generator, dtype=future.dtype)
    return energy_score(forecast(z), future.transpose(0, 1))


def backtest(args) -> dict[str, dict[str, list[float]]]:
    """``{method: {trajectory: [score per seed and origin]}}`` on the training parts (``backtest``)."""
    results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    lags = torch.arange(1, args.horizon + 1, dtype=torch.float64)
    with h5py.File(args.data, "r") as f:
        names = args.trajectories or sorted(f)
        records = {n: read_misato(f, n)["ligand"].pos[:, :args.seen].double() for n in names}
    origins = range(args.first_origin, args.seen - args.horizon, args.every)
    for name, pos in records.items():
        for seed in args.seeds:
            generator = torch.Generator().manual_seed(seed)
            for origin in origins:
                seen, future = pos[:, :origin + 1], pos[:, origin + 1:origin + 1 + args.horizon]
                methods = {"Stationary (anisotropic)": stationary(seen, lags), "RandomWalk": random_walk(seen, lags),
                           "OrnsteinUhlenbeck (anisotropic)": ornstein_uhlenbeck(seen, lags)}
                for past in args.past:
                    methods[f"conditioned on the last {past}"] = conditioned(seen, lags, past=past)
                for method, forecast in methods.items():
                    results[method][name].append(score(forecast, future, samples=args.samples, generator=generator))
    return results


def pocket(args) -> tuple[dict, dict]:
    """Whole-horizon (kernel densities) and rolling (two-scale) results on the validation split."""
    whole: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    rolling: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with h5py.File(args.data, "r") as f:
        train = [read_misato(f, n) for n in args.train]
        tests = attach_reference_poses([read_misato(f, n) for n in args.test], train)
    for label, record in zip(args.test, tests):
        pos = record["ligand"].pos.double()
        reference = record["ligand"].reference_pos.double()
        reference = reference[:, torch.isfinite(reference).all(-1).all(0)]
        for seed in args.seeds:
            generator = torch.Generator().manual_seed(seed)
            seen, future = pos[:, :args.start + 1], pos[:, args.start + 1:]
            pool = torch.cat([seen, reference], 1)
            lags = torch.arange(1, future.shape[1] + 1, dtype=torch.float64)
            whole["Stationary (anisotropic), reference poses"][label].append(
                score(stationary(pool, lags), future, samples=args.samples, generator=generator))
            for h in args.bandwidths:
                whole[f"kernel density, h = {h:g}"][label].append(score(
                    shrinkage_kde(pool, lags, bandwidth=h, generator=generator), future, samples=args.samples,
                    generator=generator))
            lags = torch.arange(1, args.horizon + 1, dtype=torch.float64)
            for origin in range(args.start, pos.shape[1] - args.horizon, args.every):
                seen, future = pos[:, :origin + 1], pos[:, origin + 1:origin + 1 + args.horizon]
                pool = torch.cat([seen, reference], 1)
                rolling["OrnsteinUhlenbeck (anisotropic), reference poses"][label].append(score(
                    ornstein_uhlenbeck(seen, lags, pool=pool), future, samples=args.samples, generator=generator))
                for tau in args.taus:
                    rolling[f"two-scale, tau = {tau:g} snapshots"][label].append(score(
                        two_scale(seen, lags, pool=pool, tau=tau), future, samples=args.samples, generator=generator))
    return whole, rolling


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
        print(f"| {method} | {statistics.mean(mine):.4f} | {ratio:.3f} [{low:.3f}, {high:.3f}] | {lower}/{len(names)} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("check", choices=("backtest", "pocket"))
    p.add_argument("--data", default="benchmarks/data/t4l_50fs.hdf5")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 42, 123])
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--horizon", type=int, default=None,
                   help="snapshots per forecast (default: 20 for backtest, 10 for the pocket's rolling origins)")
    p.add_argument("--every", type=int, default=5, help="snapshots between origins")
    # backtest
    p.add_argument("--trajectories", nargs="+", default=None, help="backtest: default every trajectory")
    p.add_argument("--seen", type=int, default=80, help="backtest: snapshots 0..seen-1 only are read")
    p.add_argument("--first-origin", type=int, default=40)
    p.add_argument("--past", nargs="+", type=int, default=[1, 2, 4])
    # pocket
    p.add_argument("--train", nargs="+", default=[f"T4L_{i:02d}" for i in range(9)])
    p.add_argument("--test", nargs="+", default=["T4L_09", "T4L_10", "T4L_11"])
    p.add_argument("--start", type=int, default=20)
    p.add_argument("--bandwidths", nargs="+", type=float, default=[1.0, 0.7, 0.5, 0.3, 0.15])
    p.add_argument("--taus", nargs="+", type=float, default=[2, 5, 10, 20, 40])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.check == "backtest":
        args.horizon = args.horizon or 20
        report(backtest(args), "OrnsteinUhlenbeck (anisotropic)",
               f"backtest: origins {args.first_origin}, {args.first_origin + args.every}, ... inside snapshots "
               f"0-{args.seen - 1}, {args.horizon} snapshots each")
    else:
        args.horizon = args.horizon or 10
        whole, rolling = pocket(args)
        report(whole, "Stationary (anisotropic), reference poses", f"pocket, whole horizon from snapshot {args.start}")
        report(rolling, "OrnsteinUhlenbeck (anisotropic), reference poses",
               f"pocket, rolling origins {args.start}, {args.start + args.every}, ..., {args.horizon} snapshots each")


if __name__ == "__main__":
    main()
