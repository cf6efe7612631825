"""Speed benchmark: rollout snapshots/s, cost versus protein size, training throughput, peak memory
and the speed-up over numerical MD (OpenMM) on the same complex, measured in the same run.

    python -m benchmarks.speed                       # CPU, one thread (docs/results.md)
    python -m benchmarks.speed --device cuda         # the same tables on a GPU
    python -m benchmarks.speed --quick               # a smoke test of every section
    python -m benchmarks.speed --floor --baseline /work/speed-base/src [--compile] [--edge-dtype bfloat16]
                                                     # force evaluations against the matmul floor,
                                                     # this tree vs another checkout (benchmarks/floor.py),
                                                     # and this tree compiled (torch.compile)

Complexes: ``T4L`` is the real-MD benchmark (``benchmarks/data/t4l.hdf5``: p-xylene, 8 heavy
atoms, in the 8 Å pocket of T4 lysozyme L99A); ``SYN`` is a synthetic complex of MISATO-like size
(a 30-atom toy ligand in a 100-residue toy pocket, padded to 300 residues with distant copies of
that pocket). Models are untrained, paper-sized (BindingNet hidden 128, 5 layers, cutoff 5 Å):
speed does not depend on the weights. FPS = predicted snapshots x complexes / wall seconds.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import ctypes.util
import functools
import importlib.util
import json
import platform
import statistics
import threading
import time
import traceback
from pathlib import Path

import torch
from torch_geometric.data import Batch

from neuralmd.data import read_misato, synthetic_trajectories
from neuralmd.layers import radius

try:
    from benchmarks import floor
    from benchmarks.methods import METHODS, build
except ImportError:  # run as a script: benchmarks/ is on sys.path
    import floor
    from methods import METHODS, build

ROOT = Path(__file__).resolve().parent
_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if ctypes.util.find_library("c") else None
T4L = ROOT / "data" / "t4l.hdf5"
#: The rollout and training tables' models: the paper's methods and, after its SDE, Langevin NeuralMD
#: (the default model config's dynamics: BAOAB, per-atom friction network, velocity map).
SPEED_METHODS = (*METHODS[:2], "NeuralMD Langevin", *METHODS[2:])


class Measure:
    """Wall and CPU seconds of a block, and its peak memory in MB.

    CPU seconds are this process's (all its threads): on a machine shared with other jobs they are
    what an idle core would have taken, while wall seconds include waiting for the core. Memory is
    the CUDA allocator's peak, or on CPU the peak growth of the process RSS sampled every 2 ms after
    returning freed heap memory to the system (``malloc_trim``); it is approximate.
    """

    def __init__(self, device: torch.device):
        self.device = device

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            if _LIBC is not None:
                _LIBC.malloc_trim(0)
            self.base = self.peak = self._rss()
            self.running = True
            self.thread = threading.Thread(target=self._watch, daemon=True)
            self.thread.start()
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def _watch(self):
        while self.running:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        if self.device.type == "cuda":
            self.mb = (torch.cuda.max_memory_allocated() - self.base) / 1e6
        else:
            self.running = False
            self.thread.join()
            self.mb = (max(self.peak, self._rss()) - self.base) / 1e6


@functools.lru_cache(maxsize=1)
def _toy_pocket():
    return synthetic_trajectories(1, seed=7, n_snapshots=100, ligand_atoms=(30, 30), residues=(100, 100))[0]


def synthetic_complex(residues: int) -> object:
    """The SYN complex: one 100-residue toy pocket, padded with copies of its backbone shifted
    60 Å apart (separate chains, far beyond every cutoff) up to ``residues`` residues."""
    base = _toy_pocket()
    data = base.clone()
    res = base["residue"]
    copies = -(-residues // res.type.numel())
    shift = torch.zeros(copies, 1, 1, 3)
    shift[:, 0, 0, 0] = 60.0 * torch.arange(copies)
    data["residue"].backbone = (res.backbone.unsqueeze(0) + shift).reshape(-1, 3, 3)[:residues]
    data["residue"].type = res.type.repeat(copies)[:residues]
    data["residue"].chain = (res.chain.unsqueeze(0) + (res.chain.max() + 1) * torch.arange(copies)[:, None]).reshape(-1)[:residues]
    data["residue"].num_nodes = residues
    data.id = f"SYN-{residues}"
    return data


def ligand_complex(atoms: int) -> object:
    """A synthetic complex with a ligand of ``atoms`` heavy atoms in a 100-residue pocket."""
    data = synthetic_trajectories(1, seed=7, n_snapshots=2, ligand_atoms=(atoms, atoms), residues=(100, 100))[0]
    data.id = f"LIG-{atoms}"
    return data


def syn_300() -> object:
    """SYN-300 as the floor tables use it: the 30-atom ligand of snapshot 80 on, in 300 residues."""
    syn = synthetic_complex(300)
    syn["ligand"].pos = syn["ligand"].pos[:, 80:]
    return syn


def floor_tables(args: argparse.Namespace) -> dict:
    """Force evaluations against the matmul floor (batch 1 and 32, protein and ligand sizes),
    rollout and training throughput; this tree and, with ``--baseline``, another checkout."""
    versions = [floor.Version("this tree", None)]
    if args.baseline is not None:
        versions.insert(0, floor.Version("baseline", args.baseline))
    if args.compile:
        import torch._inductor.config

        # in-process C++ compiles, so that their CPU time is counted (finished children)
        torch._inductor.config.compile_threads = 1
        versions.append(versions[-1].compiled("this tree, compiled"))
    if args.edge_dtype:
        low = versions[-1 if not args.compile else -2].with_options(
            f"this tree, {args.edge_dtype} edges", edge_dtype=args.edge_dtype)
        versions += [low, low.compiled(f"{low.label}, compiled")] if args.compile else [low]
    training_versions = [v for v in versions if not v.compile or args.compile_training]
    quick = args.quick
    syn = syn_300()
    rounds, calls = (2, 2) if quick else (args.rounds, 5)
    results = {"versions": [v.label for v in (training_versions if args.training_only else versions)],
               "baseline": str(args.baseline), "force": [], "rollout": []}
    if not args.training_only:
        cases = {"SYN-300, batch 1": [syn], "SYN-300, batch 32": [syn] * (4 if quick else 32)}
        for n in [100, 300] if quick else [100, 1000, 3000, 5000]:
            data = synthetic_complex(n)
            data["ligand"].pos = data["ligand"].pos[:, 80:]
            cases.setdefault(f"{n} residues, 30 atoms", [data])
        for n in [10, 30] if quick else [10, 30, 60, 100]:
            cases[f"{n} atoms, 100 residues"] = [ligand_complex(n)]
        print("force evaluations (protein encoded once), CPU time of this thread", flush=True)
        results["force"] = floor.force_rows(versions, cases, rounds, calls,
                                            compiled_cases=frozenset(["SYN-300, batch 1", "SYN-300, batch 32"]))
        print("rollouts", flush=True)
        results["rollout"] = floor.rollout_rows(versions, [syn] * 32, [1, 4] if quick else [1, 32],
                                                snapshots=2 if quick else 10, rounds=rounds)
    print("training", flush=True)
    results["training"] = floor.training_rows(training_versions, [syn] * 8, batch_size=2 if quick else 8, window=5,
                                              rounds=rounds, method=args.training_method)
    return results


def complexes(t4l: Path) -> dict[str, list]:
    """Name -> 32 records (repeated where the file holds fewer trajectories)."""
    out = {}
    if t4l.exists():
        import h5py

        with h5py.File(t4l, "r") as f:
            records = [read_misato(f, name) for name in sorted(f)]
        out["T4L"] = (records * 32)[:32]
    else:
        print(f"{t4l} missing (run benchmarks/generate_t4l.py): T4L rows and OpenMM skipped")
    out["SYN"] = [synthetic_complex(300)] * 32
    return out


def rollout_table(models: dict, data: dict, device: torch.device, snapshots: dict[int, int]) -> list[dict]:
    rows = []
    for cname, records in data.items():
        for batch_size, steps in snapshots.items():
            batch = Batch.from_data_list(records[:batch_size]).to(device)
            times = torch.arange(80, 81 + steps)
            for mname, model in models.items():
                torch.manual_seed(0)
                with torch.no_grad():
                    model.rollout(batch, times[:2])  # warm-up
                    with Measure(device) as m:
                        model.rollout(batch, times)
                rows.append(dict(complex=cname, batch=batch_size, method=mname, snapshots=steps, wall_s=m.wall,
                                 cpu_s=m.cpu, fps=steps * batch_size / m.wall, fps_cpu=steps * batch_size / m.cpu,
                                 peak_mb=m.mb))
                print(f"  rollout {cname} B={batch_size:2d} {mname:13s} {rows[-1]['fps']:9.2f} snapshots/s "
                      f"({rows[-1]['fps_cpu']:9.2f} per CPU s)  {m.mb:7.1f} MB", flush=True)
    return rows


def protein_size_table(sizes: list[int], device: torch.device, repeats: int, snapshots: int) -> list[dict]:
    """Cost of the force field versus protein size with the protein encoded once (and, for
    contrast, re-encoded at every call), plus a NeuralMD ODE rollout that encodes it once.
    Times are the best of ``repeats`` in CPU seconds on CPU (wall seconds on CUDA)."""
    rows = []
    torch.manual_seed(0)
    model = build("NeuralMD ODE").to(device).eval()
    net = model.force_field

    def best_ms(fn) -> float:
        fn()
        runs = []
        for _ in range(repeats):
            with Measure(device) as m:
                fn()
            runs.append(m.cpu if device.type == "cpu" else m.wall)
        return min(runs) * 1e3

    for n_res in sizes:
        data = synthetic_complex(n_res).to(device)
        x = data["ligand"].pos[:, 80]
        with torch.no_grad():
            enc = net.encode_protein(data)
            pairs = radius(enc.ca, x, net.complex.cutoff).shape[1]
            # every residue's features (a lazy encoding computes only the pocket's, at the first force)
            encode_ms = best_ms(lambda: net.encode_protein(data).h)
            cached_ms = best_ms(lambda: net(data, x, protein=enc))
            uncached_ms = best_ms(lambda: net(data, x))
            with Measure(device) as m:
                model.rollout(data, torch.arange(80, 81 + snapshots))
        seconds = m.cpu if device.type == "cpu" else m.wall
        rows.append(dict(residues=n_res, pocket_pairs=pairs, encode_ms=encode_ms, force_cached_ms=cached_ms,
                         force_reencoded_ms=uncached_ms, ode_fps=snapshots / seconds, peak_mb=m.mb))
        print(f"  protein {n_res:5d} residues: encode {encode_ms:8.1f} ms, force {cached_ms:7.1f} ms "
              f"(re-encoding {uncached_ms:8.1f} ms), ODE {rows[-1]['ode_fps']:6.2f} snapshots/s", flush=True)
    return rows


def training_table(models: dict, records: list, device: torch.device, batch_size: int, steps: int,
                   window: int) -> list[dict]:
    """Optimiser steps (Adam) on the Eq. 13 loss over one batch of trajectories, per method."""
    rows = []
    batch = Batch.from_data_list(records[:batch_size]).to(device)
    for mname, model in models.items():
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            continue
        opt = torch.optim.Adam(params, lr=1e-4)
        torch.manual_seed(0)

        def step():
            opt.zero_grad()
            model.loss(batch, window=window).backward()
            opt.step()

        model.train()
        step()  # warm-up
        with Measure(device) as m:
            for _ in range(steps):
                step()
        model.eval()
        rows.append(dict(method=mname, batch=batch_size, window=window, steps=steps, wall_s=m.wall, cpu_s=m.cpu,
                         trajectories_per_s=batch_size * steps / m.wall,
                         trajectories_per_cpu_s=batch_size * steps / m.cpu, peak_mb=m.mb))
        print(f"  train {mname:13s} {rows[-1]['trajectories_per_s']:8.2f} trajectories/s "
              f"({rows[-1]['trajectories_per_cpu_s']:8.2f} per CPU s)  {m.mb:7.1f} MB", flush=True)
    return rows


def openmm_reference(t4l: Path, snapshots: int, device: torch.device, threads: int) -> dict:
    """OpenMM on the very system that made the T4L data, for ``snapshots`` snapshot intervals."""
    try:
        from benchmarks.generate_t4l import fetch_complex, pocket_system
    except ImportError:  # run as a script: benchmarks/ is on sys.path
        from generate_t4l import fetch_complex, pocket_system
    import h5py
    import openmm

    with h5py.File(t4l, "r") as f:
        settings = json.loads(f[sorted(f)[0]].attrs["settings"])
    names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    plat = "CUDA" if device.type == "cuda" and "CUDA" in names else "CPU"
    folder = fetch_complex(Path.home() / ".cache" / "neuralmd" / "t4l")
    sim = pocket_system(folder, cutoff_nm=settings["cutoff_nm"], pocket=settings["pocket_A"],
                        timestep_fs=settings["step_fs"], threads=threads, platform=plat)  # the generator's own
    steps = snapshots * settings["interval_steps"]
    sim.run(0, 1, 10, 10)  # warm-up
    with Measure(torch.device("cpu")) as m:
        sim.integrator.step(steps)
        sim.context.getState(getPositions=True)
    ps = steps * settings["step_fs"] * 1e-3
    out = dict(platform=plat, threads=threads, atoms=len(sim.keep), steps=steps, simulated_ps=ps,
               wall_s=m.wall, cpu_s=m.cpu, wall_s_per_snapshot=m.wall / snapshots,
               cpu_s_per_snapshot=m.cpu / snapshots, ns_per_day=ps * 1e-3 / m.wall * 86400,
               ns_per_cpu_day=ps * 1e-3 / m.cpu * 86400)
    print(f"  OpenMM {plat} ({threads} thread): {steps} steps = {ps:.1f} ps in {m.wall:.1f} s wall, "
          f"{m.cpu:.1f} s CPU ({out['ns_per_day']:.1f} ns/day)", flush=True)
    return out


#: Matrix-multiply precisions of the precision table: float32 (full), tf32 (CUDA's tensor-float
#: matmuls, 10-bit mantissa inputs), bf16 (autocast: matmuls in bfloat16, sums and geometry float32).
PRECISIONS = ("float32", "tf32", "bf16")


@contextlib.contextmanager
def matmul_precision(mode: str, device: torch.device):
    """Run the block's matrix products in ``mode`` (one of :data:`PRECISIONS`)."""
    if mode not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {mode!r}")
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = mode == "tf32"
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mode == "bf16"):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _float64(batch):
    return batch.clone().apply(lambda t: t.double() if t.is_floating_point() else t)  # apply is in place


