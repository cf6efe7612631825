"""What sharing the layers' parameter products within a training loss saves (docs/results.md, 2.4).

One Adam step on the Eq. 13 loss (paper-sized NeuralMD ODE of the floor benchmark, Euler 0.5,
window 5, batch of 8 SYN-300 trajectories), timed in one process with the products shared (what
``DynamicsModel.loss`` does, :func:`neuralmd.layers.shared_parameter_products`) and rebuilt at every
force evaluation (the block replaced by a no-op), alternating ``--rounds`` times; best CPU seconds
of each, one thread.

    python benchmarks/shared_products.py [--rounds 7] [--batch 8]
"""
from __future__ import annotations

import argparse
import contextlib
import time

import torch
from torch_geometric.data import Batch

import neuralmd.dynamics._base as dynamics_base
from neuralmd.dynamics import NeuralMD
from neuralmd.layers import BindingNet

try:
    from benchmarks.floor import FORCE_FIELD
    from benchmarks.speed import syn_300
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from floor import FORCE_FIELD
    from speed import syn_300


def main(argv: list[str] | None = None) -> dict[bool, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=8, help="SYN-300 trajectories per step")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = Batch.from_data_list([syn_300()] * args.batch)
    torch.manual_seed(0)
    model = NeuralMD(BindingNet(**FORCE_FIELD), solver="ode", method="euler", step_size=0.5).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    shared = dynamics_base.shared_parameter_products

    def step(share: bool) -> float:
        dynamics_base.shared_parameter_products = shared if share else contextlib.nullcontext
        try:
            start = time.process_time()
            torch.manual_seed(0)
            opt.zero_grad()
            model.loss(data, window=5).backward()
            opt.step()
            return time.process_time() - start
        finally:
            dynamics_base.shared_parameter_products = shared

    best = {True: float("inf"), False: float("inf")}
    for share in (False, True) * (args.rounds + 1):
        seconds = step(share)
        best[share] = min(best[share], seconds)  # the first round warms up; its time rarely wins
    print(f"CPU s per Adam step: products rebuilt per evaluation {best[False]:.3f}, shared {best[True]:.3f} "
          f"({best[False] / best[True]:.3f}x)")
    return best


if __name__ == "__main__":
    main()
