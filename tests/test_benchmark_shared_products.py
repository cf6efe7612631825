"""benchmarks/shared_products.py: both variants time real steps, and the block is put back."""
import neuralmd.dynamics._base as dynamics_base
from benchmarks import shared_products


def test_both_variants_are_timed_and_the_shared_block_is_restored(capsys):
    block = dynamics_base.shared_parameter_products
    best = shared_products.main(["--rounds", "1", "--batch", "1"])
    assert set(best) == {True, False} and all(0 < seconds < 60 for seconds in best.values())
    assert dynamics_base.shared_parameter_products is block
    assert "products rebuilt per evaluation" in capsys.readouterr().out
