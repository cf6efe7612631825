"""The factored layers compute the same function as the concatenation formulas they replace.

BindingNet's first linear maps act on concatenations of node, edge and radial features. The layers
split those weight matrices by column blocks, run node blocks per node and gather the results onto
edges (issue 14). The reference functions here are the plain formulas on the same parameters:
forces, invariant features and gradients (first and second order) must agree in float64.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from _layers_records import one_thread, random_record  # noqa: F401 (autouse fixture)
from neuralmd.data import synthetic_trajectories
from neuralmd.frames import edge_frames, scalarize, vectorize
from neuralmd.layers import BindingNet, EdgeGeometry, FrameInteraction, compile_message_passing, radius, radius_graph
from neuralmd.layers._blocks import aggregate, weighted_row_sum
from neuralmd.layers import _radial
from neuralmd.layers._radial import BandedBasis, cosine_cutoff, safe_norm


def reference_interaction(layer: FrameInteraction, h, vec, edge_index, edge_attr, geometry, source=None, extra=None):
    """FrameInteraction as written before the factoring: one MLP on the concatenated inputs."""
    src, dst = edge_index
    g = h if source is None else source
    rel, frames, envelope = geometry
    inputs = [edge_attr, scalarize(vec[dst], frames)] + ([] if extra is None else [extra])
    pre = layer.edge_in(torch.cat(inputs, dim=-1)) + layer.dst_in(h[dst]) + layer.src_in(g[src])
    m = layer.message(pre)
    w = envelope.unsqueeze(-1)
    h_new = h + layer.update(aggregate(w * m, dst, h.shape[0], layer.norm))
    coeff = w * layer.vector(m)
    dvec = coeff[:, :1] * vec[dst] + coeff[:, 1:2] * rel + vectorize(coeff[:, 2:], frames)
    return h_new, vec + aggregate(dvec, dst, h.shape[0], layer.norm)


def reference_ligand(net, z, pos, batch):
    edge_index = radius_graph(pos, net.cutoff, batch)
    src, dst = edge_index
    rel = pos[dst] - pos[src]
    r = safe_norm(rel)
    frames = edge_frames(pos, edge_index, batch)
    nb = net.neighbors
    weights = nb.filter(nb.rbf(r))
    emb = net.embedding(z)
    h = emb + torch.zeros_like(emb).index_add(0, dst, weights[:, : net.hidden] * emb[src]) / nb.norm
    message = weights[:, -nb.channels :] * emb[src]
    vectors = emb.new_zeros(z.shape[0], 3, nb.channels).index_add(0, dst, rel.unsqueeze(-1) * message.unsqueeze(-2))
    vectors = vectors / nb.norm
    pair = scalarize(torch.cat((vectors[dst], vectors[src]), dim=-1), frames)
    edge_attr = net.edge_mlp(torch.cat((pair.flatten(1), nb.rbf(r)), dim=-1))
    geometry = EdgeGeometry(rel, frames, cosine_cutoff(r, net.cutoff))
    vec = torch.zeros_like(pos)
    for layer in net.layers:
        h, vec = reference_interaction(layer, h, vec, edge_index, edge_attr, geometry, extra=scalarize(vec[src], frames))
    return h, vec


def reference_complex(net, h_lig, vec_lig, pos_lig, lig_batch, protein):
    atom, res = radius(protein.ca, pos_lig, net.cutoff, protein.batch, lig_batch)
    rel = pos_lig[atom] - protein.ca[res]
    r = safe_norm(rel)
    frames = protein.frames[res]
    pair = scalarize(rel, frames).unsqueeze(-1) * (h_lig[atom] + protein.h[res]).unsqueeze(-2)
    edge_attr = net.edge_mlp(torch.cat((pair.flatten(1), net.rbf(r)), dim=-1))
    geometry = EdgeGeometry(rel, frames, cosine_cutoff(r, net.cutoff))
    h, vec = h_lig, vec_lig
    for layer in net.layers:
        h, vec = reference_interaction(layer, h, vec, torch.stack((res, atom)), edge_attr, geometry, source=protein.h)
    return h, vec


def _batch(records):
    from torch_geometric.data import Batch

    return Batch.from_data_list(records)


def _net(seed: int, vector_channels=None, num_rbf: int = 12) -> BindingNet:
    torch.manual_seed(seed)
    net = BindingNet(hidden=16, num_layers=3, num_rbf=num_rbf).double()
    with torch.no_grad():  # default biases are small; make every term count
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net


def _both(net, data, pos):
    lig = data["ligand"]
    batch = lig.batch if "batch" in lig else None
    protein = net.encode_protein(data)
    h, vec = net.ligand(lig.z, pos, batch)
    new = net.complex.interact(h, vec, pos, batch, protein)
    h_ref, vec_ref = reference_ligand(net.ligand, lig.z, pos, batch)
    torch.testing.assert_close(h, h_ref, atol=1e-11, rtol=1e-11)
    torch.testing.assert_close(vec, vec_ref, atol=1e-11, rtol=1e-11)
    ref = reference_complex(net.complex, h_ref, vec_ref, pos, batch, protein)
    return new, ref


@pytest.mark.parametrize("seed", [0, 1])
def test_bindingnet_equals_the_concatenation_formulas(seed):
    net = _net(seed)
    data = _batch([random_record(seed, 12, spread=1.5), random_record(seed + 7, 6, num_residues=10)])
    pos = data["ligand"].pos[:, 0]
    (h, forces), (h_ref, forces_ref) = _both(net, data, pos)
    assert forces.abs().max() > 1e-2  # a real signal, with pocket pairs
    torch.testing.assert_close(forces, forces_ref, atol=1e-11, rtol=1e-11)
    torch.testing.assert_close(h, h_ref, atol=1e-11, rtol=1e-11)


def test_gradients_equal_the_reference_to_second_order():
    """Parameter and position gradients, and the double backward that trains energy forces."""
    net = _net(3)
    data = random_record(3, 10, spread=1.5)
    pos = data["ligand"].pos[:, 0].clone().requires_grad_()
    (h, forces), (h_ref, forces_ref) = _both(net, data, pos)
    params = [p for p in net.parameters()]
    for out, ref in ((h, h_ref), (forces, forces_ref)):
        weight = torch.randn_like(out)
        grads = torch.autograd.grad((weight * out).sum(), [pos] + params, create_graph=True, allow_unused=True)
        grads_ref = torch.autograd.grad((weight * ref).sum(), [pos] + params, create_graph=True, allow_unused=True)
        for g, g_ref in zip(grads, grads_ref):
            if g_ref is None:
                assert g is None or g.abs().max() == 0
                continue
            torch.testing.assert_close(g, g_ref, atol=1e-10, rtol=1e-10)
        second = torch.autograd.grad(grads[0].square().sum(), params, retain_graph=True, allow_unused=True)
        second_ref = torch.autograd.grad(grads_ref[0].square().sum(), params, retain_graph=True, allow_unused=True)
        for g, g_ref in zip(second, second_ref):
            if g_ref is not None:
                torch.testing.assert_close(g, g_ref, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-11), (torch.float32, 1e-5)])
def test_rollout_forces_with_banded_bases_equal_the_concatenation_formulas(dtype, tolerance, monkeypatch):
    """The ligand, its pocket pairs and the protein's encoding multiply banded radial bases (48
    functions: a band of 19 in float64, 15 in float32; here at every edge count); the rollout
    forces are the reference formulas' on the dense basis to round-off."""
    net = _net(5, num_rbf=48)
    data = _batch([random_record(5, 12, spread=1.5), random_record(12, 6, num_residues=10)])
    pos = data["ligand"].pos[:, 0]
    lig = data["ligand"]
    monkeypatch.setattr(_radial, "MIN_BANDED_SAVING", 10**9)  # the reference: dense bases throughout
    protein = net.encode_protein(data)
    h_ref, vec_ref = reference_ligand(net.ligand, lig.z, pos, lig.batch)
    _, forces_ref = reference_complex(net.complex, h_ref, vec_ref, pos, lig.batch, protein)
    monkeypatch.setattr(_radial, "MIN_BANDED_SAVING", 1)
    net = net.to(dtype)
    data = data.apply(lambda x: x.to(dtype) if x.is_floating_point() else x)
    with torch.no_grad():
        assert isinstance(net.ligand.neighbors.rbf.for_linear(torch.rand(4, dtype=dtype)), BandedBasis)
        forces = net(data, data["ligand"].pos[:, 0])
    assert forces_ref.abs().max() > 1e-2
    assert (forces.double() - forces_ref.detach()).abs().max() < tolerance * forces_ref.abs().max()


