"""Rollout speed (snapshots per second) of every dynamics model, with and without protein caching.

Speed follows DESIGN.md: predicted snapshots x complexes / wall seconds of ``rollout`` under
``torch.no_grad`` (VerletMD still differentiates its energy). The complex is MISATO-sized but
synthetic (a 30 heavy-atom ligand inside 300 residues), so the numbers measure cost, not accuracy.

    python benchmarks/bench_dynamics.py --threads 1           # 1 complex and a batch of 32
    python benchmarks/bench_dynamics.py --batch 1 --snapshots 10 --repeats 3 --out docs/results/bench_dynamics.md
"""
from __future__ import annotations

import argparse
import math
import platform
import time
from typing import Callable

import torch
from torch_geometric.data import Batch, HeteroData
from tqdm import tqdm

from neuralmd.dynamics import LinearBaseline, StaticBaseline

try:
    from benchmarks.methods import build
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from methods import build


def misato_sized_record(seed: int, n_lig: int = 30, n_res: int = 300, snapshots: int = 12) -> HeteroData:
    """A synthetic complex: a bonded random-walk ligand at the centre of a shell of residues."""
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(n_lig, 3, generator=g)
    lig = torch.cumsum(1.5 * steps / steps.norm(dim=-1, keepdim=True), 0)
    lig = lig - lig.mean(0)
    pos = lig.unsqueeze(1) + 0.05 * torch.randn(n_lig, snapshots, 3, generator=g).cumsum(1)
    direction = torch.randn(n_res, 3, generator=g)
    radius = 4.0 + 21.0 * torch.rand(n_res, 1, generator=g) ** (1 / 3)
    ca = radius * direction / direction.norm(dim=-1, keepdim=True)
    data = HeteroData()
    data["ligand"].z = torch.randint(6, 9, (n_lig,), generator=g)
    data["ligand"].mass = torch.tensor([12.011, 14.007, 15.999])[data["ligand"].z - 6]
    data["ligand"].pos = pos
    data["residue"].type = torch.randint(0, 20, (n_res,), generator=g)
    data["residue"].backbone = torch.stack((ca + torch.tensor([1.46, 0.0, 0.0]), ca,
                                            ca + torch.tensor([0.0, 1.52, 0.0])), dim=1)
    data["residue"].chain = torch.zeros(n_res, dtype=torch.long)
    data.id = f"synthetic{seed}"
    data.dt_ps = 0.08
    return data


#: Table row -> (benchmark method of ``benchmarks.methods``, overrides of its config).
VARIANTS: dict[str, tuple[str, dict]] = {
    "NeuralMD ODE (rk4, h=0.5)": ("NeuralMD ODE", {}),
    "NeuralMD ODE (euler, h=0.5)": ("NeuralMD ODE", {"method": "euler"}),
    "NeuralMD SDE (euler, h=0.5)": ("NeuralMD SDE", {}),
    # the default `neuralmd train` model (conf/model/neuralmd_langevin.yaml), paper-sized here
    "NeuralMD Langevin (baoab, h=0.5)": ("NeuralMD Langevin", {}),
    "VerletMD (h=0.5)": ("VerletMD", {}),
    "GNN-MD": ("GNN-MD", {}),
    "DenoisingLD (10 steps)": ("DenoisingLD", {}),
}


def methods() -> dict[str, Callable[[], torch.nn.Module]]:
    """Builders of the compared models, from the CLI's configs at the paper's sizes (untrained)."""
    return {name: (lambda method=method, extra=extra: build(method, overrides=extra))
            for name, (method, extra) in VARIANTS.items()}


def speed(model: torch.nn.Module, data, snapshots: int, complexes: int, repeats: int) -> tuple[float, float]:
    """Snapshots per second by wall clock and by this process's CPU time (median of ``repeats``).

    On a shared machine the wall clock also counts other processes' turns; CPU time of a
    one-thread run does not, so it is the steadier number there (with several threads it adds the
    threads' times and understates the speed).
    """
    times = list(range(1, snapshots + 2))
    with torch.no_grad():
        model.rollout(data, times[:2])  # warm-up: allocations, lazy initialisation
        walls, cpus = [], []
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            model.rollout(data, times)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    done = snapshots * complexes
    return done / sorted(walls)[len(walls) // 2], done / sorted(cpus)[len(cpus) // 2]


def _fmt(fps: float) -> str:
    if not math.isfinite(fps):
        return "inf"
    return f"{fps:,.0f}" if fps >= 1000 else f"{fps:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32], help="complexes per rollout")
    parser.add_argument("--snapshots", type=int, default=5, help="predicted snapshots per rollout")
    parser.add_argument("--repeats", type=int, default=1, help="timed rollouts (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--out", default=None, help="also write the table (markdown) here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    jobs = [(b, cache) for b in args.batch for cache in (True, False)]
    base = [("Static", StaticBaseline), ("Linear", LinearBaseline)]
    total = len(args.batch) * len(base) + len(jobs) * len(methods())
    with tqdm(total=total, desc="bench_dynamics") as bar:
        for b in args.batch:
            data = Batch.from_data_list([misato_sized_record(i) for i in range(b)])
            for name, cls in base:
                rows.append((name, b, "-", speed(cls(), data, args.snapshots, b, args.repeats)))
                bar.update()
            for cache in (True, False):
                for name, build in methods().items():
                    model = build().eval()
                    model.cache_protein = cache
                    rows.append((name, b, "yes" if cache else "no", speed(model, data, args.snapshots, b, args.repeats)))
                    bar.update()
    header = (f"Rollout speed, snapshots/s (higher is better); {args.snapshots} predicted snapshots, "
              f"default BindingNet, 30-atom ligand + 300 residues per complex, float32, CPU "
              f"({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__})")
    lines = [header, "", "| method | complexes | protein cached | snapshots/s (wall) | snapshots/s (CPU time) |",
             "|---|---:|:---:|---:|---:|"]
    for name, b, cache, (wall, cpu) in rows:
        lines.append(f"| {name} | {b} | {cache} | {_fmt(wall)} | {_fmt(cpu)} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(table + "\n")


if __name__ == "__main__":
    main()
