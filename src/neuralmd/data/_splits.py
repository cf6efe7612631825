"""Which complexes go into which split: MISATO's official lists and the seeded subsets.

The official lists (``train_MD.txt``, ``val_MD.txt``, ``test_MD.txt``) and ``peptides.txt`` ship
with the package (``neuralmd/data/splits``), copied from MISATO, because the 133 GiB ``MD.hdf5`` is
often downloaded without them; ``splits_dir`` points elsewhere for other versions of the lists.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")
#: Subsets of MISATO-100 / MISATO-1000 (paper section 2.4): 80 % train, 10 % val, 10 % test.
SUBSET_FRACTIONS = (0.8, 0.1, 0.1)


def _read_ids(name: str, splits_dir: str | os.PathLike | None) -> list[str]:
    if splits_dir is None:
        text = resources.files("neuralmd.data").joinpath("splits", name).read_text()
    else:
        path = Path(splits_dir) / name
        if not path.is_file():
            raise ValueError(f"split list {path} does not exist")
        text = path.read_text()
    return [line.strip().upper() for line in text.splitlines() if line.strip()]


def peptide_ids(splits_dir: str | os.PathLike | None = None) -> set[str]:
    """PDB ids (upper case) whose ligand is a peptide; the paper leaves them out."""
    return set(_read_ids("peptides.txt", splits_dir))


def official_split(split: str, splits_dir: str | os.PathLike | None = None,
                   drop_peptides: bool = True) -> list[str]:
    """MISATO's official MD split ``'train'``, ``'val'`` or ``'test'`` as upper-case PDB ids, in file order.

    Without peptides these are 13,066 / 1,357 / 1,357 complexes, as in the paper.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or a list of ids, got {split!r}")
    ids = _read_ids(f"{split}_MD.txt", splits_dir)
    if drop_peptides:
        pep = peptide_ids(splits_dir)
        ids = [i for i in ids if i not in pep]
    return ids


def subset_split(ids: list[str], subset: int, seed: int, split: str) -> list[str]:
    """One part of a seeded random subset of ``ids``: MISATO-100 and MISATO-1000.

    The ids are sorted first, so the answer depends only on the set of ids, ``subset`` and
    ``seed``; ``subset`` of them are drawn, then cut 80/10/10 into train/val/test (rounded; test
    takes the remainder). The three parts never overlap.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    pool = sorted(set(ids))
    if not 0 < subset <= len(pool):
        raise ValueError(f"subset={subset} needs between 1 and {len(pool)} complexes, the number available")
    chosen = [pool[i] for i in np.random.default_rng(seed).permutation(len(pool))[:subset]]
    n_train = round(SUBSET_FRACTIONS[0] * subset)
    n_val = round(SUBSET_FRACTIONS[1] * subset)
    cuts = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, subset)}
    lo, hi = cuts[split]
    return chosen[lo:hi]