def test_float32_matches_the_float64_reference_to_round_off():
    net = _net(4)
    data = random_record(4, 12, spread=1.5)
    pos = data["ligand"].pos[:, 0]
    _, forces_ref = _both(net, data, pos)[1]
    net32 = net.float()
    data32 = data.clone()
    data32["residue"].backbone = data32["residue"].backbone.float()
    forces32 = net32(data32, pos.float())
    scale = forces_ref.abs().max()
    assert (forces32.double() - forces_ref).abs().max() < 1e-5 * scale


def test_weighted_row_sum_and_its_gradients():
    g = torch.Generator().manual_seed(0)
    table = torch.randn(7, 4, dtype=torch.float64, generator=g, requires_grad=True)
    index = torch.randint(0, 7, (5, 3), generator=g)
    weights = torch.randn(5, 3, dtype=torch.float64, generator=g, requires_grad=True)
    expected = (weights.unsqueeze(-1) * table[index]).sum(1)
    torch.testing.assert_close(weighted_row_sum(table, index, weights), expected)
    assert gradcheck(lambda t, w: weighted_row_sum(t, index, w), (table, weights))
    assert gradgradcheck(lambda t, w: weighted_row_sum(t, index, w), (table, weights))


def test_weighted_row_sum_table_gradient_matches_embedding_bags_own():
    """The table gradient is computed as a transposed row sum (rows hit many times, rows never hit,
    and no edges at all), not by embedding_bag's backward: both must agree."""
    g = torch.Generator().manual_seed(1)
    for num_edges in (0, 1, 300):
        table = torch.randn(40, 16, generator=g, requires_grad=True)
        index = torch.randint(0, 30, (num_edges, 6), generator=g)  # rows 30-39 are never read
        weights = torch.randn(num_edges, 6, generator=g, requires_grad=True)
        upstream = torch.randn(num_edges, 16, generator=g)
        ours = torch.autograd.grad(weighted_row_sum(table, index, weights), (table, weights), upstream)
        native = torch.autograd.grad(F.embedding_bag(index, table, mode="sum", per_sample_weights=weights),
                                     (table, weights), upstream)
        for mine, theirs in zip(ours, native):
            torch.testing.assert_close(mine, theirs)
        assert not ours[0][30:].any()


