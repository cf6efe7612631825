"""Floor-relative speed of the force field, and this tree against another version of neuralmd.

A force evaluation's achieved matrix-multiply rate (FLOPs counted by
``torch.utils.flop_counter.FlopCounterMode``, divided by its CPU time) is reported as a fraction of
the rate of one large float32 matmul measured in the same process, so the figure means the same on
an idle and on a busy machine. With ``baseline`` (the ``src`` folder of another checkout, e.g. a
``git worktree`` of an older commit) both versions are imported side by side in this process, get
the same weights (same parameter names and shapes) and the same inputs, and are timed alternately,
so machine noise hits both alike; their forces are compared too.

Run through ``python -m benchmarks.speed --floor [--baseline PATH]`` (docs/results.md).
"""
from __future__ import annotations

import contextlib
import copy
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

#: The force-field size of the floor measurements (issue 14): hidden 128, 4 layers, 96 radial functions.
FORCE_FIELD = dict(hidden=128, num_layers=4, num_rbf=96)


class Version:
    """One imported copy of the ``neuralmd`` package (its ``sys.modules`` entries), usable while
    another copy is imported: :meth:`active` puts its modules back for code that imports late.
    ``compile``: its force fields are built with ``BindingNet(compile=True)`` (see :meth:`compiled`);
    ``options``: further ``BindingNet`` arguments of its force fields (see :meth:`with_options`)."""

    compile = False
    options: dict = {}

    def __init__(self, label: str, src: Path | None):
        self.label = label
        for name in [n for n in sys.modules if n == "neuralmd" or n.startswith("neuralmd.")]:
            del sys.modules[name]
        if src is not None:
            sys.path.insert(0, str(src))
        try:
            import neuralmd.data
            import neuralmd.dynamics
            import neuralmd.layers  # noqa: F401
        finally:
            if src is not None:
                sys.path.remove(str(src))
        self.modules = {n: m for n, m in sys.modules.items() if n == "neuralmd" or n.startswith("neuralmd.")}
        self.layers, self.dynamics = self.modules["neuralmd.layers"], self.modules["neuralmd.dynamics"]
        self.data = self.modules["neuralmd.data"]

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        sys.modules.update(self.modules)
        yield

    def compiled(self, label: str) -> "Version":
        """The same package, its force fields built with ``compile=True`` (torch.compile)."""
        other = copy.copy(self)
        other.label, other.compile = label, True
        return other

    def with_options(self, label: str, **options: object) -> "Version":
        """The same package, its force fields built with these ``BindingNet`` arguments as well
        (e.g. ``edge_dtype="bfloat16"``)."""
        other = copy.copy(self)
        other.label, other.options = label, {**self.options, **options}
        return other


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the C++ compiler runs that
    torch.compile starts), for the one-off cost of compiling."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed_call(fn: Callable[[], object]) -> tuple[object, float, float]:
    """``fn()``, its wall seconds and its CPU seconds (:func:`cpu_seconds`)."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    out = fn()
    return out, time.perf_counter() - wall, cpu_seconds() - cpu


def matmul_gflops(size: int = 1024, repeats: int = 5) -> float:
    """Best GFLOP/s of a float32 ``size`` x ``size`` matmul on this thread (the floor's rate)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        a @ b
        best = min(best, time.thread_time() - start)
    return 2 * size**3 / best / 1e9


def _inplace_addmm_flops(self_shape, mat1_shape, mat2_shape, *args, **kwargs) -> int:
    (rows, inner), (_, cols) = mat1_shape, mat2_shape
    return 2 * rows * inner * cols


def count_flops(fn: Callable[[], object]) -> int:
    """Matrix-multiply FLOPs of one call of ``fn`` (mm, addmm and the in-place addmm_, bmm, ...;
    elementwise work not counted). FlopCounterMode has no formula for ``addmm_``: added here."""
    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.addmm_: _inplace_addmm_flops})
    with counter:
        fn()
    return counter.get_total_flops()


