"""Cost and effect of ``BindingNet(compile=True)`` on one CPU thread (docs/results.md, section 2.4).

The paper-sized force field of the floor benchmark (hidden 128, 4 layers, 96 radial functions) on
the SYN complex, batch 1: CPU seconds of the first compiled call, of 6 calls at moved positions
(new edge counts), the largest force difference from eager mode, and the best CPU ms per call of
eager and compiled evaluations, timed in turn three times.

    python benchmarks/compile_check.py
"""
from __future__ import annotations

import time

import torch

try:
    from benchmarks.floor import FORCE_FIELD, alternate
    from benchmarks.speed import synthetic_complex
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from floor import FORCE_FIELD, alternate
    from speed import synthetic_complex

from neuralmd.layers import BindingNet


def main() -> None:
    torch.set_num_threads(1)
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
