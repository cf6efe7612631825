"""Turn configs into objects: dynamics models, tasks (train/val/test records), complexes, devices.

Two tasks, as in the paper (section 2.3):

* **multi-trajectory**: whole trajectories are split into train / val / test sets; a test
  prediction starts at snapshot ``data.start`` (default ``MULTI_START`` = 1: snapshot 0 gives the
  starting velocity, so the Linear baseline and the models' velocity estimate are meaningful) and
  runs to the end. Snapshots 0..start are the observed prefix the history baselines fit on.
* **single-trajectory**: one trajectory split in time into train / validation / test parts
  (``train_fraction`` and ``val_fraction``, default 70/10/20): the model trains on the first part and
  the test predicts the last part from the last validation snapshot (with 100 snapshots: trains on
  0-69, validates on 70-79, predicts 80-99 from 79).

Validation (model selection) scores a rollout as long as the test's: multi task, the validation
trajectories from ``data.start`` to their end; single task, the horizon of the test ending at the
last validation snapshot (100 snapshots at 70/10/20: predicts 60-79 from 59, the last 10 unseen).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from . import CONFIG_DIR, UsageError

#: Keys of a model config that describe it rather than construct it: its table label, the loss it
#: is meant to be trained with and its equilibrium epochs (``trainer.loss`` / ``trainer.score_epochs:
#: null`` take them).
MODEL_META_KEYS = ("name", "training_loss", "score_epochs")


#: First predicted-from snapshot of the multi-trajectory task: the one before it gives the velocity.
MULTI_START = 1


@dataclass
class Task:
    """Records for one experiment and where test predictions start.

    Attributes:
        kind: "multi" or "single".
        name: data set label for tables (e.g. "synthetic", "MISATO", a PDB id).
        train, val, test: sequences of trajectory records (``HeteroData``).
        start: snapshot index every test rollout starts from (its known pose).
        val_start: snapshot index validation rollouts start from (same horizon as the test's).
    """

    kind: str
    name: str
    train: Sequence[Any]
    val: Sequence[Any]
    test: Sequence[Any]
    start: int = MULTI_START
    info: dict[str, Any] = field(default_factory=dict)
    val_start: int = MULTI_START


def resolve_device(name: str, threads: int | None = None) -> torch.device:
    """``auto`` -> cuda when available else cpu; ``cuda`` without a GPU is a usage error.

    ``threads`` sets torch's intra-op CPU threads (``None``: torch's default). Molecular graphs of a
    few hundred nodes gain little from more threads, and when the cores are shared OpenMP threads
    spin against each other: a rollout measured 215 snapshots/s on 1 thread and 1.1 on 2 threads
    with the 2-core development machine at load 4. The configs therefore default to 1.
    """
    if threads is not None:
        if int(threads) < 1:
            raise UsageError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(int(threads))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"device={name} but no CUDA device is available; use device=cpu or auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise UsageError(f"device must be auto, cpu or cuda[:k], got {name!r}")
    return torch.device(name)


# ---------------------------------------------------------------------------------------------
# models


def model_config(name_or_cfg: str | DictConfig | dict) -> dict[str, Any]:
    """A model config as a plain dict: a group option name (``static``) or a config node."""
    if isinstance(name_or_cfg, str):
        path = CONFIG_DIR / "model" / f"{name_or_cfg}.yaml"
        if not path.is_file():
            options = ", ".join(sorted(p.stem for p in path.parent.glob("*.yaml")))
            raise UsageError(f"unknown model {name_or_cfg!r}; choose from {options}")
        name_or_cfg = OmegaConf.load(path)
    if isinstance(name_or_cfg, DictConfig):
        return OmegaConf.to_container(name_or_cfg, resolve=True)  # type: ignore[return-value]
    return dict(name_or_cfg)


def build_model(cfg: str | DictConfig | dict) -> tuple[nn.Module, str]:
    """Instantiate a dynamics model from its config; returns ``(model, display name)``."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    cfg = model_config(cfg)
    name = str(cfg.get("name") or cfg.get("_target_", "model").rsplit(".", 1)[-1])
    try:
        model = instantiate({k: v for k, v in cfg.items() if k not in MODEL_META_KEYS})
    except InstantiationException as err:
        # The cause (e.g. "unexpected keyword argument 'hiden'") is what the user needs.
        cause = err.__cause__ or err
        raise UsageError(f"cannot build model {name!r}: {' '.join(str(cause).split())}") from err
    return model, name


