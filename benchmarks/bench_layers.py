"""Speed and memory of BindingNet with a cached protein encoding, and frame vs e3nn ligand blocks.

Cases (float32 and float64, default hyperparameters of Table 5: 5 layers, cutoff 5 Å, hidden 128):
  a) a MISATO-size complex: 30 heavy-atom ligand + 300 residues (synthetic backbone);
  b) MISATO's 6nij protein (2,002 residues, 8 chains) + a 40-atom ligand in its most crowded groove;
  c) BindingNetLigand vs E3nnLigand on the 30-atom ligand.

Each case runs in a fresh subprocess so that peak memory (``ru_maxrss``) is its own: we report the
growth of the peak over the set-up (imports, data, model, encoding), i.e. what the forward adds.

    python benchmarks/bench_layers.py [--threads 1] [--repeats 20] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tiny record builder and 6nij reader of the tests


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn, repeats: int) -> tuple[float, float]:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3, statistics.median(times) * 1e3


def _complex(case: str):
    import torch

    if case == "a":
        from _layers_records import random_record

        return random_record(0, num_atoms=30, num_residues=300, num_chains=1)
    from test_layers_misato import read_backbone

    data = read_backbone("6nij")
    ca = data["residue"].backbone[:, 1]
    centre = ca[(torch.cdist(ca, ca) < 10.0).sum(1).argmax()] + 4.0
    g = torch.Generator().manual_seed(0)
    data["ligand"].z = torch.tensor([6, 7, 8, 6]).repeat(10)
    data["ligand"].pos = (centre + 2.5 * torch.randn(40, 3, dtype=torch.float64, generator=g)).unsqueeze(1)
    return data


def run_case(case: str, dtype_name: str, repeats: int) -> dict:
    import torch

    from neuralmd.layers import BindingNet, BindingNetLigand, E3nnLigand

    dtype = getattr(torch, dtype_name)
    torch.manual_seed(0)
    data = _complex("a" if case == "c" else case)
    data["ligand"].pos = data["ligand"].pos.to(dtype)
    data["residue"].backbone = data["residue"].backbone.to(dtype)
    pos = data["ligand"].pos[:, 0].contiguous()
    out = {"case": case, "dtype": dtype_name, "ligand_atoms": pos.shape[0], "residues": data["residue"].type.shape[0]}
    if case == "c":
        for name, cls in (("frames", BindingNetLigand), ("e3nn", E3nnLigand)):
            block = cls().to(dtype)
            with torch.no_grad():
                out[f"{name}_ms"] = _timed(lambda: block(data["ligand"].z, pos), repeats)
        return out
    net = BindingNet().to(dtype)
    start = time.perf_counter()
    with torch.no_grad():
        protein = net.encode_protein(data)
    out["encode_ms"] = (time.perf_counter() - start) * 1e3
    before = _peak_mib()
    with torch.no_grad():
        out["forward_ms"] = _timed(lambda: net(data, pos, protein=protein), repeats)
    out["forward_peak_growth_mib"] = _peak_mib() - before
    train_pos = pos.clone().requires_grad_(True)

    def forward_backward():
        net(data, train_pos, protein=protein).square().sum().backward()

    out["forward_backward_ms"] = _timed(forward_backward, max(repeats // 4, 3))
    out["forward_backward_peak_growth_mib"] = _peak_mib() - before
    out["peak_rss_mib"] = _peak_mib()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this process
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(run_case(args.case, args.dtype, args.repeats)))
        return
    results = []
    for case in ("a", "b", "c"):
        for dtype in ("float32", "float64"):
            cmd = [sys.executable, __file__, "--case", case, "--dtype", dtype,
                   "--threads", str(args.threads), "--repeats", str(args.repeats)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = results[-1]
            if case == "c":
                print(f"c) {dtype}: BindingNetLigand {r['frames_ms'][0]:.1f} ms, E3nnLigand {r['e3nn_ms'][0]:.1f} ms "
                      f"(min of {args.repeats}; medians {r['frames_ms'][1]:.1f} / {r['e3nn_ms'][1]:.1f})")
            else:
                print(f"{case}) {dtype}: {r['ligand_atoms']} atoms + {r['residues']} residues: "
                      f"encode {r['encode_ms']:.0f} ms once; forward {r['forward_ms'][0]:.1f} ms "
                      f"(median {r['forward_ms'][1]:.1f}), +{r['forward_peak_growth_mib']:.1f} MiB peak; "
                      f"forward+backward {r['forward_backward_ms'][0]:.1f} ms, "
                      f"+{r['forward_backward_peak_growth_mib']:.1f} MiB; process peak {r['peak_rss_mib']:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
