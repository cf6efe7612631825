"""Accuracy benchmark on real MD: every method, the paper's tasks and the cross-complex ones, several seeds.

    python -m benchmarks.accuracy --task single --trajectories T4L_00 T4L_01 --out runs.jsonl
    python -m benchmarks.accuracy --task multi --out runs.jsonl
    python -m benchmarks.accuracy --task leave_target_out --out runs.jsonl    # benchmarks/data/complexes.hdf5
    python -m benchmarks.accuracy --summarize runs.jsonl --plot docs/figures/results_rmsf_t4l.png
    python -m benchmarks.accuracy --summarize runs/             # a folder of `neuralmd train` runs

Tasks (paper sections 2.4, 2.5):
- ``single``: one trajectory; train on its first 80 % of snapshots (0-79 of 100), then roll out
  from the last of them (initial velocity x79 - x78) and score the rest (80-99).
- ``multi``: train on trajectories ``--train`` (default T4L_00-11), test on ``--test`` (T4L_12-15):
  roll out each test trajectory from snapshot ``--multi-start`` (initial velocity from the snapshot
  before) and score the rest. ``--more-data`` adds the trajectories of further files of the same
  system (held-out runs, say: ``--more-data data/t4l_50fs_heldout.hdf5 --test T4L_16 ...``).
- ``leave_target_out`` / ``leave_ligand_out`` (a file of ``target-ligand-kk`` records, default
  ``benchmarks/data/complexes.hdf5``; ``neuralmd.data.target_folds`` / ``ligand_folds``): one fold
  per target (``--folds``, default all) or per ligand of each target with 2+ ligands (``--targets``);
  train on the other targets or ligands, test every trajectory of the held-out one from
  ``--multi-start`` as in ``multi``. Nothing is tuned here (fixed settings, the last step is
  scored), so the folds keep no validation set.
- ``single`` on such a file: by default the first trajectory of every complex (``--targets`` filters).

``--reference-poses`` (multi task, one complex): the history methods also see every ligand pose of
the training trajectories (``neuralmd.data.attach_reference_poses``); each training trajectory sees
the other training trajectories'.

``--rolling-every K`` adds short forecasts of ``--rolling-horizon H`` snapshots from every K-th
snapshot after the start to each row (``rolling``): the same trained model, many more forecasts of
the first lags, where a dynamics model can still use the current pose and velocity.

Every method is scored as ``neuralmd evaluate`` scores it (``neuralmd.cli._evaluate``): stochastic
methods draw ``--samples`` rollouts; point metrics of the ensemble mean, energy score, CRPS, per-atom
RMSF ratio, feature JSDs, decorrelation time. The baselines fitted on history (MeanPose, Stationary,
RandomWalk) see the training snapshots (single) or snapshots 0..start (multi).

Training: Adam, ``--steps`` steps of the package's Eq. 13 loss (``model.loss``: MAE over a random
window of ``--window`` snapshots per trajectory), ``--batch`` windows per step. Every finished run
is appended to the JSON-lines file at once, so an interrupted benchmark resumes (``--resume``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import subprocess
import time
from pathlib import Path

import h5py
import torch
from torch_geometric.data import Batch

from neuralmd import metrics
from neuralmd.data import (attach_reference_poses, group_complexes, ligand_folds, parse_complex_id, read_misato,
                           target_folds)
from neuralmd.dynamics import OrnsteinUhlenbeckBaseline, StationaryBaseline
from neuralmd.dynamics._baselines import check_cage_drift
from neuralmd.dynamics._windows import crop_windows
from neuralmd.cli._build import Task
from neuralmd.cli._evaluate import evaluate_methods, rolling_by_lag

try:
    from benchmarks.methods import ABLATION, HISTORY_BASELINES, METHODS, build, training_loss
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from methods import ABLATION, HISTORY_BASELINES, METHODS, build, training_loss

ROOT = Path(__file__).resolve().parent
CROSS_COMPLEX = ("leave_target_out", "leave_ligand_out")
#: Point metrics of the ensemble mean, then ensemble and distribution metrics, in table order.
POINT = ("mae", "mean_l2", "matching", "stability")
ENSEMBLE = ("energy_score", "crps", "rmsf_ratio", "jsd_centroid", "jsd_rmsd", "jsd_contact", "decorrelation")
METRICS = POINT + ENSEMBLE


def cut(record, lo: int, hi: int):
    """A copy of ``record`` keeping snapshots lo..hi-1."""
    out = record.clone()
    out["ligand"].pos = record["ligand"].pos[:, lo:hi].clone()
    return out


def equilibrium_steps(model: torch.nn.Module, args) -> int:
    """Steps of the equilibrium term alone before the dynamics: ``--score-steps`` for a model that
    has the term (``score_weight`` > 0), else 0."""
    return args.score_steps if getattr(model, "score_weight", 0.0) > 0 else 0


def train(model: torch.nn.Module, records: list, args, loss: str = "mae") -> float:
    """Train on random windows of ``records`` with ``loss`` (``energy``: ``--train-samples``
    rollouts per window), after ``--score-steps`` steps of the equilibrium term alone for a model
    that has one (``score_weight`` > 0); returns the CPU seconds spent."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return 0.0
    opt = torch.optim.Adam(params, lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed_now)
    start = time.process_time()
    model.train()
    first = equilibrium_steps(model, args)
    for step in range(first + args.steps):
        pick = torch.randint(len(records), (args.batch,), generator=gen).tolist()
        opt.zero_grad()
        chosen = [records[i] for i in pick]
        if len({int(r["ligand"].pos.shape[1]) for r in chosen}) > 1:   # complexes of unequal length
            chosen = crop_windows(chosen, args.window, gen)
        batch = Batch.from_data_list(chosen)
        if step < first:
            value = model.loss(batch, loss="score", generator=gen)
        else:
            value = model.loss(batch, window=args.window, loss=loss, generator=gen,
                               **({"samples": args.train_samples} if loss == "energy" else {}))
        value.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
    model.eval()
    return time.process_time() - start


