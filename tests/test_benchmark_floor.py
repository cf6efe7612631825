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