def test_weighted_row_sum_traces_as_one_graph_with_its_backward():
    """Dynamo traces an autograd.Function's backward with its forward: a data-dependent shape there
    (bincount, say) splits the compiled message passing of every training step into pieces."""
    g = torch.Generator().manual_seed(2)
    table = torch.randn(40, 16, generator=g, requires_grad=True)
    index = torch.randint(0, 30, (50, 6), generator=g)
    weights = torch.randn(50, 6, generator=g, requires_grad=True)
    explained = torch._dynamo.explain(lambda t, i, w: weighted_row_sum(t, i, w).sum())(table, index, weights)
    assert explained.graph_break_count == 0, explained.break_reasons


def test_compile_option_keeps_the_parameters_and_wraps_only_the_message_passing():
    """Construction only: torch.compile is lazy, and compiling takes tens of seconds on one CPU
    thread (benchmarks/compile_check.py measures it), too long for the suite."""
    plain, compiled = BindingNet(hidden=8, num_layers=1), BindingNet(hidden=8, num_layers=1, compile=True)
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in compiled.state_dict().items()}
    assert "message_passing" in vars(compiled.ligand) and "message_passing" in vars(compiled.complex)
    assert "message_passing" not in vars(plain.ligand)


def test_compile_message_passing_wraps_every_bindingnet_module_of_a_model_once(monkeypatch):
    """A Langevin step evaluates a BindingNet-Ligand for its friction besides the force field:
    compile_message_passing(model) wraps the force field's two modules and the dynamics' own
    (friction, velocity map), each once (construction only, as above). Dynamo's graphs of one
    function are shared by all instances of the class, within one recompile limit: it grows with
    the compiled modules (a training run with validation otherwise hit it and fell back to eager),
    and each module holds its options itself (guards tell an instance attribute from a class one)."""
    from neuralmd.dynamics import NeuralMD
    from neuralmd.layers._interaction import GRAPHS_PER_COMPILED_MODULE, STACK_OPTIONS, StackOwner

    monkeypatch.setattr(StackOwner, "_compiled_modules", 0)
    model = NeuralMD(BindingNet(hidden=8, num_layers=1), solver="sde", method="baoab", friction=0.5, noise="fdt",
                     coefficients="ligand", velocity_mapping=True)
    owners = [model.force_field.ligand, model.force_field.complex, model.velocity_mapper, model.langevin.ligand]
    with torch._dynamo.config.patch(recompile_limit=8):  # (monkeypatch's undo deletes config entries)
        assert compile_message_passing(model) == 4
        wrapped = [vars(module)["message_passing"] for module in owners]
        assert compile_message_passing(model) == 4
        assert torch._dynamo.config.recompile_limit == 4 * GRAPHS_PER_COMPILED_MODULE
    assert all(vars(module)["message_passing"] is w for module, w in zip(owners, wrapped))
    assert all(option in vars(module) for module in owners for option in STACK_OPTIONS)


def test_weighted_row_sum_meets_mixed_dtypes_in_the_wider_one():
    """Under bfloat16 autocast the table comes from a matmul (bfloat16) and the weights do not."""
    g = torch.Generator().manual_seed(3)
    table = torch.randn(7, 4, generator=g).to(torch.bfloat16)
    index = torch.randint(0, 7, (5, 3), generator=g)
    weights = torch.randn(5, 3, generator=g)
    out = weighted_row_sum(table, index, weights)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, (weights.unsqueeze(-1) * table.float()[index]).sum(1))


