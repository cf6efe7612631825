"""PyG datasets: MISATO streamed from HDF5 with an on-disk cache, and one trajectory cut in time."""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Callable, Sequence

import h5py
import torch
from torch_geometric.data import Dataset, HeteroData
from tqdm.auto import tqdm

from ._misato_read import read_misato
from ._record import POCKET_CUTOFF, record_from_plain, record_to_plain, validate_record
from ._splits import SPLITS, official_split, peptide_ids, subset_split

_CACHE_VERSION = 2  # bump when processing changes, so stale caches are not reused


def default_cache_dir() -> Path:
    """``$NEURALMD_CACHE`` if set, else ``~/.cache/neuralmd``."""
    return Path(os.environ.get("NEURALMD_CACHE", Path.home() / ".cache" / "neuralmd"))


def _file_key(path: Path, **options) -> str:
    """Identity of an HDF5 file and of the processing options: path, size, mtime, options."""
    st = path.stat()
    text = json.dumps([str(path), st.st_size, st.st_mtime_ns, _CACHE_VERSION, options], sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _remove_orphaned_temporaries(folder: Path) -> list[Path]:
    """Delete ``.<name>.<pid>.tmp`` files of writers that no longer run (a killed process left
    them); a live process's temporary, another DDP rank's say, is left alone."""
    removed = []
    for tmp in folder.glob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _process_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # it exists, owned by someone else
        return True
    return True


def _atomic_save(obj, path: Path) -> None:
    """Write via a private temporary file and rename: several processes (DDP ranks) may open the
    same dataset at once, and a reader must never see a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if path.suffix == ".json":
        tmp.write_text(json.dumps(obj))
    else:
        torch.save(obj, tmp)
    os.replace(tmp, path)


class MisatoDataset(Dataset):
    """Complexes of a MISATO MD HDF5 file as trajectory records, one ``HeteroData`` per item.

    Args:
        path: the ``MD.hdf5`` file (or any file in its layout, e.g. from ``write_misato``).
        split: ``"train"``, ``"val"``, ``"test"``, or an explicit list of PDB ids.
        subset: None for the official split (peptide ligands removed: 13,066 / 1,357 / 1,357 on
            the full file); an int (100 for MISATO-100, 1000 for MISATO-1000) for a random subset of
            all non-peptide complexes in the file, drawn with ``seed`` and cut 80/10/10.
        seed: seed of the subset draw.
        hydrogens: keep ligand hydrogens.
        cache_dir: where processed records go (default ``default_cache_dir()``), in a folder keyed by
            the file's path, size and modification time and by the options, so a changed file is
            reprocessed.
        splits_dir: folder with ``train_MD.txt``, ``val_MD.txt``, ``test_MD.txt``, ``peptides.txt``
            (default: the copies shipped with neuralmd).
        pocket_cutoff: Å, quality check of ``validate_record``.
        transform: applied to every record on access, as in PyG.
        progress: show a progress bar while processing.

    Opening reads only the group names of the file and then the selected complexes that are not
    cached yet, one at a time (memory stays bounded by one complex). The cache checks itself: an
    unreadable ``status.json`` is rebuilt, and a cached complex whose file is missing, has the wrong
    size, or fails to load is processed again from the HDF5 file. Complexes that fail the quality
    checks (``read_misato`` raises) are skipped: ``skipped`` maps their id to the reason, and a
    warning gives the count.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        split: str | Sequence[str] = "train",
        *,
        subset: int | None = None,
        seed: int = 0,
        hydrogens: bool = False,
        cache_dir: str | os.PathLike | None = None,
        splits_dir: str | os.PathLike | None = None,
        pocket_cutoff: float | None = POCKET_CUTOFF,
        transform: Callable[[HeteroData], HeteroData] | None = None,
        progress: bool = True,
    ) -> None:
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise ValueError(f"MISATO file {self.path} does not exist")
        with h5py.File(self.path, "r") as f:
            by_upper = {k.upper(): k for k in f.keys()}
        wanted = self._select(split, subset, seed, by_upper, splits_dir)
        key = _file_key(self.path, hydrogens=hydrogens, pocket_cutoff=pocket_cutoff)
        self.cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.cache = self.cache / "misato" / key
        self.cache.mkdir(parents=True, exist_ok=True)
        status = self._process(wanted, hydrogens, pocket_cutoff, progress)
        self.ids: list[str] = [k for k in wanted if status[k] == "ok"]
        self.skipped: dict[str, str] = {k: status[k] for k in wanted if status[k] != "ok"}
        if self.skipped:
            warnings.warn(f"MisatoDataset: skipped {len(self.skipped)} of {len(wanted)} complexes that fail "
                          f"the quality checks (see .skipped), e.g. {next(iter(self.skipped.values()))}",
                          stacklevel=2)
        super().__init__(None, transform=transform)

    @staticmethod
    def _select(split, subset, seed, by_upper: dict[str, str], splits_dir) -> list[str]:
        """Group names of the requested complexes, in a fixed order."""
        if not isinstance(split, str):
            ids = [str(i) for i in split]
            missing = [i for i in ids if i.upper() not in by_upper]
            if missing:
                raise ValueError(f"complex {missing[0]}: not in the file "
                                 f"({len(missing)} of the requested ids are missing)")
            return [by_upper[i.upper()] for i in ids]
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or a list of ids, got {split!r}")
        if subset is None:
            chosen = [i for i in official_split(split, splits_dir) if i in by_upper]
        else:
            peptides = peptide_ids(splits_dir)
            chosen = subset_split([i for i in by_upper if i not in peptides], int(subset), seed, split)
        if not chosen:
            raise ValueError(f"no complex of split {split!r} is in the file")
        return [by_upper[i] for i in chosen]

    def _read_status(self) -> dict[str, object]:
        """``status.json`` (complex -> {"bytes": size} or the reason it was skipped), without the
        entries whose cached file is missing or of another size; {} when it cannot be read."""
        status_file = self.cache / "status.json"
        try:
            status = json.loads(status_file.read_text()) if status_file.exists() else {}
        except (OSError, ValueError):
            status = None
        if not isinstance(status, dict):
            warnings.warn(f"MisatoDataset: {status_file} is damaged; processing the complexes again", stacklevel=3)
            return {}
        kept = {}
        for name, entry in status.items():
            if isinstance(entry, dict):
                cached = self.cache / f"{name}.pt"
                if not (cached.is_file() and cached.stat().st_size == entry.get("bytes")):
                    continue      # deleted or truncated: process it again
            kept[name] = entry
        return kept

    def _process_one(self, f: h5py.File, name: str, status: dict[str, object]) -> None:
        try:
            record = read_misato(f, name, hydrogens=self.hydrogens, pocket_cutoff=self.pocket_cutoff)
            path = self.cache / f"{name}.pt"
            _atomic_save(record_to_plain(record), path)
            status[name] = {"bytes": path.stat().st_size}
        except ValueError as err:
            status[name] = str(err)

    def _process(self, wanted: list[str], hydrogens: bool, pocket_cutoff, progress: bool) -> dict[str, str]:
        self.hydrogens, self.pocket_cutoff = hydrogens, pocket_cutoff
        status_file = self.cache / "status.json"
        _remove_orphaned_temporaries(self.cache)
        status = self._read_status()
        todo = [k for k in wanted if k not in status]
        if todo:
            with h5py.File(self.path, "r") as f:
                for n, name in enumerate(tqdm(todo, desc="processing MISATO", disable=not progress)):
                    self._process_one(f, name, status)
                    if (n + 1) % 200 == 0 or n + 1 == len(todo):  # progress survives an interruption
                        _atomic_save(status, status_file)
        return {k: "ok" if isinstance(v, dict) else str(v) for k, v in status.items()}

    def len(self) -> int:
        return len(self.ids)

    def get(self, idx: int) -> HeteroData:
        name = self.ids[idx]
        try:
            plain = torch.load(self.cache / f"{name}.pt", weights_only=True)
        except Exception:  # noqa: BLE001 - damaged since opening (any unpickling error): process again
            status = self._read_status()
            with h5py.File(self.path, "r") as f:
                self._process_one(f, name, status)
            _atomic_save(status, self.cache / "status.json")
            plain = torch.load(self.cache / f"{name}.pt", weights_only=True)
        return record_from_plain(plain)


