"""benchmarks/floor.py: the floor-relative speed figures count every matrix product, in place or not."""
import torch

from benchmarks.floor import count_flops, count_ops


def test_flop_count_includes_in_place_products():
    a, b, c = torch.randn(10, 20), torch.randn(20, 30), torch.randn(10, 30)
    product = 2 * 10 * 20 * 30
    assert count_flops(lambda: torch.addmm(c, a, b)) == product
    assert count_flops(lambda: c.clone().addmm_(a, b)) == product
    assert count_flops(lambda: (a @ b, c.clone().addmm_(a, b), torch.bmm(a[None], b[None]))) == 3 * product


def test_op_count_counts_each_tensor_operation():
    x = torch.randn(4, 4)
    assert count_ops(lambda: (x + 1).mul_(2).sum()) == 3


def test_a_versions_options_reach_its_force_fields():
    """``Version.with_options`` (e.g. ``--edge-dtype bfloat16``): the force fields built for it get
    those BindingNet arguments, and the same weights as the reference."""
    import copy
    from types import SimpleNamespace

    import neuralmd.layers
    from benchmarks.floor import Version, _force_field

    plain = SimpleNamespace(layers=neuralmd.layers, compile=False, options={}, label="this tree")
    reference = _force_field(plain, None)
    mixed = Version.with_options(copy.copy(plain), "bf16 edges", edge_dtype="bfloat16")
    net = _force_field(mixed, reference)
    assert net.edge_dtype is torch.bfloat16 and reference.edge_dtype is None and plain.options == {}
    assert mixed.label == "bf16 edges"
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), reference.state_dict().values()))


def test_training_rows_count_the_flops_of_a_step_and_their_rate():
    """The training rows split a speed-up into FLOPs cut and efficiency: each row carries the matrix
    FLOPs of one Adam step (the same for every step of a version) and the achieved rate's fraction
    of the same-process matmul floor; markdown prints them."""
    import contextlib
    from types import SimpleNamespace

    import neuralmd.dynamics
    import neuralmd.layers
    from benchmarks.floor import markdown, training_rows
    from benchmarks.speed import synthetic_complex

    this_tree = SimpleNamespace(layers=neuralmd.layers, dynamics=neuralmd.dynamics, compile=False, options={},
                                label="this tree", active=contextlib.nullcontext)
    syn = synthetic_complex(100)
    syn["ligand"].pos = syn["ligand"].pos[:, :8]
    (row,) = training_rows([this_tree], [syn] * 2, batch_size=2, window=2, rounds=1)
    assert row["gflop"] > 0.01 and 0 < row["floor_fraction"] < 2
    assert abs(row["gflops"] - row["gflop"] / row["cpu_s"]) < 1e-9 * row["gflops"]
    text = markdown(dict(force=[], rollout=[], training=[row]))
    assert "rollout batch" not in text and "max force diff" not in text
    assert f"| 2 | 2 | this tree | {row['gflop']:.1f} | {row['steps_per_cpu_s']:.3f} |" in text
