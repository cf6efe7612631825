"""The CUDA path against the CPU one: the hand-written backward passes, a Langevin model's training
loss and gradients, and compiled training. CI has no GPU, so these skip there; they run on a lent
GPU machine (``benchmarks/device_training.sh``), where the custom kernels' CUDA
implementations (embedding_bag's, index_add's atomics) are the code under test."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor
from _dynamics_toys import make_batch, make_record

from neuralmd.cli._build import build_model
from neuralmd.layers import compile_message_passing
from neuralmd.layers._blocks import outer_scatter, weighted_row_sum

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
F64 = torch.float64
CUDA = torch.device("cuda")


def _row_sum_inputs(device: torch.device):
    g = torch.Generator().manual_seed(2)
    table = torch.randn(9, 6, dtype=F64, generator=g)
    index = torch.randint(0, 7, (40, 3), generator=g)  # rows 7 and 8 never gathered, others many times
    weights = torch.randn(40, 3, dtype=F64, generator=g)
    upstream = torch.randn(40, 6, dtype=F64, generator=g)
    return [t.to(device) for t in (table, index, weights, upstream)]


def test_weighted_row_sum_and_its_gradients_on_cuda_match_the_cpu():
    results = {}
    for device in (torch.device("cpu"), CUDA):
        table, index, weights, upstream = _row_sum_inputs(device)
        table.requires_grad_(True), weights.requires_grad_(True)
        out = weighted_row_sum(table, index, weights)
        plain = (weights.unsqueeze(-1) * table[index]).sum(1)
        torch.testing.assert_close(out, plain, rtol=0, atol=1e-13)
        ours = torch.autograd.grad(out, (table, weights), upstream)
        expected = torch.autograd.grad(plain, (table, weights), upstream)
        for a, b in zip(ours, expected):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
        results[device.type] = [out.detach().cpu(), *(t.cpu() for t in ours)]
    for a, b in zip(results["cpu"], results["cuda"]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
    table, index, weights, _ = _row_sum_inputs(CUDA)
    assert torch.autograd.gradcheck(lambda t, w: weighted_row_sum(t, index, w),
                                    (table.requires_grad_(True), weights.requires_grad_(True)))


def test_outer_scatter_gradients_on_cuda_match_autograds():
    g = torch.Generator().manual_seed(4)
    rel = torch.randn(30, 3, dtype=F64, generator=g).to(CUDA).requires_grad_(True)
    message = torch.randn(30, 5, dtype=F64, generator=g).to(CUDA).requires_grad_(True)
    index = torch.randint(0, 4, (30,), generator=g).to(CUDA)
    upstream = torch.randn(6, 3, 5, dtype=F64, generator=g).to(CUDA)
    plain = torch.zeros(6, 3, 5, dtype=F64, device=CUDA).index_add(0, index, rel.unsqueeze(-1) * message.unsqueeze(-2))
    out = outer_scatter(rel, message, index, 6)
    torch.testing.assert_close(out, plain, rtol=0, atol=1e-13)
    for a, b in zip(torch.autograd.grad(out, (rel, message), upstream),
                    torch.autograd.grad(plain, (rel, message), upstream)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)


def _langevin_loss_and_grads(model, data, device: torch.device):
    model = model.to(device)
    loss = model.loss(data.to(device), window=3, loss="energy", samples=4,
                      generator=torch.Generator().manual_seed(7))
    # allow_unused: the force field's energy head, which only an energy model (VerletMD) uses
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad], allow_unused=True)
    return loss.detach().cpu(), [None if g is None else g.cpu() for g in grads]


def test_langevin_energy_score_training_is_the_same_on_cuda_and_cpu():
    """The default model's training loss (energy score of sampled BAOAB rollouts, velocity map,
    friction network) and every parameter gradient, float64: the noise is drawn on the CPU from
    per-complex streams, so the two devices sample the same paths and differ only by round-off."""
    torch.manual_seed(0)
    model = build_model("neuralmd_langevin")[0].double()
    data = make_batch([make_record(i, n_lig=6, n_res=12, T=8) for i in range(3)])
    cpu_loss, cpu_grads = _langevin_loss_and_grads(copy.deepcopy(model), data, torch.device("cpu"))
    cuda_loss, cuda_grads = _langevin_loss_and_grads(model, data, CUDA)
    torch.testing.assert_close(cuda_loss, cpu_loss, rtol=1e-10, atol=0)
    assert sum(int(g is not None and g.abs().sum() > 0) for g in cpu_grads) > len(cpu_grads) // 2
    assert [g is None for g in cuda_grads] == [g is None for g in cpu_grads]
    for a, b in zip(cuda_grads, cpu_grads):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12)


def _loss_and_grads(model, data) -> tuple[Tensor, list[Tensor]]:
    # MSE: the MAE's gradient is a sign per coordinate, which round-off flips where an error is ~0
    loss = model.loss(data, window=3, loss="mse", generator=torch.Generator().manual_seed(0))
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)  # the energy head: unused
    return loss.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(model.parameters(), grads)]


def _adam_losses(model, data, steps: int) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = model.loss(data, window=3, loss="mae", generator=generator)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_compiled_training_on_cuda_matches_eager():
    """``trainer.compile=default`` on CUDA (inductor, Triton kernels), float32: the ODE model's MAE
    over three Adam steps is eager's to 1e-4 (on an H200: 5e-6), and so is every parameter gradient
    of the MSE, each tensor's within 1e-3 of its largest entry. Not the weights after Adam, which
    divides a gradient by its own size: where a gradient is round-off, the step is a full learning
    rate of either sign (3e-3 apart after three steps on the H200), and not the MAE's gradient, a
    sign per coordinate (one entry of the atom-type embedding's 4e-3 of that tensor's largest apart
    there)."""
    torch.manual_seed(0)
    eager = build_model("neuralmd_ode")[0].to(CUDA)
    compiled = copy.deepcopy(eager)
    assert compile_message_passing(compiled)
    data = make_batch([make_record(i, n_lig=6, n_res=12, T=8, dtype=torch.float32) for i in range(4)]).to(CUDA)
    with torch._dynamo.config.patch(recompile_limit=64):
        compiled_loss, compiled_grads = _loss_and_grads(compiled, data)
        compiled_losses = _adam_losses(compiled, data, 3)
    eager_loss, eager_grads = _loss_and_grads(eager, data)
    eager_losses = _adam_losses(eager, data, 3)
    torch.testing.assert_close(compiled_loss, eager_loss, rtol=1e-5, atol=0)
    names = [name for name, _ in eager.named_parameters()]
    for name, a, b in zip(names, compiled_grads, eager_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-3 * float(b.abs().max()) + 1e-9, msg=lambda m: f"{name}: {m}")
    torch.testing.assert_close(torch.tensor(compiled_losses), torch.tensor(eager_losses), rtol=1e-4, atol=0)
