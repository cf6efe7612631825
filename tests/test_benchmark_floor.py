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