def attach_references(train_set: list, test_set: list) -> tuple[list, list]:
    """``--reference-poses``: every test trajectory gets the poses of all training trajectories
    (``neuralmd.data.attach_reference_poses``), and every training trajectory those of the other
    training trajectories, so that a model trains with wells like those it is tested with."""
    return attach_reference_poses(train_set, train_set), attach_reference_poses(test_set, train_set)


def mixes_wells(model: torch.nn.Module) -> bool:
    """Whether ``--local-well-weight`` applies: NeuralMD with a history well, or the Stationary
    ensemble (StationaryBaseline(local_well_weight=)), not Ornstein-Uhlenbeck."""
    if isinstance(model, StationaryBaseline):
        return not isinstance(model, OrnsteinUhlenbeckBaseline)
    return bool(getattr(model, "history_prior", False)) and hasattr(model, "local_well_weight")


def drifts_cage(model: torch.nn.Module) -> bool:
    """Whether ``--cage-drift`` applies: NeuralMD with a history well under BAOAB, or the
    Ornstein-Uhlenbeck ensemble (its trivial counterpart, OrnsteinUhlenbeckBaseline(cage_drift=))."""
    if isinstance(model, OrnsteinUhlenbeckBaseline):
        return True
    return bool(getattr(model, "history_prior", False)) and getattr(model, "method", None) == "baoab"


def loosens_centroid(model: torch.nn.Module) -> bool:
    """Whether ``--centroid-confinement`` applies: NeuralMD with a history well, or the Stationary
    ensemble (its trivial counterpart, StationaryBaseline(centroid_confinement=))."""
    return getattr(model, "history_prior", False) or type(model) is StationaryBaseline


def score_rolling(model, records: list, start: int, seed: int, samples: int, *, every: int,
                  horizon: int) -> dict:
    """Short forecasts from several origins (``neuralmd.cli._evaluate.rolling_by_lag``: every
    ``every``-th snapshot from ``start`` on, ``horizon`` snapshots each, scored lag by lag as
    ``neuralmd evaluate`` scores), per test trajectory the energy score by lag averaged over the
    origins and its mean; many more forecasts of the first lags than the task's one origin gives."""
    try:
        origins, curves = rolling_by_lag(model, records, start, every=every, horizon=horizon, batch_size=16,
                                         device=torch.device("cpu"), seed=seed, samples=samples)
    except ValueError as err:
        raise SystemExit(f"--rolling-horizon {horizon}: {err}") from None
    per_test = {name: dict(energy_score_by_lag=curve, energy_score=statistics.mean(curve))
                for name, curve in curves.items()}
    return dict(every=every, horizon=horizon, origins=origins, per_test=per_test)


