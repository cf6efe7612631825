"""Cross-complex tasks: record ids ``{target}-{ligand}-{k:02d}`` split by protein or by ligand.

A data set of several complexes names each trajectory ``target-ligand-kk``: the protein target in
lower case (``tyk2``, ``p38``, ``1s3v``), the ligand (letters, digits, ``_``) and the trajectory
index ``kk`` (two or more digits). Two tasks ask whether a model generalises beyond what it saw:

- **leave-target-out**: train on every other protein, test on all trajectories of one target;
- **leave-ligand-out**: train on some ligands of one protein, test on its other ligands.

The validation set (model selection: never tune on the test set) is taken from the training side
only, so that it asks the same question as the test: ``validation="group"`` holds out one whole
training target (leave-target-out) or ligand (leave-ligand-out), drawn with ``seed``;
``"trajectory"`` holds out the last trajectory of every training complex (unseen trajectories of
seen complexes: an easier question, for sets with too few groups); ``None`` keeps no validation set.

>>> ids = [f"{t}-{l}-{k:02d}" for t, l in [("tyk2", "a"), ("tyk2", "b"), ("tyk2", "c"), ("p38", "x"),
...        ("bace", "y")] for k in range(2)]
>>> parse_complex_id("tyk2-a-01")
ComplexId(target='tyk2', ligand='a', trajectory=1)
>>> split = leave_target_out(ids, "tyk2", validation="group", seed=0)
>>> split.test
['tyk2-a-00', 'tyk2-a-01', 'tyk2-b-00', 'tyk2-b-01', 'tyk2-c-00', 'tyk2-c-01']
>>> len(split.train), len(split.val)
(2, 2)
>>> leave_ligand_out(ids, "tyk2", ["c"], validation="trajectory").val
['tyk2-a-01', 'tyk2-b-01']
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

import numpy as np

#: ``target-ligand-kk``: a lower-case target, a sanitised ligand name, a trajectory index.
ID_PATTERN = re.compile(r"^(?P<target>[a-z0-9]+)-(?P<ligand>[A-Za-z0-9_]+)-(?P<trajectory>\d{2,})$")
VALIDATION_MODES = ("group", "trajectory", None)


class ComplexId(NamedTuple):
    """The parts of a record id ``target-ligand-kk``."""

    target: str
    ligand: str
    trajectory: int


def parse_complex_id(name: str) -> ComplexId:
    """``"tyk2-ejm_42-03"`` -> ``ComplexId("tyk2", "ejm_42", 3)``; a ``ValueError`` if malformed."""
    match = ID_PATTERN.match(str(name))
    if match is None:
        raise ValueError(f"record id {name!r} is not of the form target-ligand-kk (lower-case target, ligand of "
                         "letters, digits and _, trajectory index of two or more digits), e.g. tyk2-ejm_42-00")
    return ComplexId(match["target"], match["ligand"], int(match["trajectory"]))


def group_complexes(ids: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """``target -> ligand -> ids`` (sorted by trajectory index), targets and ligands sorted by name.

    Raises a ``ValueError`` naming the first malformed or repeated id.
    """
    groups: dict[str, dict[str, list[tuple[int, str]]]] = {}
    seen: dict[ComplexId, str] = {}
    for name in ids:
        key = parse_complex_id(name)
        if key in seen:
            raise ValueError(f"record ids {seen[key]!r} and {name!r} name the same trajectory {key}")
        seen[key] = name
        groups.setdefault(key.target, {}).setdefault(key.ligand, []).append((key.trajectory, name))
    if not groups:
        raise ValueError("no record ids to split")
    return {t: {lig: [n for _, n in sorted(groups[t][lig])] for lig in sorted(groups[t])} for t in sorted(groups)}


@dataclass(frozen=True)
class ComplexSplit:
    """Train / validation / test record ids of one fold of a cross-complex task.

    Attributes:
        task: ``"leave_target_out"`` or ``"leave_ligand_out"``.
        fold: a label, ``"tyk2"`` or ``"tyk2:ejm_42+ejm_55"`` (target, then the held-out ligands).
        target: the held-out target (leave-target-out) or the target whose ligands are split.
        test_ligands: the ligands of the test set.
        train, val, test: record ids, disjoint.
    """

    task: str
    fold: str
    target: str
    test_ligands: tuple[str, ...]
    train: list[str]
    val: list[str]
    test: list[str]


def _check_validation(validation: str | None) -> None:
    if validation not in VALIDATION_MODES:
        raise ValueError(f"validation must be one of {VALIDATION_MODES}, got {validation!r}")


def _lookup_target(groups: dict, target: str) -> str:
    name = str(target).lower()
    if name not in groups:
        raise ValueError(f"unknown target {target!r}; the data has {', '.join(groups)}")
    return name


def _hold_out(pools: dict[str, list[str]], validation: str | None, seed: int,
              what: str) -> tuple[list[str], list[str]]:
    """Train and validation ids from ``pools`` (group -> ids, the training side).

    ``group``: one whole group, drawn with ``seed``; ``trajectory``: the last trajectory of every
    group's complexes (ids sorted by trajectory within each complex).
    """
    if validation is None:
        return [i for ids in pools.values() for i in ids], []
    if validation == "group":
        if len(pools) < 2:
            raise ValueError(f"validation='group' needs at least 2 training {what} (one validates), got "
                             f"{len(pools)}; use validation='trajectory' or None")
        held = sorted(pools)[int(np.random.default_rng(seed).integers(len(pools)))]
        return [i for g, ids in pools.items() if g != held for i in ids], list(pools[held])
    train, val = [], []
    for ids in pools.values():
        by_complex: dict[tuple[str, str], list[str]] = {}
        for i in ids:
            key = parse_complex_id(i)
            by_complex.setdefault((key.target, key.ligand), []).append(i)
        for (target, ligand), members in by_complex.items():
            if len(members) < 2:
                raise ValueError(f"validation='trajectory' needs at least 2 trajectories of every training complex; "
                                 f"{target}-{ligand} has {len(members)}")
            train += members[:-1]
            val.append(members[-1])
    return train, val


def leave_target_out(ids: Iterable[str], test_target: str, *, validation: str | None = "group",
                     seed: int = 0) -> ComplexSplit:
    """Test on every trajectory of ``test_target``, train on all other targets.

    ``validation`` (see the module docstring) takes the validation set from the other targets.
    Raises a ``ValueError`` for an unknown target, malformed ids, or too few targets.
    """
    _check_validation(validation)
    groups = group_complexes(ids)
    target = _lookup_target(groups, test_target)
    others = {t: [i for lig in groups[t].values() for i in lig] for t in groups if t != target}
    if not others:
        raise ValueError(f"leave-target-out needs at least 2 targets; the data has only {target}")
    train, val = _hold_out(others, validation, seed, "targets")
    test = [i for lig in groups[target].values() for i in lig]
    return ComplexSplit("leave_target_out", target, target, tuple(groups[target]), train, val, test)


def leave_ligand_out(ids: Iterable[str], target: str, test_ligands: Sequence[str], *,
                     validation: str | None = "group", seed: int = 0) -> ComplexSplit:
    """Test on ``test_ligands`` of ``target``, train on its other ligands (other targets unused).

    Raises a ``ValueError`` for an unknown target or ligand, an empty or total ``test_ligands``,
    malformed ids, or too few ligands left for training and validation.
    """
    _check_validation(validation)
    groups = group_complexes(ids)
    name = _lookup_target(groups, target)
    ligands = groups[name]
    test_ligands = tuple(dict.fromkeys(str(lig) for lig in test_ligands))
    unknown = [lig for lig in test_ligands if lig not in ligands]
    if unknown:
        raise ValueError(f"target {name} has no ligand {unknown[0]!r}; its ligands are {', '.join(ligands)}")
    rest = {lig: ligands[lig] for lig in ligands if lig not in test_ligands}
    if not test_ligands or not rest:
        raise ValueError(f"leave-ligand-out on {name} needs at least one test and one training ligand; it has "
                         f"{len(ligands)} ligand(s) and {len(test_ligands)} were asked to be held out")
    train, val = _hold_out(rest, validation, seed, f"ligands of {name}")
    test = [i for lig in test_ligands for i in ligands[lig]]
    return ComplexSplit("leave_ligand_out", f"{name}:{'+'.join(test_ligands)}", name, test_ligands, train, val, test)


def target_folds(ids: Iterable[str], *, validation: str | None = "group", seed: int = 0) -> list[ComplexSplit]:
    """Leave-target-out rotated over every target: one fold per target, in name order."""
    ids = list(ids)
    return [leave_target_out(ids, t, validation=validation, seed=seed) for t in group_complexes(ids)]


def ligand_folds(ids: Iterable[str], targets: Sequence[str] | None = None, *, validation: str | None = "group",
                 seed: int = 0) -> list[ComplexSplit]:
    """Leave-one-ligand-out rotated over every ligand of ``targets``.

    ``targets=None`` takes every target with enough ligands for ``validation`` (3 with ``"group"``:
    train, validate, test; 2 otherwise); a named target with too few raises a ``ValueError``.
    """
    ids = list(ids)
    groups = group_complexes(ids)
    if targets is None:
        least = 3 if validation == "group" else 2
        targets = [t for t, ligs in groups.items() if len(ligs) >= least]
        if not targets:
            raise ValueError(f"no target has the {least} ligands leave-ligand-out needs with validation={validation!r}")
    folds = []
    for target in targets:
        name = _lookup_target(groups, target)
        folds += [leave_ligand_out(ids, name, [lig], validation=validation, seed=seed) for lig in groups[name]]
    return folds
