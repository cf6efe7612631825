"""cli/_evaluate_command.py: ``neuralmd evaluate`` itself (end-to-end runs: test_cli_commands)."""
from __future__ import annotations

import pytest

from neuralmd.cli import UsageError, compose
from neuralmd.cli._evaluate_command import _label, run


def test_labels_of_equal_names_get_their_run_folder(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "checkpoint.pt").write_bytes(b"")
    taken = {"NeuralMD": None}
    assert _label("Static", taken, str(tmp_path / "a")) == "Static"
    first = _label("NeuralMD", taken, str(tmp_path / "a"))
    assert first == "NeuralMD (a)"
    taken[first] = None
    assert _label("NeuralMD", taken, str(tmp_path / "a")) == "NeuralMD (a #2)"


def test_nothing_to_evaluate_is_a_usage_error():
    with pytest.raises(UsageError, match="nothing to evaluate"):
        run(compose("evaluate", ["baselines=[]"]))
