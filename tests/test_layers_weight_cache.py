"""The cache of the layers' parameter products (``layers/_weight_cache.py``): what it keeps is
rebuilt whenever a parameter changes, so cached forces always equal a fresh model's; under autograd
it keeps them only within one training loss (``shared_parameter_products``)."""
from __future__ import annotations

import contextlib
import copy
from unittest import mock

import pytest
import torch

from _layers_records import one_thread, random_record  # noqa: F401 (autouse fixture)
from neuralmd.layers import BindingNet, _interaction
from neuralmd.layers._weight_cache import WeightCache, module_parameters, shared_parameter_products


def _net(seed: int = 0) -> BindingNet:
    torch.manual_seed(seed)
    return BindingNet(hidden=16, num_layers=2).double()


def _fresh_forces(net: BindingNet, data, pos) -> torch.Tensor:
    """The same weights in a model that has never cached anything, with gradients on (no cache)."""
    return copy.deepcopy(net)(data, pos).detach()


def test_cached_forces_equal_the_uncached_ones_and_follow_every_parameter_change():
    data = random_record(0, 12)
    pos = data["ligand"].pos[:, 0]
    net = _net()
    with torch.no_grad():
        first = net(data, pos)
        torch.testing.assert_close(net(data, pos), first, rtol=0, atol=0)  # from the cache
    torch.testing.assert_close(first, _fresh_forces(net, data, pos), rtol=1e-12, atol=1e-12)
    # an optimizer step (in place) on the parameters
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    net(data, pos).square().sum().backward()
    opt.step()
    with torch.no_grad():
        stepped = net(data, pos)
    assert (stepped - first).abs().max() > 1e-6
    torch.testing.assert_close(stepped, _fresh_forces(net, data, pos), rtol=1e-12, atol=1e-12)
    # load_state_dict of other weights, then a dtype change
    other = _net(seed=1)
    net.load_state_dict(other.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(net(data, pos), _fresh_forces(other, data, pos), rtol=1e-12, atol=1e-12)
        as_float = net.float()(data.clone().apply(lambda t: t.float() if t.is_floating_point() else t), pos.float())
    assert as_float.dtype == torch.float32
    torch.testing.assert_close(as_float.double(), _fresh_forces(other, data, pos), rtol=1e-4, atol=1e-5)


def test_a_replaced_layer_is_read_by_the_next_cached_call():
    """The cache key enumerates the modules' own parameter tables (module_parameters), so a
    submodule replaced after a cached call is part of the next key."""
    data = random_record(0, 12)
    pos = data["ligand"].pos[:, 0]
    net = _net()
    layers = [*net.ligand.layers, net.ligand.edge_mlp[2]]
    assert [id(p) for p in module_parameters(layers)] == [id(p) for m in layers for p in m.parameters()]
    with torch.no_grad():
        net(data, pos)
        net.ligand.layers[1].update = torch.nn.Linear(*net.ligand.layers[1].update.weight.shape[::-1]).double()
        replaced = net(data, pos)
    torch.testing.assert_close(replaced, _fresh_forces(net, data, pos), rtol=1e-12, atol=1e-12)


def test_gradients_flow_to_every_parameter_after_cached_calls():
    """A no-grad rollout (cache filled) followed by training: the training forward must not use
    the cached, graph-less products."""
    data = random_record(1, 10)
    pos = data["ligand"].pos[:, 0]
    net = _net()
    fresh = copy.deepcopy(net)
    with torch.no_grad():
        net(data, pos)
    net(data, pos).square().sum().backward()
    fresh(data, pos).square().sum().backward()
    grads = [(p.grad, q.grad) for p, q in zip(net.parameters(), fresh.parameters())]
    assert sum(q is not None and q.abs().sum() > 0 for _, q in grads) > 20
    for got, want in grads:
        assert (got is None) == (want is None)
        if want is not None:
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_cache_is_per_copy_and_builds_only_when_needed():
    calls = []
    cache = WeightCache()
    weight = torch.nn.Parameter(torch.ones(2))

    def build():
        calls.append(1)
        return weight * 2

    with torch.no_grad():
        cache.get(lambda: [weight], build)
        cache.get(lambda: [weight], build)
        assert len(calls) == 1
        copied = copy.deepcopy(cache)
        copied.get(lambda: [weight], build)  # a copy starts empty
        assert len(calls) == 2
    cache.get(lambda: [weight], build)  # gradients on: built every time, never stored
    assert len(calls) == 3
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        cache.get(lambda: [weight], build)  # autocast: products of another dtype, not cached
    assert len(calls) == 4


def test_no_grad_forces_are_ordinary_tensors_equal_to_the_grad_mode_ones():
    """Without gradients the force field runs in inference mode (cheaper per operation) and copies
    its forces out: the caller may modify them in place and use them under autograd, and parts of
    the net called directly afterwards read the cache it filled there."""
    data = random_record(2, 9)
    pos = data["ligand"].pos[:, 0]
    net = _net()
    with torch.no_grad():
        forces = net(data, pos)
    assert not forces.is_inference()
    forces.mul_(1.0)  # in place: an inference tensor would refuse this outside inference mode
    torch.testing.assert_close(forces, net(data, pos).detach(), rtol=1e-12, atol=1e-12)
    x = pos.clone().requires_grad_(True)
    (x * forces).sum().backward()  # saved for backward: refused for an inference tensor
    with torch.no_grad():
        h, vec = net.ligand(data["ligand"].z, pos)  # the ligand's cache was filled in inference mode
    torch.testing.assert_close(vec, net.ligand(data["ligand"].z, pos)[1].detach(), rtol=1e-12, atol=1e-12)


def _loss_gradients(model, data, *, shared: bool, **options) -> tuple[float, list]:
    """The loss and the parameter gradients of one training loss (a rollout of several solver steps)."""
    model.zero_grad()
    if shared:
        value = model.loss(data, generator=torch.Generator().manual_seed(3), **options)
    else:  # the loss without its shared block: every evaluation builds its own products
        with mock.patch("neuralmd.dynamics._base.shared_parameter_products", contextlib.nullcontext):
            value = model.loss(data, generator=torch.Generator().manual_seed(3), **options)
    value.backward()
    return float(value.detach()), [None if p.grad is None else p.grad.clone() for p in model.parameters()]


def test_a_training_loss_shares_its_parameter_products_with_the_same_gradients():
    """Inside one loss every force evaluation reuses the products (built once per cache), the
    loss and the gradients equal those of products rebuilt at every evaluation, and nothing of
    the graph is kept after the loss: a second backward, or a loss after an optimizer step, works."""
    from neuralmd.dynamics import NeuralMD

    data = random_record(2, 9, num_frames=6)
    torch.manual_seed(0)
    model = NeuralMD(BindingNet(hidden=16, num_layers=2).double(), solver="sde", method="baoab", friction=0.5,
                     noise="fdt", coefficients="ligand", velocity_mapping=True)
    builds = []
    layer_weights = _interaction.layer_weights
    with mock.patch.object(_interaction, "layer_weights", lambda *a, **k: builds.append(1) or layer_weights(*a, **k)):
        loss, grads = _loss_gradients(model, data, shared=True, window=3, loss="energy", samples=2)
        shared_builds = len(builds)
        builds.clear()
        want_loss, want = _loss_gradients(model, data, shared=False, window=3, loss="energy", samples=2)
    # one build per interaction stack (force field, friction net, velocity map) against one per evaluation
    assert shared_builds < 8 < len(builds), (shared_builds, len(builds))
    assert loss == pytest.approx(want_loss, rel=1e-12)
    assert sum(g is not None and g.abs().sum() > 0 for g in want) > 20
    for got, expected in zip(grads, want):
        assert (got is None) == (expected is None)
        if expected is not None:
            torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)
    caches = [c for m in model.modules() for c in vars(m).values() if isinstance(c, WeightCache)]
    assert caches and all(c._value is None for c in caches)  # emptied on leaving the loss
    torch.optim.SGD(model.parameters(), lr=1e-3).step()
    _loss_gradients(model, data, shared=True, window=3)  # after a step: new products, no stale graph


