"""benchmarks/gpu_training.py on the CPU: one row per model, batch size and variant, written to
JSON after each batch size, and a model a version lacks skipped rather than failing the run."""
import json

from benchmarks import gpu_training


def test_rows_per_model_and_batch_and_unknown_models_skipped(tmp_path):
    out = tmp_path / "training.json"
    gpu_training.main(["--json", str(out), "--batches", "1", "2", "--steps", "1",
                       "--models", "NeuralMD ODE", "No Such Model"])
    result = json.loads(out.read_text())
    assert result["device"] == "cpu"
    assert [(r["method"], r["batch"], r["variant"]) for r in result["rows"]] == [
        ("NeuralMD ODE", 1, "eager"), ("NeuralMD ODE", 2, "eager")]
    assert all(r["trajectories_per_s"] > 0 and r["steps"] == 1 for r in result["rows"])