class _OpCounter(TorchDispatchMode):
    """Counts the aten operations dispatched while active (composite operations with their parts)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def count_ops(fn: Callable[[], object]) -> int:
    """Tensor operations (aten calls) of one call of ``fn``: at one ligand their fixed cost of a few
    microseconds each, not the FLOPs, sets the time."""
    with _OpCounter() as counter:
        fn()
    return counter.count


def alternate(fns: dict[str, Callable[[], object]], rounds: int, calls: int) -> dict[str, float]:
    """Best CPU seconds per call of each function, timed in turn ``rounds`` times (``calls`` calls
    per turn) so that every function sees the same machine load; one warm-up turn first."""
    best = {k: float("inf") for k in fns}
    for r in range(rounds + 1):
        for k, fn in fns.items():
            start = time.thread_time()
            for _ in range(calls):
                fn()
            if r:
                best[k] = min(best[k], (time.thread_time() - start) / calls)
    return best


def same_weights(models: dict[str, torch.nn.Module]) -> None:
    """Copy the first model's state dict into the others (fails if names or shapes differ)."""
    first, *rest = models.values()
    for m in rest:
        m.load_state_dict(first.state_dict())


def _force_field(version: Version, reference: torch.nn.Module | None) -> torch.nn.Module:
    torch.manual_seed(0)
    net = version.layers.BindingNet(**FORCE_FIELD, **version.options,
                                    **({"compile": True} if version.compile else {})).eval()
    if reference is not None:
        net.load_state_dict(reference.state_dict())
    return net


#: The Langevin NeuralMD of the rollout rows: the default model config's dynamics (BAOAB, per-atom
#: friction from a BindingNet-Ligand, noise tied to it, velocity map) around the floor's force field.
LANGEVIN = dict(solver="sde", method="baoab", step_size=0.5, friction=0.5, noise="fdt", coefficients="ligand",
                kT=0.4, velocity_mapping=True)
#: The paper's NeuralMD SDE (rank-1 noise from a BindingNet-Ligand), Euler-Maruyama with step 0.5.
PAPER_SDE = dict(solver="sde", method="euler", step_size=0.5)


def _neuralmd_models(versions: list[Version], dynamics: str = "ode",
                     method: str = "euler") -> dict[str, torch.nn.Module]:
    """One NeuralMD per version, all with the same weights: ``"ode"`` (``method``, step 0.5),
    ``"sde"`` (:data:`PAPER_SDE`) or ``"langevin"`` (:data:`LANGEVIN`; a compiled version compiles
    its own BindingNet-Ligand modules too, as ``neuralmd simulate compile=default`` does)."""
    models, ref = {}, None
    for v in versions:
        with v.active():
            net = _force_field(v, ref)
            ref = net if ref is None else ref
            if dynamics == "ode":
                models[v.label] = v.dynamics.NeuralMD(net, solver="ode", method=method, step_size=0.5)
                continue
            torch.manual_seed(1)
            model = v.dynamics.NeuralMD(net, **(LANGEVIN if dynamics == "langevin" else PAPER_SDE))
            if v.compile:
                v.layers.compile_message_passing(model)
            models[v.label] = model
    if dynamics != "ode":
        same_weights(models)
    return models