def precision_table(device: torch.device, modes: list[str], *, compiled: bool, repeats: int,
                    snapshots: dict[int, int]) -> list[dict]:
    """NeuralMD ODE (paper-sized) on SYN-300 per matmul precision, and compiled in float32:
    one force evaluation's time at batch 1 and 32 (protein encoded once; median of ``repeats``),
    its relative error ||F - F64|| / ||F64|| against the same weights in float64 on the same input,
    rollout snapshots/s, and how far the batch-1 rollout ends from the float32 one (RMSD, Å)."""
    torch.manual_seed(0)
    model = build("NeuralMD ODE").to(device).eval()
    reference = copy.deepcopy(model).double()
    syn = synthetic_complex(300)
    variants = [(mode, mode, model) for mode in modes]
    if compiled:
        fast = copy.deepcopy(model)
        fast.force_field.compile_message_passing()
        variants.append(("float32, compiled", "float32", fast))
        if device.type == "cuda":  # CUDA graphs replayed per shape; the edge lists padded to a few sizes
            graphed = copy.deepcopy(model)
            graphed.force_field.compile_message_passing(mode="reduce-overhead")
            variants.append(("float32, compiled + CUDA graphs", "float32", graphed))
    rows, ends = [], {}
    for batch_size, steps in snapshots.items():
        batch = Batch.from_data_list([syn] * batch_size).to(device)
        x = batch["ligand"].pos[:, 80]
        times = torch.arange(80, 81 + steps)
        with torch.no_grad():
            exact = reference.force_field(_float64(batch), x.double())
        for label, mode, variant in variants:
            net = variant.force_field
            row = dict(variant=label, batch=batch_size, snapshots=steps)
            try:
                with torch.no_grad(), matmul_precision(mode, device):
                    with Measure(device) as first:
                        protein = net.encode_protein(batch)
                        force = net(batch, x, protein=protein)
                    calls = []
                    for _ in range(repeats):
                        with Measure(device) as m:
                            net(batch, x, protein=protein)
                        calls.append(m.wall)
                    # the first rollout meets its shapes (compiled: compiles and records graphs for
                    # them); the second, the same deterministic path, shows the steady state
                    with Measure(device) as first_rollout:
                        variant.rollout(batch, times)
                    with Measure(device) as m:
                        path = variant.rollout(batch, times)
            except Exception as err:  # a precision this torch or device cannot run: say why, go on
                row["error"] = f"{type(err).__name__}: {err}"[:200]
                print(f"  precision {label:18s} B={batch_size:2d} failed: {row['error']}\n"
                      f"{traceback.format_exc()[-1500:]}", flush=True)
                rows.append(row)
                continue
            error = ((force.double() - exact).norm() / exact.norm()).item()
            row.update(first_call_s=first.wall, force_ms=statistics.median(calls) * 1e3, force_rel_error=error,
                       fps=steps * batch_size / m.wall, first_rollout_fps=steps * batch_size / first_rollout.wall,
                       peak_mb=m.mb)
            if batch_size == 1:
                ends[label] = path[-1].double()
                row["end_rmsd_vs_float32"] = (ends[label] - ends[variants[0][0]]).pow(2).sum(-1).mean().sqrt().item()
            rows.append(row)
            print(f"  precision {label:18s} B={batch_size:2d} force {row['force_ms']:7.2f} ms "
                  f"(rel. error {error:.1e}), rollout {row['fps']:8.1f} snapshots/s (first rollout "
                  f"{row['first_rollout_fps']:.1f}), first call "
                  f"{row['first_call_s']:.1f} s", flush=True)
    return rows