def score(model, records: list, start: int, seed: int, samples: int) -> dict:
    """Every metric of ``neuralmd evaluate`` for ``model`` rolled out on ``records`` from ``start``."""
    task = Task("single" if len(records) == 1 else "multi", "benchmark", [], [], records, start=start)
    (result,) = evaluate_methods({"model": model}, task, batch_size=16, device=torch.device("cpu"),
                                 seed=seed, samples=samples)
    out = {k: v for k, v in result.overall.items() if not k.startswith("skill")}
    # each test trajectory's own scores, so that a multi-trajectory split can be compared
    # trajectory by trajectory (benchmarks/compare_to_trivial.py), not only as one mean
    out["per_test"] = {name: {k: scores[k] for k in ("energy_score", "mae")}
                       for name, scores in result.per_complex.items()}
    # and the energy score at every lag after the start (benchmarks/compare_to_trivial.py --by-lag)
    out["energy_score_by_lag"] = result.energy_score_by_lag
    for name, curve in result.per_complex_by_lag.items():
        out["per_test"][name]["energy_score_by_lag"] = curve
    out["finite"] = all(bool(torch.isfinite(e).all()) for e in result.ensembles)
    # the farthest any sampled rollout's ligand centroid gets from its start: "leaves the pocket"
    out["max_centroid_shift"] = max(float((c - c[:, :1]).norm(dim=-1).max())
                                    for c in (e.mean(-2) for e in result.ensembles))
    # RMSF curves (Eq. 2) of the first test trajectory: the first sample and the truth
    out["rmsf_pred"] = metrics.rmsf(result.predictions[0][1:].double())
    out["rmsf_true"] = metrics.rmsf(records[0]["ligand"].pos[:, start + 1:].transpose(0, 1).double())
    return out


#: Time scales ``--time-scale auto`` chooses from.
TIME_SCALES = (0.5, 1.0, 1.5, 2.0, 3.0)


def fit_time_scale(model, records: list, seed: int, samples: int) -> float:
    """The time scale (of :data:`TIME_SCALES`) whose rollouts score best on the training snapshots
    themselves: from the middle of each of the first two training records to its end. Only
    training data enter, so the choice is part of training, not tuning on the test."""
    chosen = records[:2]
    start = int(chosen[0]["ligand"].pos.shape[1]) // 2
    scores = {}
    for scale in TIME_SCALES:
        model.time_scale = scale
        torch.manual_seed(seed)
        scores[scale] = score(model, chosen, start, seed, samples)["energy_score"]
    return min(scores, key=scores.get)