def force_rows(versions: list[Version], cases: dict[str, list], rounds: int, calls: int,
               compiled_cases: frozenset[str] = frozenset()) -> list[dict]:
    """Per case (name -> records batched together) and version: FLOPs and best CPU ms of a force
    evaluation with the protein encoded once, achieved GFLOP/s and its fraction of the same-process
    matmul rate, speed-up over the first version and the largest force difference from it. A
    compiled version's row also gives its first call (the compilation) and its first call at moved
    positions (a new edge count: at most one recompilation), wall and CPU seconds, apart from the
    steady state; its FLOPs are those of the same code run eagerly (the version before it).
    Compiled versions run only on ``compiled_cases`` (compiling costs seconds per case). The
    compiled code is kept per process: a later case's first call recompiles only what its new
    shapes need."""
    from torch_geometric.data import Batch

    rows = []
    all_versions = versions
    for name, records in cases.items():
        versions = [v for v in all_versions if not v.compile or name in compiled_cases]
        data = Batch.from_data_list(records)
        pos = data["ligand"].pos[:, 0]
        moved = pos + 0.3 * torch.randn(pos.shape, generator=torch.Generator().manual_seed(1))
        fns, flops, forces, nets, compiling, ops = {}, {}, {}, {}, {}, {}
        for v in versions:
            with v.active(), torch.no_grad():
                nets[v.label] = net = _force_field(v, next(iter(nets.values()), None))
                enc = net.encode_protein(data)
                fns[v.label] = fn = (lambda net=net, enc=enc: net(data, pos, protein=enc))
                if v.compile:
                    forces[v.label], wall, cpu = timed_call(fn)
                    _, wall_moved, cpu_moved = timed_call(lambda net=net, enc=enc: net(data, moved, protein=enc))
                    compiling[v.label] = dict(first_wall_s=wall, first_cpu_s=cpu, moved_wall_s=wall_moved,
                                              moved_cpu_s=cpu_moved)
                    flops[v.label] = list(flops.values())[-1]
                else:
                    forces[v.label], flops[v.label], ops[v.label] = fn(), count_flops(fn), count_ops(fn)
        floor = matmul_gflops()
        with torch.no_grad():
            best = alternate(fns, rounds, calls)
        floor = max(floor, matmul_gflops())
        first = versions[0].label
        for v in versions:
            rate = flops[v.label] / best[v.label] / 1e9
            rows.append(dict(case=name, version=v.label, mflop=flops[v.label] / 1e6, ms=best[v.label] * 1e3,
                             gflops=rate, floor_gflops=floor, floor_fraction=rate / floor,
                             speedup=best[first] / best[v.label],
                             max_force_diff=float((forces[v.label] - forces[first]).abs().max()),
                             max_force=float(forces[first].abs().max()), ops=ops.get(v.label),
                             **compiling.get(v.label, {})))
            extra = ""
            if v.label in compiling:
                c = compiling[v.label]
                extra = (f"  (first call {c['first_cpu_s']:.1f} s CPU, {c['first_wall_s']:.1f} s wall; "
                         f"at moved positions {c['moved_cpu_s']:.1f} s CPU)")
            print(f"  {name:24s} {v.label:10s} {rows[-1]['ops'] or '-':>5} ops {rows[-1]['mflop']:8.1f} MFLOP "
                  f"{rows[-1]['ms']:8.2f} ms "
                  f"{rate:6.1f} GFLOP/s = {100 * rate / floor:5.1f} % of {floor:.0f}  "
                  f"x{rows[-1]['speedup']:.2f}{extra}",
                  flush=True)
    return rows


def rollout_rows(versions: list[Version], records: list, batch_sizes: list[int], snapshots: int,
                 rounds: int, dynamics: tuple[str, ...] = ("ode", "langevin")) -> list[dict]:
    """Snapshots per CPU second of a NeuralMD rollout (protein encoded once per rollout) per
    dynamics, batch size and version, timed alternately: ``"ode"``, Euler with step 0.5 (2 force
    calls per snapshot); ``"langevin"``, BAOAB with step 0.5 (2 steps per snapshot, each one force
    evaluation and one BindingNet-Ligand for the friction), the same noise for every version."""
    from torch_geometric.data import Batch

    rows = []
    times = torch.arange(0, snapshots + 1)
    for kind in dynamics:
        models = _neuralmd_models(versions, kind)
        for size in batch_sizes:
            data = Batch.from_data_list(records[:size])
            fns = {label: (lambda model=model.eval(): model.rollout(data, times,
                                                                   generator=torch.Generator().manual_seed(0)))
                   for label, model in models.items()}
            with torch.no_grad():  # a compiled version reuses what force_rows compiled (same code, same process)
                best = alternate(fns, rounds, 1)
            for v in versions:
                rows.append(dict(dynamics=kind, batch=size, version=v.label, snapshots=snapshots, cpu_s=best[v.label],
                                 fps_cpu=snapshots * size / best[v.label],
                                 speedup=best[versions[0].label] / best[v.label]))
                print(f"  rollout {kind:8s} B={size:2d} {v.label:10s} {rows[-1]['fps_cpu']:9.2f} snapshots per CPU s "
                      f"x{rows[-1]['speedup']:.2f}", flush=True)
    return rows