#: ``compile=`` values: torch.compile modes of a model's message passing (``neuralmd simulate``
#: takes both; ``trainer.compile`` only the first, checked with the other trainer settings).
COMPILE_MODES = ("default", "reduce-overhead")


def compile_model(model: nn.Module, name: str, mode: str, device: torch.device, *, key: str = "compile") -> None:
    """Compile the message passing of every BindingNet module in ``model`` in ``mode``: the force
    field's ligand and complex modules and the dynamics' own BindingNet-Ligand modules (Langevin
    coefficients, velocity map), which a Langevin step also evaluates. ``key`` names the setting
    in the errors."""
    from neuralmd.layers import compile_message_passing

    if mode not in COMPILE_MODES:
        raise UsageError(f"{key} must be null or one of {', '.join(COMPILE_MODES)}, got {mode!r}")
    if mode == "reduce-overhead" and device.type != "cuda":
        raise UsageError(f"{key}=reduce-overhead replays CUDA graphs and needs device=cuda (here {device.type}); "
                         f"use {key}=default")
    if not compile_message_passing(model, mode=None if mode == "default" else mode):
        raise UsageError(f"{key}={mode}: {name} has no BindingNet modules to compile")


def has_parameters(model: nn.Module) -> bool:
    """Whether there is anything to train."""
    return any(p.requires_grad for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# data


def _split_fractions(n: int, fractions: Sequence[float]) -> tuple[int, int]:
    """Sizes of the train and val sets for ``n`` items; test gets the rest, and at least one."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise UsageError(f"data.fractions must be three non-negative numbers, got {list(fractions)}")
    total = float(sum(fractions))
    n_train = int(round(n * fractions[0] / total))
    n_val = int(round(n * fractions[1] / total))
    n_train = min(n_train, n - 1)           # never leave the test set empty
    n_val = min(n_val, n - 1 - n_train)
    if fractions[1] > 0 and n_val == 0 and n >= 3:
        # model selection needs a validation set: take one trajectory from training for it
        n_train, n_val = min(n_train, n - 2), 1
    if n_train < 1:
        raise UsageError(f"{n} trajectories are too few to split into train and test")
    return n_train, n_val


def _random_split(records: Sequence[Any], fractions: Sequence[float], seed: int) -> tuple[list, list, list]:
    order = torch.randperm(len(records), generator=torch.Generator().manual_seed(seed)).tolist()
    n_train, n_val = _split_fractions(len(records), fractions)
    pick = [records[i] for i in order]
    return pick[:n_train], pick[n_train:n_train + n_val], pick[n_train + n_val:]


def time_split(record: Any, train_fraction: float, window: int | None = None,
               val_fraction: float = 0.0) -> Task:
    """Single-trajectory task on one record: train, validation and test parts in time order.

    Training items are all windows of ``window + 2`` consecutive training snapshots (a window of
    targets, its start and the snapshot before it for the velocity), so one epoch visits every
    training start once; ``window=None`` gives one item holding all training snapshots. The
    validation item is the record cut after its validation part; its rollout predicts as many
    snapshots as the test's, ending at the last validation snapshot (see the module docstring).
    """
    from neuralmd.data import SingleTrajectoryDataset

    num = int(record["ligand"].pos.shape[1])
    cut = int(round(num * train_fraction))
    seen = int(round(num * (train_fraction + val_fraction)))
    if not 0 < train_fraction < 1 or not 0 <= val_fraction < 1 or cut < 3 or seen >= num:
        raise UsageError(f"complex {record.id}: train_fraction={train_fraction} and val_fraction={val_fraction} "
                         f"of {num} snapshots leave no room for training (>= 3 snapshots) and testing (>= 1)")
    span = None if window is None else min(int(window) + 2, cut)
    train = SingleTrajectoryDataset(record, train_fraction, "train", window=span)
    val, val_start = [], cut - 1
    if seen > cut:
        held = record.clone()
        held["ligand"].pos = record["ligand"].pos[:, :seen].clone()
        val, val_start = [held], max(1, seen - 1 - (num - seen))
    return Task("single", str(record.id), train, val, [record], start=seen - 1, val_start=val_start,
                info={"snapshots": num, "train_snapshots": cut, "val_snapshots": seen - cut})


def multi_start(cfg: DictConfig) -> int:
    """The snapshot multi-trajectory test rollouts start from (``data.start``, default 1)."""
    start = cfg.get("start", MULTI_START)
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise UsageError(f"data.start must be a snapshot index >= 0, got {start!r}")
    return start


def _time_split(record: Any, cfg: DictConfig, window: int | None) -> Task:
    return time_split(record, float(cfg.train_fraction), window, val_fraction=float(cfg.get("val_fraction", 0.0)))


def build_task(cfg: DictConfig, window: int | None = None) -> Task:
    """Records and split for a ``data`` config (see ``conf/data/*.yaml``).

    ``window`` (the trainer's) sizes the training windows of single-trajectory tasks.
    """
    kind = cfg.get("kind")
    if kind == "synthetic":
        from neuralmd.data import synthetic_trajectories
        records = synthetic_trajectories(int(cfg.num), seed=int(cfg.seed), **dict(cfg.get("options") or {}))
        if cfg.get("task", "multi") == "single":
            return _time_split(records[0], cfg, window)
        train, val, test = _random_split(records, cfg.fractions, int(cfg.seed))
        start = multi_start(cfg)
        return Task("multi", "synthetic", train, val, test, start=start, val_start=start)
    if kind == "misato":
        return _with_reference_poses(_misato_task(cfg), cfg)
    if kind == "complexes":
        return _complexes_task(cfg, window)
    if kind == "single":
        if not cfg.get("h5") and Path(str(cfg.complex).partition(":")[0]).suffix.lower() not in (".h5", ".hdf5"):
            raise UsageError(f"data=single reads MISATO-layout HDF5 (data.complex=ID data.h5=MD.hdf5, or "
                             f"file.h5[:ID]), not {cfg.complex!r}; for a topology + trajectory pair use "
                             "data=mdanalysis data.topology=... data.trajectory=...")
        return _time_split(load_complex(str(cfg.complex), h5=cfg.get("h5")), cfg, window)
    if kind == "mdanalysis":
        record = load_complex(str(cfg.topology), trajectory=cfg.get("trajectory"),
                              ligand=cfg.ligand, protein=cfg.protein, dt_ps=cfg.get("dt_ps"))
        return _time_split(record, cfg, window)
    raise UsageError(f"unknown data kind {kind!r}; use data=synthetic, misato, complexes, single or mdanalysis")


def _misato_task(cfg: DictConfig) -> Task:
    from neuralmd.data import MisatoDataset
    path = Path(str(cfg.path))
    if not path.is_file():
        raise FileNotFoundError(2, "MISATO file not found", str(path))
    kwargs: dict[str, Any] = {"subset": cfg.get("subset"), "seed": int(cfg.get("seed", 0)),
                              "splits_dir": cfg.get("splits"), "progress": bool(cfg.get("progress", True))}
    sets = [MisatoDataset(str(path), split=s, **kwargs) for s in ("train", "val", "test")]
    label = "MISATO" if cfg.get("subset") is None else f"MISATO-{cfg.subset}"
    start = multi_start(cfg)
    return Task("multi", label, *sets, start=start, val_start=start)


def _with_reference_poses(task: Task, cfg: DictConfig) -> Task:
    """``data.reference_poses=true``: every record gets the ligand poses of the other training
    trajectories of its complex (``neuralmd.data.attach_reference_poses``), which the history
    methods pool into their equilibrium; for data with several trajectories of one complex (T4L)."""
    if not cfg.get("reference_poses", False):
        return task
    from neuralmd.data import attach_reference_poses
    train = list(task.train)
    try:
        sets = [attach_reference_poses(list(records), train) for records in (train, task.val, task.test)]
    except ValueError as err:
        raise UsageError(f"data.reference_poses=true needs other training trajectories of each complex: {err}") from None
    return Task(task.kind, f"{task.name}, reference poses", *sets, start=task.start, info=task.info,
                val_start=task.val_start)


def _complexes_task(cfg: DictConfig, window: int | None) -> Task:
    """A cross-complex task (or one trajectory of it) on a file of ``target-ligand-kk`` records."""
    from neuralmd.data import MisatoDataset, leave_ligand_out, leave_target_out
    path = Path(str(cfg.path))
    if not path.is_file():
        raise FileNotFoundError(2, "complexes file not found", str(path))
    task = cfg.get("task")
    if task == "single":
        if not cfg.get("complex"):
            raise UsageError("data.task=single needs data.complex=ID (a record id such as tyk2-ejm_31-00)")
        return _time_split(load_complex(str(cfg.complex), h5=str(path)), cfg, window)
    validation = cfg.get("validation", "group")
    validation = None if validation in (None, "none") else str(validation)
    ids = _h5_ids(path)
    options = {"validation": validation, "seed": int(cfg.get("seed", 0))}
    if task == "leave_target_out":
        if not cfg.get("test_target"):
            raise UsageError("data.task=leave_target_out needs data.test_target=TARGET (e.g. tyk2)")
        split = leave_target_out(ids, str(cfg.test_target), **options)
    elif task == "leave_ligand_out":
        if not cfg.get("target") or not cfg.get("test_ligands"):
            raise UsageError("data.task=leave_ligand_out needs data.target=TARGET and data.test_ligands=[LIGAND,...]")
        ligands = cfg.test_ligands
        split = leave_ligand_out(ids, str(cfg.target), [ligands] if isinstance(ligands, str) else list(ligands),
                                 **options)
    else:
        raise UsageError(f"data.task must be leave_target_out, leave_ligand_out or single, got {task!r}")
    progress = bool(cfg.get("progress", False))
    sets = [MisatoDataset(str(path), split=ids, progress=progress) if ids else []
            for ids in (split.train, split.val, split.test)]
    start = multi_start(cfg)
    return Task("multi", f"{task} {split.fold}", *sets, start=start, val_start=start,
                info={"task": task, "fold": split.fold, "target": split.target,
                      "test_ligands": list(split.test_ligands), "validation": validation})


# ---------------------------------------------------------------------------------------------
# one complex (simulate, export, data=single/mdanalysis)


def _h5_ids(path: Path) -> list[str]:
    import h5py
    with h5py.File(path, "r") as f:
        return [k for k in f.keys() if isinstance(f[k], h5py.Group)]


def synthetic_complex(index: str) -> Any:
    """Trajectory ``index`` of the default synthetic data set (``conf/data/synthetic.yaml``)."""
    from neuralmd.data import synthetic_trajectories
    cfg = OmegaConf.load(CONFIG_DIR / "data" / "synthetic.yaml")
    if not index.isdigit() or int(index) >= int(cfg.num):
        raise UsageError(f"complex=synthetic:{index}: the synthetic data set has trajectories 0..{int(cfg.num) - 1}; "
                         "pass e.g. complex=synthetic:0")
    return synthetic_trajectories(int(cfg.num), seed=int(cfg.seed), **dict(cfg.options))[int(index)]


def load_complex(spec: str, h5: str | None = None, trajectory: str | None = None,
                 ligand: str | None = None, protein: str | None = None, dt_ps: float | None = None) -> Any:
    """One trajectory record from a complex spec.

    ``spec`` is a MISATO id when ``h5`` is given; else ``synthetic:K``, trajectory K of the bundled
    synthetic data set as ``data=synthetic`` makes it by default; else a MISATO-layout HDF5 file
    (``.h5``, ``.hdf5``; ``file.h5:ID`` picks a complex, a file with one complex needs no id); else
    a topology file MDAnalysis reads, with optional ``trajectory`` coordinates and ligand/protein
    selections.
    """
    from neuralmd.data import read_misato
    if spec.startswith("synthetic:") and not h5:
        return synthetic_complex(spec.partition(":")[2])
    if h5:
        if not Path(h5).is_file():
            raise FileNotFoundError(2, "MISATO file not found", str(h5))
        return read_misato(h5, spec)
    file, _, pdb_id = spec.partition(":") if spec.count(":") == 1 and not os.path.exists(spec) else (spec, "", "")
    path = Path(file)
    if path.suffix.lower() in (".h5", ".hdf5"):
        if not path.is_file():
            raise FileNotFoundError(2, "MISATO file not found", str(path))
        if not pdb_id:
            ids = _h5_ids(path)
            if len(ids) != 1:
                raise UsageError(f"{path} holds {len(ids)} complexes; name one as {path}:ID")
            pdb_id = ids[0]
        return read_misato(path, pdb_id)
    if path.is_file():
        from neuralmd.data import from_mdanalysis
        if trajectory and not Path(trajectory).is_file():
            raise FileNotFoundError(2, "trajectory file not found", str(trajectory))
        return from_mdanalysis(str(path), str(trajectory) if trajectory else None,
                               ligand=ligand, protein=protein, dt_ps=dt_ps)
    if path.suffix:
        raise FileNotFoundError(2, "complex file not found", str(path))
    raise UsageError(f"complex {spec!r} is not a file; to read it as a MISATO id pass h5=path/to/MD.hdf5")