def fingerprint(records: list) -> str:
    """SHA-1 of the records' ligand coordinates: rows made on different copies of a data file
    (one still growing, say) are comparable only where their test trajectories are identical."""
    digest = hashlib.sha1()
    for r in records:
        digest.update(str(r.id).encode())
        digest.update(r["ligand"].pos.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def apparent_kT(records: list) -> float:
    """``<m |x_{t+1} - x_t|^2> / 3`` over the training snapshots (amu Å² / interval²): the kT a
    ligand moving at its finite-difference velocity would have; the fdt variants start from it."""
    total, count = 0.0, 0
    for r in records:
        step = r["ligand"].pos.double().diff(dim=1).square().sum(-1)          # (N, T - 1)
        total += float((r["ligand"].mass.double().unsqueeze(1) * step).sum())
        count += step.numel()
    return total / count / 3


def read_rows(path: Path) -> list[dict]:
    """The rows of a JSON-lines results file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def done_keys(path: Path) -> set:
    if not path.exists():
        return set()
    return {(r["task"], r["test"], r["method"], r["seed"]) for r in read_rows(path)}


def setups(args, names: list[str]) -> list[dict]:
    """The folds of ``args.task``: test label, train and test ids, start snapshot, fold details."""
    if args.task in CROSS_COMPLEX:
        if args.task == "leave_target_out":
            folds = [f for f in target_folds(names, validation=None) if not args.folds or f.target in args.folds]
            unknown = set(args.folds or ()) - {f.target for f in folds}
        else:
            folds = ligand_folds(names, args.targets, validation=None)
            folds = [f for f in folds if not args.folds or f.fold in args.folds]
            unknown = set(args.folds or ()) - {f.fold for f in folds}
        if unknown:
            raise SystemExit(f"--folds {sorted(unknown)} are not folds of {args.task} on {args.data}")
        return [dict(test=f.fold, train=f.train, test_ids=_first_of_each(f.test, args.test_trajectories),
                     start=args.multi_start, fold=f.fold,
                     target=f.target, ligand="+".join(f.test_ligands)) for f in folds]
    if args.task == "single":
        trajectories = args.trajectories or _first_trajectories(names, args.targets)
        return [dict(test=n, train=[n], test_ids=[n], start=None, **_fold_of(n)) for n in trajectories]
    train_ids = args.train or names[:12]
    test_ids = args.test or names[12:]
    return [dict(test="+".join(test_ids), train=train_ids, test_ids=test_ids, start=args.multi_start)]


def _first_of_each(ids: list[str], count: int | None) -> list[str]:
    """The first ``count`` trajectories of every complex among ``ids`` (all when None)."""
    if count is None:
        return ids
    groups = group_complexes(ids)
    return [i for ligands in groups.values() for trajectories in ligands.values() for i in trajectories[:count]]


def _first_trajectories(names: list[str], targets: list[str] | None) -> list[str]:
    """Single task's default: T4L_00 and T4L_01 of t4l.hdf5, or trajectory 0 of every complex of a
    ``target-ligand-kk`` file (of ``targets`` only, when given)."""
    if all(not _fold_of(n) for n in names):
        return ["T4L_00", "T4L_01"]
    groups = group_complexes(names)
    return [ligands[lig][0] for t, ligands in groups.items() if not targets or t in targets for lig in ligands]


def _fold_of(name: str) -> dict:
    """``fold``, ``target``, ``ligand`` of a ``target-ligand-kk`` record id; {} for other ids."""
    try:
        key = parse_complex_id(name)
    except ValueError:
        return {}
    return dict(fold=name, target=key.target, ligand=key.ligand)


def trajectory_sources(paths: list[Path]) -> dict[str, Path]:
    """Each trajectory's name -> the file holding it, over ``paths`` (``--data`` and ``--more-data``);
    a name in two files is refused, as nothing would say which run it means."""
    sources: dict[str, Path] = {}
    for path in paths:
        with h5py.File(path, "r") as f:
            for name in f:
                if name in sources:
                    raise SystemExit(f"trajectory {name} is in both {sources[name]} and {path}")
                sources[name] = path
    return sources


def run(args) -> None:
    sources = trajectory_sources([args.data, *args.more_data])
    folds = setups(args, sorted(sources))
    needed = sorted({n for s in folds for n in s["train"] + s["test_ids"]})
    records = {}
    for path in dict.fromkeys(sources[n] for n in needed):
        with h5py.File(path, "r") as f:
            records.update({n: read_misato(f, n) for n in needed if sources[n] == path})
    done = done_keys(args.out) if args.resume else set()
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    for setup in folds:
        test_name, start = setup["test"], setup["start"]
        test_set = [records[n] for n in setup["test_ids"]]
        if start is None:          # single task: train on the first 80 % of the trajectory
            length = int(test_set[0]["ligand"].pos.shape[1])
            seen = round(0.8 * length)
            train_set, start = [cut(test_set[0], 0, seen)], seen - 1
        else:
            train_set = [records[n] for n in setup["train"]]
        details = {k: setup[k] for k in ("fold", "target", "ligand") if k in setup}
        test_sha1 = fingerprint(test_set)
        if args.reference_poses:
            train_set, test_set = attach_references(train_set, test_set)
        for seed in args.seeds:
            for method in args.methods:
                label = f"{method} + velocity mapping" if args.velocity_mapping else method
                if args.time_scale != "1":
                    label = f"{label}, time scale {args.time_scale}"
                if args.reference_poses:
                    label = f"{label}, reference poses"
                if args.local_well_weight is not None:
                    label = f"{label}, local well weight {args.local_well_weight:g}"
                if args.cage_drift is not None:
                    label = f"{label}, cage drift {args.cage_drift:g}"
                # one row per centroid confinement, each scored from the same trained model
                labels = {c: label if c == 1.0 else f"{label}, centroid confinement {c:g}"
                          for c in args.centroid_confinement}
                has_map = "NeuralMD" in method or method in ABLATION     # models with a velocity map
                todo = [c for c, name in labels.items() if (args.task, test_name, name, seed) not in done]
                if not todo or (args.velocity_mapping and not has_map):
                    continue
                torch.manual_seed(seed)
                args.seed_now = seed
                model = build(method, hidden=args.hidden, layers=args.layers,
                              velocity_mapping=args.velocity_mapping, kT=apparent_kT(train_set),
                              friction=args.friction)
                if todo != [1.0] and not loosens_centroid(model):
                    raise SystemExit(f"--centroid-confinement loosens a history well or the Stationary ensemble; "
                                     f"{method!r} is neither")
                if args.cage_drift is not None:   # before training: the windows train in the drifting well
                    if not drifts_cage(model):
                        raise SystemExit(f"--cage-drift moves the cage of NeuralMD's history well (BAOAB) or of "
                                         f"Ornstein-Uhlenbeck, not {method!r}")
                    model.cage_drift = args.cage_drift
                cpu = train(model, train_set, args, training_loss(method))
                time_scale = 1.0
                if args.time_scale != "1":
                    if not hasattr(model, "time_scale"):
                        raise SystemExit(f"--time-scale applies to NeuralMD models, not {method!r}")
                    time_scale = (fit_time_scale(model, train_set, seed, args.samples) if args.time_scale == "auto"
                                  else float(args.time_scale))
                    model.time_scale = time_scale
                if args.local_well_weight is not None:
                    if not mixes_wells(model):
                        raise SystemExit(f"--local-well-weight mixes the wells of NeuralMD with a history well or of "
                                         f"Stationary, not {method!r}")
                    model.local_well_weight = args.local_well_weight
                for confinement in todo:
                    if confinement != 1.0:
                        model.centroid_confinement = confinement
                    torch.manual_seed(seed)
                    row = dict(task=args.task, test=test_name, **details, method=labels[confinement], seed=seed,
                               steps=args.steps, score_steps=equilibrium_steps(model, args),
                               loss=training_loss(method), friction=args.friction, time_scale=time_scale,
                               centroid_confinement=confinement, reference_poses=args.reference_poses,
                               local_well_weight=args.local_well_weight, cage_drift=args.cage_drift,
                               batch=args.batch, window=args.window, lr=args.lr, hidden=args.hidden,
                               layers=args.layers, start=start, commit=commit, train_cpu_s=cpu,
                               data="+".join(p.name for p in [args.data, *args.more_data]), test_sha1=test_sha1,
                               train_trajectories=len(train_set), test_trajectories=len(test_set),
                               **score(model, test_set, start, seed, args.samples))
                    if args.rolling_every:
                        torch.manual_seed(seed)
                        row["rolling"] = score_rolling(model, test_set, start, seed, args.samples,
                                                       every=args.rolling_every, horizon=args.rolling_horizon)
                    with open(args.out, "a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(f"{args.task} {test_name} {labels[confinement]} seed {seed:3d}: mae {row['mae']:.3f} "
                          f"energy score {row['energy_score']:.3f} rmsf ratio {row['rmsf_ratio']:.2f} "
                          f"({cpu:.0f} CPU s)", flush=True)


def cli_rows(run_dirs: list[Path]) -> list[dict]:
    """Rows like ``run``'s from ``neuralmd train`` run folders (metrics.json + config.yaml).

    Each run also scores the trivial baselines; those appear once per seed."""
    import yaml

    rows, seen = [], set()
    for d in run_dirs:
        metrics_json = json.loads((d / "metrics.json").read_text())
        seed = yaml.safe_load((d / "config.yaml").read_text())["trainer"]["seed"]
        test = "+".join(metrics_json["data"]["test_complexes"])
        for m in metrics_json["methods"]:
            key = (metrics_json["data"]["task"], test, m["name"], seed)
            if key not in seen:
                seen.add(key)
                rows.append(dict(zip(("task", "test", "method", "seed"), key), **m["overall"]))
    return rows


def summarize(path: Path, plot: Path | None, methods: list[str] | None = None) -> None:
    if path.is_dir():  # a folder of `neuralmd train` runs
        rows = cli_rows(sorted(q.parent for q in path.glob("*/metrics.json")))
        plot = None
    else:
        rows = read_rows(path)
    if methods:
        rows = [r for r in rows if r["method"] in methods]
    order = list(dict.fromkeys(["NeuralMD Langevin", *METHODS, *HISTORY_BASELINES, *ABLATION]))
    order += sorted({r["method"] for r in rows} - set(order))
    for task in sorted({r["task"] for r in rows}):
        tests = sorted({r["test"] for r in rows if r["task"] == task})
        for test in tests:
            sel = [r for r in rows if r["task"] == task and r["test"] == test]
            print(f"\n{task} task, test {test}\n")
            md_tau = [r["decorrelation_md"] for r in sel if "decorrelation_md" in r]
            if md_tau:
                print(f"MD's centroid decorrelation time: {md_tau[0]:.3f} snapshots\n")
            print_tables(sel, order)
        if len(tests) > 1:
            summarize_folds([r for r in rows if r["task"] == task], task, order)
    if plot:
        plot_rmsf(rows, plot, order)


def print_tables(sel: list[dict], order: list[str]) -> None:
    """The point and the ensemble table of ``sel`` (rows of one test or pooled), mean ± sd over seeds."""
    reference = {m: [r["energy_score"] for r in sel if r["method"] == m and "energy_score" in r]
                 for m in ("Static", "MeanPose")}
    present = [m for m in order if any(r["method"] == m for r in sel)]
    for title, columns in (("Point metrics of the ensemble mean", POINT),
                           ("Ensembles and distributions", ENSEMBLE)):
        keys = [k for k in columns if all(k in r for r in sel)]
        skills = columns is ENSEMBLE
        print(f"{title}:\n")
        print("| method | seeds | " + " | ".join(keys)
              + (" | skill vs Static | skill vs MeanPose |" if skills else " |"))
        print("|---|---|" + "---|" * (len(keys) + 2 * skills))
        for m in present:
            mine = [r for r in sel if r["method"] == m]
            cells = [_mean_sd([r[k] for r in mine]) for k in keys]
            for ref in reference.values() if skills else ():
                ok = ref and "energy_score" in mine[0]
                mean_es = statistics.mean(r["energy_score"] for r in mine) if ok else 0.0
                cells.append(f"{metrics.skill(mean_es, statistics.mean(ref)):+.3f}" if ok else "-")
            print(f"| {m} | {','.join(str(r['seed']) for r in mine)} | " + " | ".join(cells) + " |")
        print()


def pool_folds(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """Per method and seed, every metric averaged over the folds (tests) that every method has run
    with every seed, each fold weighted equally; returns the pooled rows and those folds."""
    methods = {r["method"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    by_key = {(r["test"], r["method"], r["seed"]): r for r in rows}
    # the same folds for every seed, so that the spread over seeds is not one of fold sets
    folds = sorted(t for t in {r["test"] for r in rows} if all((t, m, s) in by_key for m in methods for s in seeds))
    pooled = []
    for seed in seeds:
        for m in methods:
            mine = [by_key[(t, m, seed)] for t in folds]
            if not mine:
                continue
            keys = [k for k in METRICS if all(isinstance(r.get(k), (int, float)) for r in mine)]
            pooled.append(dict(method=m, seed=seed, folds=len(folds),
                               **{k: statistics.mean(r[k] for r in mine) for k in keys}))
    return pooled, folds


def _listed(names: list[str], most: int = 8) -> str:
    return ", ".join(names) if len(names) <= most else f"{', '.join(names[:most])} and {len(names) - most} more"


def summarize_folds(rows: list[dict], task: str, order: list[str]) -> None:
    """Pooled tables over the folds of ``task`` and a fold x method table of energy score and MAE."""
    pooled, folds = pool_folds(rows)
    missing = sorted({r["test"] for r in rows} - set(folds))
    print(f"\n{task} task, pooled over {len(folds)} folds (each fold weighted equally)"
          + (f"; left out, not run by every method: {_listed(missing)}" if missing else "") + "\n")
    print_tables(pooled, order)
    present = [m for m in order if any(r["method"] == m for r in rows)]
    seeds = {r["seed"] for r in rows}
    for key, label in (("energy_score", "energy score"), ("mae", "MAE of the ensemble mean")):
        print(f"{task}: {label} (Å) per fold, mean over seeds; * marks the best of the row; - not run\n")
        print("| fold | " + " | ".join(present) + " |")
        print("|---|" + "---|" * len(present))
        wins = dict.fromkeys(present, 0)
        for fold in sorted({r["test"] for r in rows}):
            means = {m: statistics.mean(vals) if (vals := [r[key] for r in rows if r["test"] == fold
                                                          and r["method"] == m and key in r]) else math.nan
                     for m in present}
            best = min((m for m in present if math.isfinite(means[m])), key=means.get, default=None)
            if best is not None:
                wins[best] += 1
            counts = {m: len({r["seed"] for r in rows if r["test"] == fold and r["method"] == m}) for m in present}
            cells = [f"{means[m]:.3f}{'*' if m == best else ''}" + (f" ({counts[m]} seed{'s' * (counts[m] > 1)})"
                     if counts[m] < len(seeds) else "") if math.isfinite(means[m]) else "-" for m in present]
            print(f"| {fold} | " + " | ".join(cells) + " |")
        print("| folds won | " + " | ".join(str(wins[m]) for m in present) + " |\n")


def _mean_sd(values: list) -> str:
    """``mean ± sample std`` of finite values; how many were undefined (NaN) or unbounded (inf)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    text = (f"{statistics.mean(finite):.3f} ± {statistics.stdev(finite) if len(finite) > 1 else 0.0:.3f}"
            if finite else "n/a")
    odd = len(values) - len(finite)
    return text if not odd else f"{text} ({odd} n/a or > window)"


def compare(before: Path, after: Path, metrics: tuple[str, ...] = ("energy_score", "mae")) -> int:
    """Print, per (task, test, method) in both files, each metric's mean ± std over seeds before
    and after, and whether they agree within noise: equal for a method without spread (the
    deterministic baselines), else means within twice the larger seed std. Returns how many differ."""
    def groups(path: Path) -> dict:
        out: dict = {}
        for row in read_rows(path):
            out.setdefault((row["task"], row["test"], row["method"]), []).append(row)
        return out

    old, new = groups(before), groups(after)
    print("| task | test | method | metric | before | after | within noise |")
    print("|---|---|---|---|---|---|---|")
    differ = 0
    for key in sorted(old.keys() & new.keys()):
        for metric in metrics:
            a = [r[metric] for r in old[key] if metric in r]  # rows older than a metric lack it
            b = [r[metric] for r in new[key] if metric in r]
            if not a or not b:
                continue
            spread = max(statistics.stdev(a) if len(a) > 1 else 0.0, statistics.stdev(b) if len(b) > 1 else 0.0)
            gap = abs(statistics.mean(a) - statistics.mean(b))
            same = gap <= 1e-9 if spread == 0 else gap <= 2 * spread
            differ += not same
            print(f"| {key[0]} | {key[1]} | {key[2]} | {metric} | {_mean_sd(a)} | {_mean_sd(b)} | "
                  f"{'yes' if same else '**no**'} |")
    print(f"{differ} of {2 * len(old.keys() & new.keys())} differ; only in {before.name}: "
          f"{len(old.keys() - new.keys())}, only in {after.name}: {len(new.keys() - old.keys())}")
    return differ


def plot_rmsf(rows: list, path: Path, order: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["task"], r["test"]) for r in rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (task, test) in zip(axes[0], panels):
        sel = [r for r in rows if r["task"] == task and r["test"] == test and r["seed"] == min(
            q["seed"] for q in rows if q["task"] == task and q["test"] == test)]
        ax.plot(sel[0]["rmsf_true"], "k-", lw=2.5, label="OpenMM (truth)")
        for m in order:
            mine = [r for r in sel if r["method"] == m]
            if mine and m != "Static":  # Static's RMSF is 0 by construction
                ax.plot(mine[0]["rmsf_pred"], marker=".", label=m)
        ax.set_title(f"{task}: {test.split('+')[0]}")
        ax.set_xlabel("window of 5 predicted snapshots")
        ax.set_ylabel("RMSF (Å)")
        ax.set_yscale("log")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def _time_scale(text: str) -> str:
    """``--time-scale``: 'auto' or a positive number, kept as the text the row's label shows."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a positive number or 'auto', got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a positive number or 'auto', got {text!r}")
    return f"{value:g}"


def _share(text: str, *, one_allowed: bool) -> float:
    """A number in (0, 1] (``one_allowed``) or (0, 1), for argparse."""
    interval = "(0, 1]" if one_allowed else "(0, 1)"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number in {interval}, got {text!r}") from None
    if not (0 < value <= 1 if one_allowed else 0 < value < 1):
        raise argparse.ArgumentTypeError(f"a number in {interval}, got {text!r}")
    return value


def _confinement(text: str) -> float:
    """``--centroid-confinement``: a number in (0, 1]."""
    return _share(text, one_allowed=True)


def _open_share(text: str) -> float:
    """``--local-well-weight``: a number in (0, 1)."""
    return _share(text, one_allowed=False)


def _drift_time(text: str) -> float:
    """``--cage-drift``: a positive number of snapshot intervals."""
    try:
        return check_cage_drift(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a positive number of snapshot intervals, got {text!r}") from None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None,
                   help="MISATO-layout file (default: data/t4l.hdf5; data/complexes.hdf5 for the cross-complex tasks)")
    p.add_argument("--more-data", type=Path, nargs="+", default=[],
                   help="further files of the same system whose trajectories join --data's (e.g. held-out runs)")
    p.add_argument("--task", choices=("single", "multi", *CROSS_COMPLEX), default="single")
    p.add_argument("--trajectories", nargs="+", default=None,
                   help="single task (default: T4L_00 T4L_01, or trajectory 0 of every complex of a target-ligand-kk file)")
    p.add_argument("--folds", nargs="+", default=None,
                   help="cross-complex tasks: only these folds (targets, or target:ligand for leave_ligand_out)")
    p.add_argument("--test-trajectories", type=int, default=None,
                   help="cross-complex tasks: score only the first N trajectories of each test complex (default all)")
    p.add_argument("--targets", nargs="+", default=None,
                   help="leave_ligand_out and single on a complexes file: only these targets")
    p.add_argument("--train", nargs="+", default=None, help="multi task (default: first 12)")
    p.add_argument("--test", nargs="+", default=None, help="multi task (default: the rest)")
    p.add_argument("--methods", nargs="+", default=list(METHODS) + list(HISTORY_BASELINES))
    p.add_argument("--multi-start", type=int, default=20,
                   help="multi task: roll out from this snapshot; 0..start are the observed prefix")
    p.add_argument("--samples", type=int, default=16, help="rollouts drawn from each stochastic method")
    p.add_argument("--train-samples", type=int, default=4,
                   help="rollouts per training window for the energy-score loss (ablation methods)")
    p.add_argument("--friction", type=float, default=None,
                   help="initial friction (1 / interval) of the ablation variants with friction (default 0.5)")
    p.add_argument("--score-steps", type=int, default=600,
                   help="steps of the equilibrium term alone (denoising score matching) before --steps, "
                        "for methods that have it (default 600)")
    p.add_argument("--ablation", action="store_true",
                   help="run the Langevin ablation's methods (benchmarks.methods.ABLATION) instead of --methods")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 42, 123])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--time-scale", type=_time_scale, default="1",
                   help="after training, run NeuralMD's dynamics this many times faster (NeuralMD(time_scale=)): "
                        "a number chosen on validation (benchmarks/time_scale_probe.py), or 'auto': the one of "
                        f"{TIME_SCALES} that scores best on the training snapshots (fit_time_scale)")
    p.add_argument("--centroid-confinement", type=_confinement, nargs="+", default=[1.0],
                   help="after training, keep this share (0-1] of a history well's pull on the ligand's centre "
                        "of mass (NeuralMD(centroid_confinement=)): a calibration chosen on validation; several "
                        "values give one row each from the same trained model")
    p.add_argument("--reference-poses", action="store_true",
                   help="multi task: pool the training trajectories' ligand poses (the same complex) into the "
                        "equilibrium of the history methods (MeanPose, Stationary, Ornstein-Uhlenbeck, history "
                        "well); rows are labelled ', reference poses'")
    p.add_argument("--local-well-weight", type=_open_share, default=None,
                   help="with --reference-poses, after training: the history well (or Stationary) becomes the "
                        "mixture of the seen snapshots' own well (this weight) and the pooled one "
                        "(NeuralMD(local_well_weight=), a calibration chosen on validation)")
    p.add_argument("--cage-drift", type=_drift_time, default=None,
                   help="with --reference-poses, before training: the history well becomes the seen snapshots' "
                        "cage whose centre drifts into the pooled pocket with this relaxation time in snapshot "
                        "intervals (NeuralMD(cage_drift=), OrnsteinUhlenbeckBaseline(cage_drift=); a calibration "
                        "chosen on validation)")
    p.add_argument("--velocity-mapping", action="store_true",
                   help="NeuralMD with its learned initial-velocity map (only NeuralMD methods are run)")
    p.add_argument("--rolling-every", type=int, default=0,
                   help="also score short forecasts from every this many snapshots after the start "
                        "(row['rolling'], score_rolling; 0: off)")
    p.add_argument("--rolling-horizon", type=int, default=10,
                   help="with --rolling-every: snapshots scored after each origin")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("accuracy_runs.jsonl"))
    p.add_argument("--resume", action="store_true", help="skip runs already in --out")
    p.add_argument("--summarize", type=Path, default=None,
                   help="print tables from this JSON-lines file, or from a folder of `neuralmd train` runs")
    p.add_argument("--plot", type=Path, default=None, help="with --summarize: write the RMSF figure here")
    p.add_argument("--summary-methods", nargs="+", default=None, help="with --summarize: only these methods' rows")
    p.add_argument("--compare", nargs=2, type=Path, default=None, metavar=("BEFORE", "AFTER"),
                   help="print whether the rows of two JSON-lines files (e.g. a table's rows and their "
                        "re-run) agree within the seeds' noise")
    args = p.parse_args(argv)
    if args.rolling_every < 0 or args.rolling_horizon < 1:
        p.error("--rolling-every must be >= 0 and --rolling-horizon >= 1")
    if args.local_well_weight is not None and not args.reference_poses:
        p.error("--local-well-weight mixes the seen snapshots' well with the reference poses': add --reference-poses")
    if args.cage_drift is not None and not args.reference_poses:
        p.error("--cage-drift moves the seen snapshots' cage into the reference poses' pocket: add --reference-poses")
    if args.cage_drift is not None and (args.local_well_weight is not None or args.centroid_confinement != [1.0]):
        p.error("--cage-drift is a well of its own: it does not combine with --local-well-weight or "
                "--centroid-confinement")
    if args.reference_poses and args.task != "multi":
        p.error("--reference-poses needs --task multi: the other trajectories of the test trajectories' complex")
    if args.data is None:
        args.data = ROOT / "data" / ("complexes.hdf5" if args.task in CROSS_COMPLEX else "t4l.hdf5")
    if args.ablation:
        args.methods = list(ABLATION)
    torch.set_num_threads(args.threads)
    if args.compare:
        compare(*args.compare)
    elif args.summarize:
        summarize(args.summarize, args.plot, args.summary_methods)
    else:
        run(args)


if __name__ == "__main__":
    main()