class SingleTrajectoryDataset(Dataset):
    """One trajectory cut in time (paper section 2.5): early snapshots train, late ones test.

    With T snapshots, the first ``n_train = round(train_fraction * T)`` are for training (80 of 100
    in the paper). ``split="train"`` gives every window of ``window`` consecutive training snapshots
    (stride 1; ``window=None``: one item with all of them). ``split="test"`` gives one item: the last
    ``context`` training snapshots (known history, e.g. for the initial velocity) followed by all test
    snapshots. Every item is a copy of the record with ``ligand.pos`` (N_l, W, 3) cut to its
    snapshots and ``t0``, the index of its first snapshot in the full trajectory.
    """

    def __init__(self, record: HeteroData, train_fraction: float = 0.8, split: str = "train",
                 window: int | None = 10, context: int = 2,
                 transform: Callable[[HeteroData], HeteroData] | None = None) -> None:
        validate_record(record, pocket_cutoff=None)
        t = record["ligand"].pos.shape[1]
        self.n_train = round(train_fraction * t)
        if not 2 <= self.n_train < t:
            raise ValueError(f"complex {record.id}: train_fraction={train_fraction} of {t} snapshots leaves no "
                             f"training or no test snapshots")
        if split == "train":
            w = self.n_train if window is None else window
            if not 2 <= w <= self.n_train:
                raise ValueError(f"complex {record.id}: window={w} must lie in 2..{self.n_train}")
            self.spans = [(s, s + w) for s in range(self.n_train - w + 1)]
        elif split == "test":
            if not 1 <= context <= self.n_train:
                raise ValueError(f"complex {record.id}: context={context} must lie in 1..{self.n_train}")
            self.spans = [(self.n_train - context, t)]
        else:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.record = record
        super().__init__(None, transform=transform)

    def len(self) -> int:
        return len(self.spans)

    def get(self, idx: int) -> HeteroData:
        lo, hi = self.spans[idx]
        data = self.record.clone()
        data["ligand"].pos = self.record["ligand"].pos[:, lo:hi].clone()
        data.t0 = lo
        return data
