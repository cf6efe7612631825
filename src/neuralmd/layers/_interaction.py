"""The frame-based interaction layer of BindingNet, and a stack of them run on one edge set.

Equivariance rule kept here: vectors are only multiplied by invariant scalars, summed, or rebuilt
from invariants on an equivariant frame; the MLP only ever sees invariants.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._weight_cache import WeightCache, module_parameters


#: The basis row that passes the gate coefficient a through, and the node-table row offsets of the
#: two ends of an edge (module constants: building a tensor from a list costs ~5 us per call).
_GATE_ROW = torch.tensor([1.0, 0.0, 0.0, 0.0])
_SIDES = torch.tensor([0, 1])


class EdgeGeometry(NamedTuple):
    """The geometry of one edge set ``j -> i``, computed once per force evaluation and shared by every
    layer that runs on those edges (a tuple, so it passes through ``torch.compile`` unchanged).

    Attributes:
        rel: (E, 3) Å, ``x_i - x_j`` (equivariant).
        frames: (E, 3, 3) one frame per edge, rows ``e1, e2, e3`` (equivariant rows).
        envelope: (E,) smooth cutoff weight in [0, 1], zero at the cutoff (invariant).
    """

    rel: Tensor
    frames: Tensor
    envelope: Tensor


class FrameInteraction(nn.Module):
    """One equivariant message-passing layer on edges that carry a vector frame (Eqs. 6, 8, 32, 33).

    For edges ``j -> i`` with invariant edge features ``e_ij``, frame ``F_ij``, relative position
    ``r_ij = x_i - x_j`` and cutoff envelope ``w_ij``::

        m_ij   = MLP(e_ij, h_i, g_j, scalarize(vec_i, F_ij), extra_ij)        (invariant)
        h_i   += Linear(sum_j w_ij m_ij / norm)
        vec_i += sum_j w_ij (a_ij vec_i + b_ij r_ij + vectorize(c_ij, F_ij)) / norm

    with ``(a, b, c) = Linear(m_ij)``: vectors are only scaled by invariants, summed, or rebuilt from
    invariants on an equivariant frame, so ``vec`` stays equivariant. ``a_ij vec_i`` is the gate of a
    gated equivariant output; ``c_ij`` lets the layer output directions other than ``vec_i`` and
    ``r_ij``, including the pseudo-vector axis (chirality-aware). The parameters are those of the
    plain formula; the computation (:func:`interaction_stack`) splits the MLP's first linear map by
    column blocks and folds its last one into the update and the coefficients (docs/design.md).

    Args:
        hidden: width d of ``h``, ``e`` and ``g``.
        num_extra: width of the extra invariant edge input (e.g. scalarized neighbour vectors).
        norm: the fixed divisor of the sums (a typical neighbour count).

    Example (three atoms, the edges 0 -> 1 and 2 -> 1):
        >>> from neuralmd.frames import gram_schmidt
        >>> pos, edge_index = torch.randn(3, 3), torch.tensor([[0, 2], [1, 1]])
        >>> rel = pos[edge_index[1]] - pos[edge_index[0]]
        >>> geometry = EdgeGeometry(rel, gram_schmidt(rel, pos[edge_index[1]]), torch.ones(2))
        >>> layer = FrameInteraction(hidden=8)
        >>> h, vec = layer(torch.randn(3, 8), torch.zeros(3, 3), edge_index, torch.randn(2, 8), geometry)
        >>> h.shape, vec.shape
        (torch.Size([3, 8]), torch.Size([3, 3]))
    """

    def __init__(self, hidden: int, num_extra: int = 0, norm: float = 10.0) -> None:
        super().__init__()
        self.edge_in = nn.Linear(hidden + 3 + num_extra, hidden)
        self.dst_in = nn.Linear(hidden, hidden, bias=False)
        self.src_in = nn.Linear(hidden, hidden, bias=False)
        self.message = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden))
        self.update = nn.Linear(hidden, hidden)
        self.vector = nn.Linear(hidden, 5)
        self.norm = float(norm)

    def forward(
        self,
        h: Tensor,  # (N, d) invariant features of the receiving nodes i
        vec: Tensor,  # (N, 3) equivariant vector of each receiving node
        edge_index: Tensor,  # (2, E) long: row 0 the sending node j (a row of ``source``), row 1 i
        edge_attr: Tensor,  # (E, d) invariant edge features
        geometry: EdgeGeometry,  # rel (E, 3), frames (E, 3, 3), envelope (E,) of the same edges
        *,
        source: Optional[Tensor] = None,  # (M, d) sending-node features of another node set; default h
        extra: Optional[Tensor] = None,  # (E, num_extra) further invariant edge inputs
    ) -> tuple[Tensor, Tensor]:
        """One message-passing step over ``edge_index``; returns the new ``h`` (N, d) and ``vec`` (N, 3).

        ``source`` makes the layer bipartite (ligand atoms receiving from residues); without it the
        sending nodes are the receiving ones (``h`` indexed by ``edge_index[0]``).
        """
        return interaction_stack([self], h, vec, edge_index, edge_attr, geometry, source=source, extra=extra)


class _LayerWeights(NamedTuple):
    """What L layers' parameters give before any edge is seen: concatenated once per call (so that
    the per-layer work is a few large operations rather than a few dozen small ones per layer), or
    once for many no-grad calls (:class:`~neuralmd.layers._weight_cache.WeightCache`)."""

    edge_block: list[Tensor]  # per layer (d_in, d): the edge-feature block, transposed; the edge map
    # folded in when given
    input_bias: list[Tensor]  # per layer (2 d,) or (d,) (bipartite): the first map's bias, added with the
    # node table's dst_in half, so that it is added to N rows instead of broadcast onto E
    extra_block: Optional[Tensor]  # (L d, k) the extra inputs' block, or None
    source_block: Optional[Tensor]  # (d, L d) src_in of every layer (bipartite), or None
    vector_w: list[Tensor]  # per layer (q, d): the block acting on the scalarized vectors
    node_w: list[Tensor]  # per layer (d, 2 d) dst_in and src_in, or (d, d) dst_in only (bipartite)
    coeff_w: list[Tensor]  # per layer (d, 5): (W_vector W_message)^T
    coeff_b: Tensor  # (L, 5): W_vector b_message + b_vector
    message_w: Optional[list[Tensor]]  # per layer (d, d): W_message^T, or None when folded into update_w
    message_b: Tensor  # (L, 1, d): b_message, or W_update b_message when folded (times each node's weight sum)
    update_w: list[Tensor]  # per layer (d, d): W_update^T, or (W_update W_message)^T when folded
    update_bias: Tensor  # (L, 1, d): b_update
    folded: bool  # the edge map is folded into edge_block and bias


def layer_weights(layers: Sequence[FrameInteraction], hidden: int, *, edge_map: Optional[nn.Linear],
                  fold_edge_map: bool, fold_update: bool, bipartite: bool, vector_inputs: int) -> _LayerWeights:
    """The edge-independent part of :func:`interaction_stack` (parameters only). ``fold_edge_map``:
    the edge map joins the first blocks; ``fold_update``: the update joins the message map."""
    num = len(layers)
    edge_w = torch.cat([layer.edge_in.weight for layer in layers])  # (L d, d + q + num_extra)
    edge_block, bias = edge_w[:, :hidden], torch.cat([layer.edge_in.bias for layer in layers])
    folded = edge_map is not None and fold_edge_map
    if folded:  # one (L d, d) x (d, d_in) product instead of an (E, d) x (d, d) one
        bias = torch.addmv(bias, edge_block, edge_map.bias)
        edge_block = edge_block @ edge_map.weight
    extra_block = edge_w[:, hidden + vector_inputs :] if edge_w.shape[1] > hidden + vector_inputs else None
    if bipartite:  # the source nodes do not change: their block is fixed for all layers at once
        source_block = torch.cat([layer.src_in.weight for layer in layers]).t()
        node_w = torch.cat([layer.dst_in.weight for layer in layers]).t().split(hidden, dim=1)
    else:  # rows (layer, dst_in / src_in), applied to the changing h in the layer
        source_block = None
        node_w = torch.cat([weight for layer in layers for weight in (layer.dst_in.weight, layer.src_in.weight)])
        node_w = node_w.t().split(2 * hidden, dim=1)
    vector = torch.stack([layer.vector.weight for layer in layers])  # (L, 5, d)
    message = torch.stack([layer.message[1].weight for layer in layers])  # (L, d, d)
    message_bias = torch.stack([layer.message[1].bias for layer in layers])  # (L, d)
    update = torch.stack([layer.update.weight for layer in layers])  # (L, d, d)
    coeff_b = torch.baddbmm(torch.stack([layer.vector.bias for layer in layers]).unsqueeze(-1), vector,
                            message_bias.unsqueeze(-1))
    input_bias = bias.view(num, hidden)
    if not bipartite:  # the node table's rows are (dst_in, src_in): the bias joins the dst_in half
        input_bias = F.pad(input_bias, (0, hidden))
    return _LayerWeights(
        edge_block=list(edge_block.unflatten(0, (num, hidden)).transpose(1, 2).unbind(0)),
        input_bias=list(input_bias.unbind(0)), extra_block=extra_block,
        source_block=source_block,
        # (q, d) blocks, each contiguous: the backward's (E, d) x (d, q) product is ~2.5x slower on
        # the strided slices of the concatenated weight
        vector_w=list(edge_w[:, hidden : hidden + vector_inputs].view(num, hidden, vector_inputs).transpose(1, 2)
                      .contiguous().unbind(0)),
        node_w=list(node_w),
        coeff_w=list(torch.bmm(vector, message).transpose(1, 2).unbind(0)),
        coeff_b=coeff_b.view(num, 5),
        message_w=None if fold_update else list(message.transpose(1, 2).unbind(0)),
        message_b=(torch.bmm(update, message_bias.unsqueeze(-1)).transpose(1, 2) if fold_update
                   else message_bias.unsqueeze(1)),
        update_w=list((torch.bmm(update, message) if fold_update else update).transpose(1, 2).unbind(0)),
        update_bias=torch.stack([layer.update.bias for layer in layers]).unsqueeze(1),
        folded=folded,
    )


def stack_weights(layers: Sequence[FrameInteraction], *, edge_map: Optional[nn.Linear], bipartite: bool,
                  source_vectors: bool, num_edges: int, num_nodes: int,
                  cache: Optional[WeightCache] = None) -> _LayerWeights:
    """The parameter-only part of :func:`interaction_stack` for ``num_edges`` edges into ``num_nodes``
    nodes (``bipartite``: the sources are another node set; ``source_vectors`` as there), to pass as
    its ``weights``: computed outside a compiled ``message_passing``, so that ``cache`` (a
    :class:`~neuralmd.layers._weight_cache.WeightCache`, one per stack) serves eager and compiled
    no-grad calls alike. Each fold is made where it saves work: per call, the edge map joins the
    first blocks with more edges than the layers' total width (E > L d) and the update joins the
    message map with more nodes than the width (N > d); from the cache, always (a cached product
    costs nothing per call)."""
    hidden = layers[0].dst_in.weight.shape[1]
    options = dict(edge_map=edge_map, bipartite=bipartite, vector_inputs=6 if source_vectors else 3)
    per_call = dict(fold_edge_map=num_edges > len(layers) * hidden, fold_update=num_nodes > hidden, **options)
    if cache is None:
        return layer_weights(layers, hidden, **per_call)
    modules = [*layers, *([] if edge_map is None else [edge_map])]
    return cache.get(lambda: module_parameters(modules),
                     lambda: layer_weights(layers, hidden, fold_edge_map=True, fold_update=True, **options),
                     fallback=lambda: layer_weights(layers, hidden, **per_call))


#: ``torch.compile`` modes that replay CUDA graphs.
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def _run_compiled(compiled: Callable[..., tuple[Tensor, ...]], copy_outputs: bool, module: nn.Module,
                  *args: Any, **kwargs: Any) -> tuple[Tensor, ...]:
    """``compiled(module, *args, **kwargs)``, the compiled ``message_passing`` of ``module``; with
    ``copy_outputs`` its outputs are fresh copies (a replayed CUDA graph overwrites its outputs at
    its next replay, while a solver may still hold earlier stages' forces). Bound to its module as
    ``functools.partial(_run_compiled, compiled, copy_outputs, module)``: a deep copy of the module
    (an EMA or best-model copy) then holds a partial bound to the copy, which runs with the copy's
    own weights, where a compiled bound method would still run the original's."""
    outputs = compiled(module, *args, **kwargs)
    return tuple(out.clone() for out in outputs) if copy_outputs else outputs


#: The options a :class:`StackOwner` reads in its message passing.
STACK_OPTIONS = ("pad_edges", "cache_weights", "cuda_graphs", "edge_dtype")
#: Graphs dynamo may keep per compiled module: grad mode on and off, times positions that do and do
#: not require grad, with room for a few edge-count specialisations.
GRAPHS_PER_COMPILED_MODULE = 8


class StackOwner:
    """Mixin of the modules that run an interaction stack (``self.layers``, ending an edge MLP
    ``self.edge_mlp``) on one edge set per call: the ligand's and the complex's. Its options are
    set by :class:`~neuralmd.layers.BindingNet` for its own two, and by
    :func:`compile_message_passing` for every such module of a model."""

    #: Pad the edge set to :func:`~neuralmd.layers._padding.padded_size` rows (zero-weight repeats of
    #: an edge; the same function on a few shapes, for CUDA graphs): ``BindingNet(pad_edges=...)``.
    pad_edges = False
    #: Keep the layers' parameter products between no-grad calls and pass them to
    #: ``message_passing``; off under CUDA graphs (:meth:`compile_message_passing`), whose
    #: replays read parameters in place but copy every passed-in tensor at each replay.
    cache_weights = True
    #: ``message_passing`` replays CUDA graphs (compiled in one of :data:`CUDA_GRAPH_MODES`).
    cuda_graphs = False
    #: The dtype of each layer's (E, d) x (d, d) edge product, or None for the features' own:
    #: ``BindingNet(edge_dtype=...)`` (:func:`interaction_stack`).
    edge_dtype: Optional[torch.dtype] = None
    #: Modules compiled in this process (:meth:`compile_message_passing` raises dynamo's recompile
    #: limit with it).
    _compiled_modules = 0

    def compile_message_passing(self, *, mode: Optional[str] = None) -> "StackOwner":
        """Run ``message_passing`` (everything after the neighbour search) through
        ``torch.compile(dynamic=True, mode=mode)`` from now on, once (a second call changes
        nothing); returns ``self``. An instance attribute: the parameters and the state dict stay
        the module's, and a deep copy of the module runs compiled with its own weights (the same
        compiled code: parameters are inputs of dynamo's graph, not constants). The CUDA-graph
        modes pad the edges (a rollout then meets a few shapes instead of a new edge count at almost
        every step), copy the outputs out, and compute the parameter products inside the graph (a
        replay copies every input that is not a parameter)."""
        if "message_passing" in vars(self):
            return self
        if mode in CUDA_GRAPH_MODES:
            self.pad_edges, self.cache_weights, self.cuda_graphs = True, False, True
        # Dynamo keeps the graphs of one function, shared by every instance of the class, and
        # guards on where an option lives: the options go into each instance's own __dict__ (so
        # that instances differ in values only), and the recompile limit grows with the compiled
        # modules (a Langevin model in training compiles three BindingNet-Ligand modules, each
        # needing graphs with and without grad mode and with positions that do or do not require grad).
        for option in STACK_OPTIONS:
            setattr(self, option, getattr(self, option))
        StackOwner._compiled_modules += 1
        limit = GRAPHS_PER_COMPILED_MODULE * StackOwner._compiled_modules
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, limit)
        compiled = torch.compile(type(self).message_passing, dynamic=True, mode=mode)
        self.message_passing = functools.partial(_run_compiled, compiled, mode in CUDA_GRAPH_MODES, self)
        return self

    def _stack_weights(self, *, bipartite: bool, source_vectors: bool, num_edges: int,
                       num_nodes: int) -> Optional[_LayerWeights]:
        """:func:`stack_weights` of this module's layers from its cache, or None (computed inside
        ``message_passing``) without ``cache_weights``."""
        if not self.cache_weights:
            return None
        return stack_weights(self.layers, edge_map=self.edge_mlp[2], bipartite=bipartite,
                             source_vectors=source_vectors, num_edges=num_edges, num_nodes=num_nodes,
                             cache=self._stack_cache)


