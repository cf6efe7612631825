"""Cost and effect of ``BindingNet(compile=True)`` on one CPU thread (docs/results.md, section 2.4).

The paper-sized force field of the floor benchmark (hidden 128, 4 layers, 96 radial functions) on
the SYN complex, batch 1: CPU seconds of the first compiled call, of 6 calls at moved positions
(new edge counts), the largest force difference from eager mode, and the best CPU ms per call of
eager and compiled evaluations, timed in turn three times.

With ``--checkpoint RUN`` (a ``neuralmd train`` run folder, e.g. the default Langevin model) it
times that model's one-ligand rollouts instead (a synthetic complex, 100 snapshots): eager, with
only the force field compiled, and with every BindingNet module compiled
(:func:`neuralmd.layers.compile_message_passing`, what ``neuralmd simulate compile=default`` does),
after a 60-snapshot warm-up rollout whose CPU time includes compiling.

    python benchmarks/compile_check.py
    python benchmarks/compile_check.py --checkpoint runs/RUN
"""
from __future__ import annotations

import argparse
import time

import torch

try:
    from benchmarks.floor import FORCE_FIELD, alternate
    from benchmarks.speed import synthetic_complex
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from floor import FORCE_FIELD, alternate
    from speed import synthetic_complex

from neuralmd.layers import BindingNet, compile_message_passing


def rollouts(checkpoint: str) -> None:
    """Eager, force-field-compiled and fully compiled rollouts of a trained model, timed in turn."""
    from torch_geometric.data import Batch

    from neuralmd.cli._checkpoint import model_from_checkpoint
    from neuralmd.data import synthetic_trajectories

    models = {kind: model_from_checkpoint(checkpoint, torch.device("cpu"))[0]
              for kind in ("eager", "force field compiled", "every module compiled")}
    models["force field compiled"].force_field.compile_message_passing()
    compile_message_passing(models["every module compiled"])
    record = synthetic_trajectories(8, seed=0)[3]
    data, last = Batch.from_data_list([record]), record["ligand"].pos.shape[1] - 1
    with torch.no_grad():
        for kind, model in models.items():
            wall, cpu = time.perf_counter(), time.process_time()
            model.rollout(data, torch.linspace(last, last + 60, 61))
            print(f"{kind}: warm-up rollout {time.perf_counter() - wall:.1f} s wall, "
                  f"{time.process_time() - cpu:.1f} s CPU")
        best = alternate({kind: (lambda model=model: model.rollout(data, torch.linspace(last, last + 100, 101)))
                          for kind, model in models.items()}, rounds=3, calls=1)
    print("snapshots per CPU s: " + ", ".join(f"{kind} {100 / t:.1f}" for kind, t in best.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="a neuralmd train run folder: time its rollouts instead")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.checkpoint:
        rollouts(args.checkpoint)
        return
    torch.manual_seed(0)
    eager = BindingNet(**FORCE_FIELD).eval()
    compiled = BindingNet(**FORCE_FIELD, compile=True).eval()
    compiled.load_state_dict(eager.state_dict())
    data = synthetic_complex(300)
    x = data["ligand"].pos[:, 80]
    with torch.no_grad():
        enc = eager.encode_protein(data)
        wall, cpu = time.perf_counter(), time.process_time()
        compiled(data, x, protein=enc)
        print(f"first compiled call: {time.perf_counter() - wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU")
        moved = [x + 0.3 * torch.randn_like(x) for _ in range(6)]
        wall, cpu = time.perf_counter(), time.process_time()
        for pos in moved:
            compiled(data, pos, protein=enc)
        print(f"6 calls at moved positions: {time.perf_counter() - wall:.1f} s wall, "
              f"{time.process_time() - cpu:.1f} s CPU")
        diff = max(float((compiled(data, p, protein=enc) - eager(data, p, protein=enc)).abs().max()) for p in moved)
        print(f"largest force difference from eager: {diff:.1e}")
        best = alternate({"eager": lambda: eager(data, x, protein=enc),
                          "compiled": lambda: compiled(data, x, protein=enc)}, rounds=3, calls=20)
        print(f"best CPU ms per call: eager {best['eager'] * 1e3:.2f}, compiled {best['compiled'] * 1e3:.2f}")


if __name__ == "__main__":
    main()