def test_products_made_without_a_graph_never_serve_a_call_that_needs_one():
    weight = torch.nn.Parameter(torch.ones(2))
    cache = WeightCache()
    with torch.no_grad():
        plain = cache.get(lambda: [weight], lambda: weight * 2)
    with shared_parameter_products():
        tracked = cache.get(lambda: [weight], lambda: weight * 2)
        with torch.no_grad():
            assert not cache.get(lambda: [weight], lambda: weight * 2).requires_grad
    assert not plain.requires_grad and tracked.requires_grad and tracked is not plain


def test_while_compiling_the_cache_reads_nothing_and_keeps_nothing(monkeypatch):
    """Inside a compiled ``message_passing`` (the edge MLPs' weight blocks) the cache must not touch
    the shared block's context variable: traced by dynamo, that split the compiled training graph and
    inductor then failed to compile its backward (benchmarks.speed --floor --compile-training)."""
    from neuralmd.layers import _weight_cache

    class Untouchable:
        def get(self, *default):
            raise AssertionError("the shared block was read while compiling")

    monkeypatch.setattr(_weight_cache, "_SHARED_UNDER_GRAD", Untouchable())
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    weight = torch.nn.Parameter(torch.ones(2))
    cache = WeightCache()
    first = cache.get(lambda: [weight], lambda: weight * 2)
    assert cache.get(lambda: [weight], lambda: weight * 2) is not first and cache._value is None
