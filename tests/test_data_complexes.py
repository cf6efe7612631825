"""Record ids ``target-ligand-kk`` and the cross-complex splits built from them."""
from __future__ import annotations

import pytest

from neuralmd.data import (ComplexId, group_complexes, leave_ligand_out, leave_target_out, ligand_folds,
                           parse_complex_id, target_folds)

#: tyk2 with 4 ligands, p38 with 3, three targets with 1; 3 trajectories each.
PLAN = {"tyk2": ["ejm_31", "ejm_42", "ejm_55", "jmc_28"], "p38": ["a", "b", "c"], "bace": ["cat_13a"],
        "t4l": ["pxylene"], "1s3v": ["TMQ"]}
IDS = [f"{t}-{lig}-{k:02d}" for t, ligs in PLAN.items() for lig in ligs for k in range(3)]


def _assert_partition(split, ids=IDS) -> None:
    parts = [set(split.train), set(split.val), set(split.test)]
    assert sum(map(len, parts)) == len(split.train) + len(split.val) + len(split.test), "repeated id"
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert parts[0] | parts[1] | parts[2] <= set(ids)


@pytest.mark.parametrize("name, expected", [
    ("tyk2-ejm_31-00", ComplexId("tyk2", "ejm_31", 0)),
    ("1s3v-TMQ-12", ComplexId("1s3v", "TMQ", 12)),
    ("p38-p38a_2aa-103", ComplexId("p38", "p38a_2aa", 103)),
])
def test_parse_complex_id(name, expected) -> None:
    assert parse_complex_id(name) == expected


@pytest.mark.parametrize("bad", ["T4L_00", "TYK2-ejm_31-00", "tyk2-ejm-31-00", "tyk2-ejm_31-0", "tyk2--00",
                                 "tyk2-ejm 31-00", "tyk2-ejm_31-00x", ""])
def test_malformed_ids_are_refused_by_name(bad) -> None:
    with pytest.raises(ValueError, match="is not of the form target-ligand-kk"):
        parse_complex_id(bad)
    with pytest.raises(ValueError, match=repr(bad)):
        leave_target_out([*IDS, bad], "tyk2")


def test_group_complexes_sorts_by_trajectory_and_refuses_repeats() -> None:
    groups = group_complexes(["p38-a-10", "p38-a-02", "bace-x-00"])
    assert groups == {"bace": {"x": ["bace-x-00"]}, "p38": {"a": ["p38-a-02", "p38-a-10"]}}
    with pytest.raises(ValueError, match="name the same trajectory"):
        group_complexes(["p38-a-02", "p38-a-002"])
    with pytest.raises(ValueError, match="no record ids"):
        group_complexes([])


@pytest.mark.parametrize("validation", ["group", "trajectory", None])
def test_every_target_is_held_out_once_with_validation_from_the_training_targets(validation) -> None:
    folds = target_folds(IDS, validation=validation, seed=3)
    assert [f.target for f in folds] == sorted(PLAN)
    tested = [i for f in folds for i in f.test]
    assert sorted(tested) == sorted(IDS)                        # each trajectory tested exactly once
    for fold in folds:
        _assert_partition(fold)
        assert {parse_complex_id(i).target for i in fold.test} == {fold.target}
        assert fold.target not in {parse_complex_id(i).target for i in fold.train + fold.val}
        assert fold.test_ligands == tuple(sorted(PLAN[fold.target]))
        assert len(fold.train) + len(fold.val) + len(fold.test) == len(IDS)
        if validation is None:
            assert fold.val == []
        elif validation == "group":                              # one whole other target validates
            (val_target,) = {parse_complex_id(i).target for i in fold.val}
            assert val_target != fold.target
            assert val_target not in {parse_complex_id(i).target for i in fold.train}
        else:                                                    # the last trajectory of each training complex
            assert {parse_complex_id(i).trajectory for i in fold.val} == {2}
            assert len(fold.val) == sum(len(ligs) for t, ligs in PLAN.items() if t != fold.target)


def test_group_validation_is_drawn_with_the_seed() -> None:
    drawn = {tuple(leave_target_out(IDS, "tyk2", seed=s).val) for s in range(20)}
    assert len(drawn) > 1
    assert leave_target_out(IDS, "tyk2", seed=5) == leave_target_out(IDS, "TYK2", seed=5)   # target in any case


@pytest.mark.parametrize("validation", ["group", "trajectory", None])
def test_leave_ligand_out_rotates_over_every_ligand_of_a_target(validation) -> None:
    folds = ligand_folds(IDS, ["tyk2"], validation=validation)
    assert [f.test_ligands for f in folds] == [(lig,) for lig in PLAN["tyk2"]]
    for fold in folds:
        _assert_partition(fold)
        (held,) = fold.test_ligands
        assert fold.fold == f"tyk2:{held}"
        assert {parse_complex_id(i)[:2] for i in fold.test} == {("tyk2", held)}
        used = {parse_complex_id(i)[:2] for i in fold.train + fold.val}
        assert {t for t, _ in used} == {"tyk2"}                  # other targets are not used
        assert ("tyk2", held) not in used
        assert len(fold.train) + len(fold.val) == 3 * (len(PLAN["tyk2"]) - 1)
        if validation == "group":
            assert len({parse_complex_id(i).ligand for i in fold.val}) == 1
            assert not {parse_complex_id(i).ligand for i in fold.val} & {parse_complex_id(i).ligand
                                                                          for i in fold.train}


def test_ligand_folds_default_to_targets_with_enough_ligands() -> None:
    assert {f.target for f in ligand_folds(IDS)} == {"tyk2", "p38"}
    assert len(ligand_folds(IDS, validation=None)) == 4 + 3
    with pytest.raises(ValueError, match="no target has the 3 ligands"):
        ligand_folds([i for i in IDS if not i.startswith(("tyk2", "p38"))])


def test_leave_ligand_out_with_several_test_ligands() -> None:
    split = leave_ligand_out(IDS, "tyk2", ["ejm_55", "ejm_31"], validation=None)
    assert split.fold == "tyk2:ejm_55+ejm_31" and len(split.test) == 6 and len(split.train) == 6


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown target 'jnk1'; the data has 1s3v, bace, p38, t4l, tyk2"):
        leave_target_out(IDS, "jnk1")
    with pytest.raises(ValueError, match="target tyk2 has no ligand 'nope'"):
        leave_ligand_out(IDS, "tyk2", ["nope"])
    with pytest.raises(ValueError, match="at least one test and one training ligand"):
        leave_ligand_out(IDS, "bace", ["cat_13a"])
    with pytest.raises(ValueError, match="at least one test and one training ligand"):
        leave_ligand_out(IDS, "tyk2", [])
    with pytest.raises(ValueError, match="needs at least 2 training ligands of tyk2"):
        leave_ligand_out(IDS, "tyk2", ["ejm_31", "ejm_42", "ejm_55"], validation="group")
    with pytest.raises(ValueError, match="leave-target-out needs at least 2 targets"):
        leave_target_out([i for i in IDS if i.startswith("bace")], "bace")
    with pytest.raises(ValueError, match="validation='trajectory' needs at least 2 trajectories"):
        leave_target_out(["a-x-00", "b-y-00", "b-y-01", "c-z-00"], "c", validation="trajectory")
    with pytest.raises(ValueError, match="validation must be one of"):
        leave_target_out(IDS, "tyk2", validation="ligand")
    with pytest.raises(ValueError, match="leave-ligand-out needs with validation='group'|no target has"):
        ligand_folds(["a-x-00", "a-y-00"])