def markdown(results: dict) -> str:
    om = results.get("openmm")
    lines = ["| complex | batch | method | snapshots/s (wall) | snapshots per CPU s | speed-up over OpenMM "
             "(wall / CPU) | peak MB |", "|---|---|---|---|---|---|---|"]
    for r in results["rollout"]:
        ratio = "-"
        if om and r["complex"] == "T4L":
            ratio = f"{r['fps'] * om['wall_s_per_snapshot']:.1f}x / {r['fps_cpu'] * om['cpu_s_per_snapshot']:.1f}x"
        lines.append(f"| {r['complex']} | {r['batch']} | {r['method']} | {r['fps']:.2f} | {r['fps_cpu']:.2f} | "
                     f"{ratio} | {r['peak_mb']:.0f} |")
    lines += ["", "| residues | pocket pairs | encode ms (once) | force ms, encoded once | force ms, re-encoded "
              "| NeuralMD ODE snapshots/s | peak MB |", "|---|---|---|---|---|---|---|"]
    for r in results["protein_size"]:
        lines.append(f"| {r['residues']} | {r['pocket_pairs']} | {r['encode_ms']:.1f} | {r['force_cached_ms']:.1f} | "
                     f"{r['force_reencoded_ms']:.1f} | {r['ode_fps']:.2f} | {r['peak_mb']:.0f} |")
    lines += ["", "| method | batch | window | trajectories/s (wall) | trajectories per CPU s | peak MB |",
              "|---|---|---|---|---|---|"]
    for r in results["training"]:
        lines.append(f"| {r['method']} | {r['batch']} | {r['window']} | {r['trajectories_per_s']:.2f} | "
                     f"{r['trajectories_per_cpu_s']:.2f} | {r['peak_mb']:.0f} |")
    if results.get("precision"):
        lines += ["", "| NeuralMD ODE, SYN-300 | batch | force ms (median) | force rel. error vs float64 | "
                      "rollout snapshots/s | batch-1 end RMSD vs float32 (Å) | first call s |",
                  "|---|---|---|---|---|---|---|"]
        for r in results["precision"]:
            if "error" in r:
                lines.append(f"| {r['variant']} | {r['batch']} | failed: {r['error']} | | | | |")
                continue
            rmsd = f"{r['end_rmsd_vs_float32']:.1e}" if "end_rmsd_vs_float32" in r else "-"
            lines.append(f"| {r['variant']} | {r['batch']} | {r['force_ms']:.2f} | {r['force_rel_error']:.1e} | "
                         f"{r['fps']:.1f} | {rmsd} | {r['first_call_s']:.1f} |")
    if om:
        lines += ["", f"OpenMM ({om['platform']}, {om['threads']} thread, {om['atoms']} atoms): {om['steps']} steps = "
                      f"{om['simulated_ps']:.1f} ps in {om['wall_s']:.1f} s wall / {om['cpu_s']:.1f} s CPU "
                      f"({om['ns_per_day']:.1f} ns/day wall, {om['ns_per_cpu_day']:.1f} ns per CPU-day)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=1, help="torch and OpenMM CPU threads")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    p.add_argument("--t4l", type=Path, default=T4L, help="the T4L benchmark file (generate_t4l.py)")
    p.add_argument("--json", type=Path, default=None, help="write the raw results here")
    p.add_argument("--floor", action="store_true",
                   help="only the floor-relative force, rollout and training comparison (benchmarks/floor.py)")
    p.add_argument("--baseline", type=Path, default=None,
                   help="with --floor: the src/ folder of another neuralmd checkout to time alongside")
    p.add_argument("--rounds", type=int, default=7, help="with --floor: alternating timing rounds")
    p.add_argument("--compile", action="store_true",
                   help="with --floor: also time this tree with BindingNet(compile=True) (force and rollout rows; "
                        "its compile time apart)")
    p.add_argument("--edge-dtype", default=None,
                   help="with --floor: also time this tree with BindingNet(edge_dtype=...), e.g. bfloat16")
    p.add_argument("--compile-training", action="store_true",
                   help="with --floor --compile: the compiled force field in the training rows too")
    p.add_argument("--training-method", default="euler", choices=["euler", "midpoint", "rk4", "sde"],
                   help="with --floor: the training rows' dynamics: the ODE by this fixed-step method, or "
                        "'sde', the paper's SDE by Euler-Maruyama (step 0.5 either way)")
    p.add_argument("--training-only", action="store_true",
                   help="with --floor: only the training rows (a few minutes; with --compile --compile-training "
                        "--edge-dtype, five versions)")
    p.add_argument("--precision", default=None,
                   help="comma-separated matmul precisions of the precision table (float32,tf32,bf16); "
                        "default all of them on CUDA, none on CPU; 'none' skips it")
    p.add_argument("--precision-compile", action="store_true",
                   help="the precision table also times the force field compiled (torch.compile), float32")
    args = p.parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    torch.set_num_threads(args.threads)
    snapshots = {1: 2, 32: 1} if args.quick else {1: 10, 32: 5}
    sizes = [100, 300] if args.quick else [100, 300, 1000, 3000, 5000]
    t_start = time.perf_counter()
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()}, {args.threads} thread(s)"
    print(f"device {device} ({hardware}), torch {torch.__version__}", flush=True)

    if args.floor:
        if device.type != "cpu":
            raise SystemExit("--floor measures CPU time of one thread: use --device cpu")
        results = floor_tables(args)
        print(floor.markdown(results))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1))
        return

    torch.manual_seed(0)
    models = {name: build(name).to(device).eval() for name in SPEED_METHODS}
    data = complexes(args.t4l)
    results = {"device": str(device), "hardware": hardware, "torch": torch.__version__, "threads": args.threads}
    print("rollout", flush=True)
    results["rollout"] = rollout_table(models, data, device, snapshots)
    print("protein size", flush=True)
    results["protein_size"] = protein_size_table(sizes, device, repeats=1 if args.quick else 3,
                                                 snapshots=2 if args.quick else 10)
    print("training", flush=True)
    train_data = data.get("T4L", data["SYN"])
    results["training"] = training_table(models, train_data, device, batch_size=2 if args.quick else 8,
                                         steps=1 if args.quick else 2, window=5)
    precisions = args.precision or (",".join(PRECISIONS) if device.type == "cuda" else "none")
    if precisions != "none":
        print("precision", flush=True)
        results["precision"] = precision_table(device, precisions.split(","), compiled=args.precision_compile,
                                               repeats=3 if args.quick else 20,
                                               snapshots={1: 2, 4: 1} if args.quick else {1: 20, 32: 10})
    if args.t4l.exists():
        print("numerical MD", flush=True)
        if importlib.util.find_spec("openmm") is None:  # an optional extra; any other failure is a bug
            print("  skipped: OpenMM is not installed (pip install -e '.[openmm]')")
        else:
            results["openmm"] = openmm_reference(args.t4l, snapshots[1], device, args.threads)
    results["wall_s"] = time.perf_counter() - t_start
    print(markdown(results))
    print(f"total {results['wall_s']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
