"""Speed and memory of BindingNet with a cached protein encoding, and frame vs e3nn ligand blocks.

Cases (float32 and float64, default hyperparameters of Table 5: 5 layers, cutoff 5 Å, hidden 128):
  a) a MISATO-size complex: 30 heavy-atom ligand + 300 residues (synthetic backbone);
  b) MISATO's 6nij protein (2,002 residues, 8 chains) + a 40-atom ligand in its most crowded groove;
  c) BindingNetLigand vs E3nnLigand on the 30-atom ligand.

Each case is prepared (data, model, one protein encoding, saved to a temporary file) in one
subprocess and measured in a fresh one, so the peak memory (``ru_maxrss``) seen there is not set by
the encoding: we report how far the forward raises the peak over the measuring process's set-up
(imports, loaded data and model), and that set-up's own peak.

    python benchmarks/bench_layers.py [--threads 1] [--repeats 20] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tiny record builder and 6nij reader of the tests


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn, repeats: int) -> tuple[float, float, float]:
    """(best wall ms, median wall ms, best CPU ms) after 3 warm-up calls. On one thread the CPU
    time is the compute itself; wall time also counts waiting for a busy machine's cores."""
    for _ in range(3):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall) * 1e3, statistics.median(wall) * 1e3, min(cpu) * 1e3


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


def prepare_case(case: str, dtype_name: str, path: Path) -> None:
    """Build the complex, model and protein encoding, and save them for :func:`measure_case`, so
    that the measuring process's memory peak is not set by the one-off encoding."""
    import torch

    from neuralmd.layers import BindingNet

    dtype = getattr(torch, dtype_name)
    torch.manual_seed(0)
    data = _complex(case)
    data["ligand"].pos = data["ligand"].pos.to(dtype)
    data["residue"].backbone = data["residue"].backbone.to(dtype)
    net = BindingNet().to(dtype)
    with torch.no_grad():
        encode_ms = _timed(lambda: net.encode_protein(data).h, 3)[0]  # every residue, not only the pocket's
        protein = net.encode_protein(data).detach()  # every residue, and no closure to pickle
    torch.save({"data": data, "state": net.state_dict(), "protein": protein, "encode_ms": encode_ms}, path)


def measure_case(case: str, dtype_name: str, repeats: int, path: Path) -> dict:
    import torch

    from neuralmd.layers import BindingNet, BindingNetLigand, E3nnLigand

    dtype = getattr(torch, dtype_name)
    torch.manual_seed(0)
    if case == "c":
        data = _complex("a")
        pos = data["ligand"].pos[:, 0].to(dtype).contiguous()
        out = {"case": case, "dtype": dtype_name, "ligand_atoms": pos.shape[0]}
        for name, cls in (("frames", BindingNetLigand), ("e3nn", E3nnLigand)):
            block = cls().to(dtype)
            with torch.no_grad():
                out[f"{name}_ms"] = _timed(lambda: block(data["ligand"].z, pos), repeats)
        return out
    saved = torch.load(path, weights_only=False)
    data, protein = saved["data"], saved["protein"]
    net = BindingNet().to(dtype)
    net.load_state_dict(saved["state"])
    pos = data["ligand"].pos[:, 0].contiguous()
    near = torch.cdist(pos, protein.ca).lt(net.complex.cutoff)
    out = {
        "case": case, "dtype": dtype_name, "ligand_atoms": pos.shape[0], "residues": protein.ca.shape[0],
        "pocket_pairs": int(near.sum()), "encode_ms": saved["encode_ms"],
    }
    before = _peak_mib()
    with torch.no_grad():
        out["forward_ms"] = _timed(lambda: net(data, pos, protein=protein), repeats)
    out["forward_peak_growth_mib"] = _peak_mib() - before
    train_pos = pos.clone().requires_grad_(True)

    def forward_backward():
        net(data, train_pos, protein=protein).square().sum().backward()

    out["forward_backward_ms"] = _timed(forward_backward, max(repeats // 4, 3))
    out["forward_backward_peak_growth_mib"] = _peak_mib() - before
    out["baseline_rss_mib"] = before
    return out


def _describe(r: dict, repeats: int) -> str:
    def ms(t: list) -> str:
        return f"{t[0]:.1f} ms wall (median {t[1]:.1f}), {t[2]:.1f} ms CPU"

    if r["case"] == "c":
        return (f"c) {r['dtype']}: 30-atom ligand, best of {repeats}: BindingNetLigand {ms(r['frames_ms'])}; "
                f"E3nnLigand {ms(r['e3nn_ms'])}")
    return (f"{r['case']}) {r['dtype']}: {r['ligand_atoms']} atoms + {r['residues']} residues "
            f"({r['pocket_pairs']} atom-residue pairs in range): encode {r['encode_ms']:.0f} ms once per protein; "
            f"forward {ms(r['forward_ms'])}, peak RSS +{r['forward_peak_growth_mib']:.1f} MiB; "
            f"forward+backward {ms(r['forward_backward_ms'])}, +{r['forward_backward_peak_growth_mib']:.1f} MiB "
            f"(over {r['baseline_rss_mib']:.0f} MiB after set-up)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this process
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--stage", default="measure", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        import torch

        torch.set_num_threads(args.threads)
        if args.stage == "prepare":
            prepare_case(args.case, args.dtype, args.file)
        else:
            print(json.dumps(measure_case(args.case, args.dtype, args.repeats, args.file)))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in ("a", "b", "c"):
            for dtype in ("float32", "float64"):
                base = [sys.executable, __file__, "--case", case, "--dtype", dtype, "--file", f"{tmp}/{case}{dtype}.pt",
                        "--threads", str(args.threads), "--repeats", str(args.repeats)]
                if case != "c":
                    subprocess.run(base + ["--stage", "prepare"], check=True)
                done = subprocess.run(base, capture_output=True, text=True, check=True)
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(_describe(results[-1], args.repeats))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