def training_rows(versions: list[Version], records: list, batch_size: int, window: int, rounds: int,
                  method: str = "euler") -> list[dict]:
    """Adam steps per CPU second on the Eq. 13 loss (NeuralMD ODE, ``method`` at step 0.5, or the
    paper's SDE with ``method="sde"``, :data:`PAPER_SDE`; MAE over a window of
    ``window`` snapshots), every version from the same weights and the same window draws; with the
    matrix-multiply FLOPs of one step (forward, backward and Adam; a compiled version repeats the
    eager count before it) and the achieved rate's fraction of the same-process matmul floor, so
    that a speed-up can be split into FLOPs cut and efficiency gained."""
    from torch_geometric.data import Batch

    data = Batch.from_data_list(records[:batch_size])
    fns = {}
    models = _neuralmd_models(versions, "sde") if method == "sde" else _neuralmd_models(versions, method=method)
    for label, model in models.items():
        opt = torch.optim.Adam(model.train().parameters(), lr=1e-4)

        def step(model=model, opt=opt):
            torch.manual_seed(0)
            opt.zero_grad()
            model.loss(data, window=window).backward()
            opt.step()

        fns[label] = step
    first, flops = {}, {}
    for v in versions:
        with v.active():
            if v.compile:  # the first step compiles the forward and the backward
                _, wall, cpu = timed_call(fns[v.label])
                first[v.label] = dict(first_wall_s=wall, first_cpu_s=cpu)
                flops[v.label] = list(flops.values())[-1]
            else:
                flops[v.label] = count_flops(fns[v.label])
    floor = matmul_gflops()
    best = alternate(fns, rounds, 1)
    floor = max(floor, matmul_gflops())
    rows = []
    for v in versions:
        rate = flops[v.label] / best[v.label] / 1e9
        rows.append(dict(batch=batch_size, window=window, version=v.label, cpu_s=best[v.label],
                         steps_per_cpu_s=1 / best[v.label], speedup=best[versions[0].label] / best[v.label],
                         gflop=flops[v.label] / 1e9, gflops=rate, floor_gflops=floor, floor_fraction=rate / floor,
                         **first.get(v.label, {})))
        print(f"  train B={batch_size} {v.label:10s} {rows[-1]['steps_per_cpu_s']:7.3f} Adam steps per CPU s "
              f"x{rows[-1]['speedup']:.2f}  {rows[-1]['gflop']:6.1f} GFLOP per step, {rate:5.1f} GFLOP/s = "
              f"{100 * rate / floor:4.1f} % of {floor:.0f}", flush=True)
    return rows


def markdown(results: dict) -> str:
    """The floor tables in markdown; a section without rows (``--training-only``) is left out."""
    lines = ["| case | version | tensor ops | MFLOP | CPU ms | GFLOP/s | % of matmul floor | speed-up "
             "| max force diff |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"] if results["force"] else []
    for r in results["force"]:
        lines.append(f"| {r['case']} | {r['version']} | {r.get('ops') or '-'} | {r['mflop']:.1f} | {r['ms']:.2f} | "
                     f"{r['gflops']:.1f} | "
                     f"{100 * r['floor_fraction']:.0f} % of {r['floor_gflops']:.0f} | {r['speedup']:.2f}x | "
                     f"{r['max_force_diff']:.1e} (of {r['max_force']:.2f}) |")
    compiled = [r for r in results["force"] if "first_cpu_s" in r]
    if compiled:
        lines += ["", "| case | version | first call: CPU s (wall s) | first call at moved positions: CPU s (wall s) |",
                  "|---|---|---:|---:|"]
        for r in compiled:
            lines.append(f"| {r['case']} | {r['version']} | {r['first_cpu_s']:.1f} ({r['first_wall_s']:.1f}) | "
                         f"{r['moved_cpu_s']:.1f} ({r['moved_wall_s']:.1f}) |")
    if results["rollout"]:
        lines += ["", "| dynamics | rollout batch | version | snapshots per CPU s | speed-up |",
                  "|---|---|---|---:|---:|"]
    for r in results["rollout"]:
        lines.append(f"| {r.get('dynamics', 'ode')} | {r['batch']} | {r['version']} | {r['fps_cpu']:.2f} | "
                     f"{r['speedup']:.2f}x |")
    lines += ["", "| training batch | window | version | GFLOP per step | Adam steps per CPU s | GFLOP/s "
                  "| % of matmul floor | speed-up | first step: CPU s (wall s) |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results["training"]:
        first = f"{r['first_cpu_s']:.1f} ({r['first_wall_s']:.1f})" if "first_cpu_s" in r else "-"
        counted = (f"{r['gflop']:.1f} | {r['steps_per_cpu_s']:.3f} | {r['gflops']:.1f} | "
                   f"{100 * r['floor_fraction']:.0f} % of {r['floor_gflops']:.0f}" if "gflop" in r
                   else f"- | {r['steps_per_cpu_s']:.3f} | - | -")  # rows from before the count
        lines.append(f"| {r['batch']} | {r['window']} | {r['version']} | {counted} | {r['speedup']:.2f}x | {first} |")
    return "\n".join(lines)