def test_bindingnet_runs_under_bfloat16_autocast_close_to_float32():
    """benchmarks/speed.py's precision table times bf16 matmuls (autocast): the force field must
    run there, its sums staying float32, within bfloat16's ~1e-2 of the float32 forces."""
    data = synthetic_trajectories(1, seed=0, n_snapshots=2)[0]
    torch.manual_seed(0)
    net = BindingNet(hidden=16, num_layers=2).eval()
    x = data["ligand"].pos[:, 0]
    with torch.no_grad():
        exact = net(data, x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = net(data, x)
    assert mixed.dtype == torch.float32 and torch.isfinite(mixed).all()
    assert ((mixed - exact).norm() / exact.norm()).item() < 3e-2


def test_cuda_graph_modes_copy_the_compiled_outputs_out():
    """A replayed CUDA graph overwrites its outputs at its next replay while a solver still holds
    earlier stages' forces: in those modes each call's outputs are fresh copies (construction and
    the wrapper only; compiling is too slow for the suite)."""
    from neuralmd.layers._interaction import _run_compiled

    held = (torch.ones(2), torch.zeros(3))
    copied = _run_compiled(lambda module, *args, **kwargs: held, True, None, 1, key=2)
    assert all(torch.equal(a, b) and a.data_ptr() != b.data_ptr() for a, b in zip(copied, held))
    assert _run_compiled(lambda module, *args, **kwargs: held, False, None) is held
    net = BindingNet(hidden=8, num_layers=1).compile_message_passing(mode="reduce-overhead")
    assert vars(net.ligand)["message_passing"].args[1:] == (True, net.ligand)


def test_a_deep_copy_of_a_compiled_model_runs_with_its_own_weights(monkeypatch):
    """The trainer's EMA and best-model copies are deep copies. A compiled bound method would keep
    the original module inside the copy, so that the copy ran (partly) with the original's weights;
    the compiled function is bound by a partial, which deepcopy rebinds to the copy. Dynamo's
    eager backend (tracing, no inductor) keeps this fast: the binding is what is tested."""
    import copy
    import functools

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    data = synthetic_trajectories(1, seed=0, n_snapshots=2, ligand_atoms=(6, 6), residues=(20, 20))[0]
    pos = data["ligand"].pos[:, 0]
    net = BindingNet(hidden=8, num_layers=1)
    reference = copy.deepcopy(net)  # eager, the same weights
    compile_message_passing(net)
    twin = copy.deepcopy(net)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(1.5)
        reference_twin = BindingNet(hidden=8, num_layers=1)
        reference_twin.load_state_dict(twin.state_dict())
        torch.testing.assert_close(twin(data, pos), reference_twin(data, pos))
        torch.testing.assert_close(net(data, pos), reference(data, pos))
    assert vars(twin.ligand)["message_passing"].args[2] is twin.ligand


def test_edge_products_in_bfloat16_stay_close_equivariant_and_trainable():
    """BindingNet(edge_dtype="bfloat16") runs each layer's edge-feature product in bfloat16 and
    the rest in the model's dtype: forces within bfloat16's error of the plain ones (far inside
    autocast's, which rounds every product and the geometry), still rotation-equivariant and batch
    independent to that error, gradients finite; a value it does not know is refused by name."""
    from neuralmd.testing import assert_batch_independent, assert_equivariant

    data = random_record(4, 12)
    pos = data["ligand"].pos[:, 0]
    torch.manual_seed(0)
    net = BindingNet(hidden=16, num_layers=2).double()
    plain = net(data, pos).detach()
    net.edge_dtype = "bfloat16"
    assert net.edge_dtype is torch.bfloat16 and net.ligand.edge_dtype is net.complex.edge_dtype
    mixed = net(data, pos)
    error = ((mixed - plain).norm() / plain.norm()).item()
    assert 0 < error < 1e-2 and mixed.dtype == torch.float64  # rounded, and by bfloat16's amount only
    assert_equivariant(lambda d: net(d, d["ligand"].pos[:, 0]), data, rtol=3e-2)
    assert_batch_independent(lambda d: net(d, d["ligand"].pos[:, 0]),
                             [data, random_record(5, 9), random_record(6, 7)], atol=1e-2 * plain.abs().max().item())
    mixed.square().sum().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert len(grads) > 20 and all(torch.isfinite(g).all() for g in grads)
    assert BindingNet(hidden=8, num_layers=1, edge_dtype=torch.bfloat16).edge_dtype is torch.bfloat16
    with pytest.raises(ValueError, match="edge_dtype must be None or one of"):
        BindingNet(hidden=8, num_layers=1, edge_dtype="int8")
    net.edge_dtype = None
    torch.testing.assert_close(net(data, pos).detach(), plain, rtol=0, atol=0)