def compile_message_passing(model: nn.Module, *, mode: Optional[str] = None) -> int:
    """:meth:`StackOwner.compile_message_passing` on every such module inside ``model`` (a force
    field's ligand and complex modules, and a dynamics model's own BindingNet-Ligand modules:
    Langevin coefficients, velocity map); returns how many modules it found.

    Example:
        >>> from neuralmd.layers import BindingNet
        >>> compile_message_passing(BindingNet(hidden=8, num_layers=1))  # lazy: compiles at the first call
        2
    """
    owners = [module for module in model.modules() if isinstance(module, StackOwner)]
    for module in owners:
        module.compile_message_passing(mode=mode)
    return len(owners)


def interaction_stack(
    layers: Sequence[FrameInteraction],
    h: Tensor,
    vec: Tensor,
    edge_index: Tensor,
    edge_attr: Tensor,
    geometry: EdgeGeometry,
    *,
    source: Optional[Tensor] = None,
    extra: Optional[Tensor] = None,
    source_vectors: bool = False,
    edge_map: Optional[nn.Linear] = None,
    weights: Optional[_LayerWeights] = None,
    edge_dtype: Optional[torch.dtype] = None,
) -> tuple[Tensor, Tensor]:
    """``layers`` (:class:`FrameInteraction`, one norm) applied in turn on one edge set -> (h, vec).

    Inputs as :meth:`FrameInteraction.forward`; ``extra`` (E, k) is the same for every layer. With
    ``source_vectors`` the first 3 extra inputs of every layer are ``scalarize(vec_j, F_ij)`` of the
    current ``vec`` (the ligand's layers), and ``extra`` holds only the rest. With ``edge_map`` the
    edge features are ``edge_map(edge_attr)`` (the last linear map of an edge MLP); with more edges
    than the layers' total width it is folded into their first linear maps, which saves the
    (E, d) x (d, d) product. ``weights``: the parameter-only part from :func:`stack_weights` (for
    these layers, edge map and edge set), e.g. from a cache; computed here when not given.
    ``edge_dtype`` (e.g. ``torch.bfloat16``): each layer's edge-feature product, the stack's largest
    (E, d) x (d, d) one, runs in that dtype (the edge features cast once, the product cast back);
    everything else, the geometry included, keeps the features' dtype. That product is rounded to
    the dtype's precision (~4e-3 relative for bfloat16; the outputs move far less, as it is one term
    of each layer's input); invariants stay invariants, so symmetry holds to that error.

    Same function as the layers' plain formula, computed with fewer operations: what does not
    change between layers (the extra inputs' and the source nodes' blocks of the first linear map,
    for all layers in one product; the product of the vector head with the message map, and of the
    update with it; the frames as a (5, 4) basis) is computed once, the node blocks and the first
    map's bias run per node and are gathered onto edges, and the message map acts after the sum
    over edges, as one product with the update. The fixed divisor is folded into the envelope.
    """
    norm = layers[0].norm
    if any(layer.norm != norm for layer in layers):
        raise ValueError("interaction_stack needs layers with one norm")
    src, dst = edge_index
    rel, frames, envelope = geometry
    num, hidden = h.shape
    num_edges = dst.shape[0]
    w = (envelope / norm).unsqueeze(-1)  # (E, 1): envelope and divisor of every sum over edges
    weight_sum = h.new_zeros(num, 1).index_add_(0, dst, w)
    # Per edge, [a, b r + F^T c] = (a, b, c) @ basis with basis rows (1, 0), (0, r), (0, e1..e3).
    basis = torch.cat((rel.unsqueeze(1), frames), dim=1)  # (E, 4, 3)
    head = _GATE_ROW.to(basis).expand(num_edges, 1, 4)
    basis = torch.cat((head, F.pad(basis, (1, 0))), dim=1)  # (E, 5, 4)
    frames_t = frames.transpose(1, 2)
    ends = torch.stack((dst, src), dim=1)  # (E, 2)
    vector_index = ends if source_vectors else dst.unsqueeze(1)
    sides = vector_index.shape[1]
    vector_inputs, vector_rows = 3 * sides, vector_index.reshape(-1)
    if weights is None:
        weights = stack_weights(layers, edge_map=edge_map, bipartite=source is not None,
                                source_vectors=source_vectors, num_edges=num_edges, num_nodes=num)
    extra_width = 0 if weights.extra_block is None else weights.extra_block.shape[1]
    if (0 if extra is None else extra.shape[-1]) != extra_width:
        raise ValueError(f"the layers take {extra_width} extra edge inputs, got "
                         f"{'none' if extra is None else tuple(extra.shape)}")
    if edge_map is not None and not weights.folded:
        edge_attr = F.linear(edge_attr, edge_map.weight, edge_map.bias)
    low = edge_dtype is not None and edge_dtype != edge_attr.dtype and not torch.is_autocast_enabled(h.device.type)
    if low:
        edge_attr = edge_attr.to(edge_dtype)  # once for every layer
    # Terms of the first linear map that every layer has, for all layers at once (E, L d); the
    # edge features' own block runs per layer instead, into a fresh (E, d) (one (E, L d) product
    # and a copy of each layer's slice: as fast at one ligand, ~6 % slower at 32 with glibc's
    # default allocator, whose large fresh buffers fault in page by page).
    shared = None
    if extra is not None:
        shared = extra @ weights.extra_block.t()
    if source is not None:
        gathered_source = (source @ weights.source_block).index_select(0, src)
        shared = gathered_source if shared is None else shared + gathered_source
    shared = None if shared is None else shared.split(hidden, dim=1)
    # under autocast the products are bfloat16 and h float32: the vectors' block adds out of place
    # and the sums convert (elsewhere the dtypes agree and nothing is converted)
    autocast = torch.is_autocast_enabled(h.device.type)
    coeff_b = (w.unsqueeze(1) * weights.coeff_b).unbind(1)  # per layer (E, 5): w_ij (W_v b_m + b_v)
    folded_update = weights.message_w is None
    if folded_update:  # per layer (N, d): b_u + (sum_j w_ij / norm) W_u b_m
        node_bias = torch.addcmul(weights.update_bias, weight_sum, weights.message_b).unbind(0)
    else:  # per layer (N, d): (sum_j w_ij / norm) b_m
        node_bias = (weight_sum * weights.message_b).unbind(0)
    grad = torch.is_grad_enabled()
    in_place = not (grad or autocast)
    if source is None:  # rows 2 n + side of the per-layer node table (side 0: dst_in, 1: src_in)
        if grad:  # index_select's backward is ~2.5x faster than embedding_bag's
            dst_rows, src_rows = 2 * dst, 2 * src + 1
        else:  # one embedding_bag of the two rows (a bag per edge)
            node_rows = (ends * 2 + _SIDES.to(ends.device)).view(-1)
            bag_offsets = torch.arange(0, 2 * num_edges, 2, device=ends.device)
    for k in range(len(layers)):
        # e_i . vec_i (and e_i . vec_j) for every edge, in one batched product
        gathered = vec.index_select(0, vector_rows).view(num_edges, sides, 3)  # a cheaper backward than vec[index]
        scalars = torch.bmm(gathered, frames_t).view(num_edges, vector_inputs)
        if low:  # a fresh tensor of h's dtype, as the products below give
            pre = (edge_attr @ weights.edge_block[k].to(edge_dtype)).to(h.dtype)
            if shared is not None:
                pre.add_(shared[k])
        elif shared is None:
            pre = edge_attr @ weights.edge_block[k]
        else:
            pre = torch.addmm(shared[k], edge_attr, weights.edge_block[k])
        if autocast:
            pre = torch.addmm(pre, scalars, weights.vector_w[k])
        else:  # pre is fresh: this and the node terms add in place
            pre.addmm_(scalars, weights.vector_w[k])
        if source is None:
            table = torch.addmm(weights.input_bias[k], h, weights.node_w[k]).view(2 * num, hidden)
            if autocast:
                table = table.to(pre.dtype)  # (float32)
            if grad:
                pre.add_(table.index_select(0, dst_rows)).add_(table.index_select(0, src_rows))
            else:
                pre.add_(torch.embedding_bag(table, node_rows, bag_offsets)[0])
        else:
            pre.add_(torch.addmm(weights.input_bias[k], h, weights.node_w[k]).index_select(0, dst))
        # (E, d); layer.message is SiLU -> Linear. Without autograd or autocast (whose act is bfloat16
        # and w float32), in place: pre and act are fresh (E, d) tensors, each used once
        act = F.silu(pre, inplace=in_place)
        # m = W_m act + b_m enters only linear maps (the h update after a sum, and the vector
        # coefficients), so they take act: sum_j w m = W_m sum_j w act + b_m sum_j w, and
        # (a, b, c) = (W_v W_m) act + W_v b_m + b_v. No (E, d) x (d, d) product for m.
        weighted = act.mul_(w) if in_place else w * act
        coeff = torch.addmm(coeff_b[k], weighted, weights.coeff_w[k])  # w (a, b, c) / norm
        small = torch.bmm(coeff.unsqueeze(1), basis).view(num_edges, 4)  # w (a, b r + F^T c) / norm
        if autocast:  # (bfloat16 products)
            weighted, small = weighted.to(h.dtype), small.to(h.dtype)
        summed = h.new_zeros(num, hidden).index_add_(0, dst, weighted)
        summed_small = h.new_zeros(num, 4).index_add_(0, dst, small)
        # h += W_u (sum_j w m_ij / norm) + b_u, with m = W_m act + b_m (folded: one product by W_u W_m)
        if folded_update:
            h = h + torch.addmm(node_bias[k], summed, weights.update_w[k])
        else:
            m_sum = torch.addmm(node_bias[k], summed, weights.message_w[k])
            h = h + torch.addmm(weights.update_bias[k], m_sum, weights.update_w[k])
        # sum_j w a_ij vec_i = vec_i sum_j w a_ij: the gate needs no gathered vec
        vec = torch.addcmul(vec + summed_small[:, 1:], summed_small[:, :1], vec)
    return h, vec
