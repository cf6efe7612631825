"""Building blocks shared by the BindingNet modules: invariant MLPs, a continuous-filter neighbour
embedding that also builds equivariant vector features, and the gathered weighted sums the
factored layers use (the frame-based interaction layer is in ``_interaction``).

Equivariance rule kept by every block here: vectors are only multiplied by invariant scalars or
summed; MLPs only ever see invariants.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from ._radial import BandedBasis, RadialBasis, safe_norm
from ._weight_cache import WeightCache

#: Edges processed at once in :class:`NeighborEmbedding` (bounds memory on large proteins).
EDGE_CHUNK = 1 << 15


class MLP(nn.Sequential):
    """``Linear -> SiLU -> Linear``; for invariant features only. ``(..., d_in) -> (..., d_out)``."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int) -> None:
        super().__init__(nn.Linear(d_in, d_hidden), nn.SiLU(), nn.Linear(d_hidden, d_out))


def aggregate(values: Tensor, index: Tensor, num: int, norm: float) -> Tensor:
    """Sum ``values`` (E, ...) into ``num`` nodes by ``index`` and divide by a fixed ``norm``.

    The paper's ``Agg`` is a mean; a mean over a hard cutoff jumps whenever an atom crosses it. A
    sum of envelope-weighted messages divided by a typical neighbour count is continuous, and for a
    node with no neighbours it is exactly zero (never a division by zero).
    """
    return scatter(values, index, dim=0, dim_size=num, reduce="sum") / norm


def _transposed_row_sum(grad: Tensor, index: Tensor, weights: Tensor, num_rows: int) -> Tensor:
    """The table gradient of :func:`weighted_row_sum`, ``g[r] = sum_{(e, q): index[e, q] = r}
    weights[e, q] grad[e]`` (num_rows, d), as a weighted row sum itself: the (e, q) pairs sorted by
    row make one bag per table row over the rows of ``grad``. About 3x faster than embedding_bag's
    own dense backward (which also sorts, then accumulates row by row) on a training batch's edge
    MLP input, and no (E, Q, d) tensor either."""
    flat = index.reshape(-1)
    rows, order = torch.sort(flat, stable=True)  # stable: the same summation order on every call
    # each row's first pair; not bincount, whose data-dependent shape breaks torch.compile's graph
    offsets = torch.searchsorted(rows, torch.arange(num_rows, device=flat.device))
    edges = torch.div(order, index.shape[1], rounding_mode="floor")
    return torch.embedding_bag(grad, edges, offsets, False, 0, False, weights.reshape(-1).index_select(0, order))[0]


class _WeightedRowSum(torch.autograd.Function):
    """``out[e] = sum_q weights[e, q] table[index[e, q]]`` by ``F.embedding_bag``, which never builds
    the (E, Q, d) gathered rows: on a batch of 32 ligands that tensor is ~60 MB, and allocating and
    filling it cost 20 times more than the weighted sum. First-order gradients: the weights' by
    embedding_bag's own kernel, the table's by :func:`_transposed_row_sum`; under ``create_graph``
    (forces of an energy model that are trained, VerletMD) the backward uses plain differentiable
    tensor ops, because embedding_bag has no second derivative."""

    @staticmethod
    def forward(ctx, table: Tensor, index: Tensor, weights: Tensor) -> Tensor:
        flat = index.reshape(-1)
        offsets = torch.arange(0, flat.shape[0], index.shape[1], device=index.device)
        # the aten op, for the bag bookkeeping that the weights' gradient kernel takes
        out, offset2bag, _, _ = torch.ops.aten._embedding_bag(table, flat, offsets, False, 0, False,
                                                              weights.reshape(-1), False, -1)
        ctx.save_for_backward(table, index, weights, offsets, offset2bag)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Optional[Tensor], None, Optional[Tensor]]:
        table, index, weights, offsets, offset2bag = ctx.saved_tensors
        needs_table, _, needs_weights = ctx.needs_input_grad
        grad_table = grad_weights = None
        if torch.is_grad_enabled():  # create_graph: every op below is differentiable again
            if needs_table:
                grad_table = table.new_zeros(table.shape).index_add(
                    0, index.flatten(), (weights.unsqueeze(-1) * grad.unsqueeze(1)).flatten(0, 1))
            if needs_weights:
                grad_weights = (table[index] * grad.unsqueeze(1)).sum(-1)
            return grad_table, None, grad_weights
        # only the gradients autograd asks for (unit weights, say, need none); not embedding_bag's
        # own backward, which computes the table's gradient even when only the weights' is wanted
        if needs_table:
            grad_table = _transposed_row_sum(grad, index, weights, table.shape[0])
        if needs_weights:  # the kernel embedding_bag's backward runs for them
            grad_weights = torch.ops.aten._embedding_bag_per_sample_weights_backward(
                grad.contiguous(), table, index.reshape(-1), offsets, offset2bag, 0, -1).view(weights.shape)
        return grad_table, None, grad_weights


def weighted_row_sum(table: Tensor, index: Tensor, weights: Tensor) -> Tensor:
    """``(weights.unsqueeze(-1) * table[index]).sum(1)`` without the gathered rows.

    Shapes: ``table`` (R, d), ``index`` (E, Q) long rows of ``table``, ``weights`` (E, Q) -> (E, d).
    Mixed dtypes (a bfloat16 table from an autocast matmul, float32 weights) meet in the wider one.
    """
    if table.dtype != weights.dtype:  # embedding_bag wants one dtype
        wide = torch.promote_types(table.dtype, weights.dtype)
        table, weights = table.to(wide), weights.to(wide)
    if torch.is_grad_enabled() and (table.requires_grad or weights.requires_grad):
        return _WeightedRowSum.apply(table, index, weights)
    # No autograd.Function, and the aten op without F.embedding_bag's Python checks: bags of Q rows.
    offsets = torch.arange(0, index.numel(), index.shape[1], device=index.device)
    return torch.embedding_bag(table, index.reshape(-1), offsets, False, 0, False, weights.reshape(-1))[0]


def radial_linear(rbf: Union[Tensor, BandedBasis], block: Tensor, cache: WeightCache) -> Tensor:
    """``rbf @ block`` (E, out) for a radial basis, dense (E, K) or banded
    (:meth:`RadialBasis.for_linear`), and a (K, out) block of a weight matrix. A banded basis is a
    weighted sum of the block's rows, taken from a contiguous copy kept in ``cache`` (embedding_bag
    runs ~16x slower on a transposed view)."""
    if isinstance(rbf, BandedBasis):
        table = cache.get(lambda: [block], block.contiguous)
        return weighted_row_sum(table, rbf.index, rbf.values)
    return rbf @ block


def add_radial_block(pair: Tensor, rbf: Union[Tensor, BandedBasis], block: Tensor, bias: Tensor, *,
                     cache: WeightCache) -> Tensor:
    """``pair + rbf @ block + bias``, the rest of an edge MLP's first map after its gathered node
    terms ``pair`` (E, d), which must be a fresh tensor: added into it in place (no further (E, d)
    tensors), except where the dtypes differ (bfloat16 under autocast), out of place. ``cache``
    keeps the block's table for a banded basis (:func:`radial_linear`)."""
    if isinstance(rbf, BandedBasis):
        radial = radial_linear(rbf, block, cache)
        return pair.add_(radial).add_(bias) if pair.dtype == radial.dtype else pair + (radial + bias)
    if pair.dtype == rbf.dtype == block.dtype:
        return pair.addmm_(rbf, block).add_(bias)
    return torch.addmm(bias, rbf, block) + pair


class _OuterScatter(torch.autograd.Function):
    """``out[i] = sum_{e: index[e] = i} rel[e] (x) message[e]`` (N, 3, C), the equivariant vector
    features. Autograd's backward of the plain formula gathers and multiplies an (E, 3, C) tensor
    twice (on a protein's 194,000 edges, 75 MB each); here the message gradient is a weighted row
    sum of the output gradient (no (E, 3, C) tensor) and the ``rel`` gradient, needed only when the
    positions are differentiated, one gather and a batched product. Under ``create_graph`` the
    backward uses plain differentiable tensor ops, as :class:`_WeightedRowSum`'s does."""

    @staticmethod
    def forward(ctx, rel: Tensor, message: Tensor, index: Tensor, num: int) -> Tensor:
        ctx.save_for_backward(rel, message, index)
        product = rel.unsqueeze(-1) * message.unsqueeze(-2)
        return product.new_zeros(num, 3, message.shape[-1]).index_add_(0, index, product)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Optional[Tensor], Optional[Tensor], None, None]:
        rel, message, index = ctx.saved_tensors
        needs_rel, needs_message, _, _ = ctx.needs_input_grad
        gathered = grad.index_select(0, index) if needs_rel or torch.is_grad_enabled() else None
        grad_rel = grad_message = None
        if torch.is_grad_enabled():  # create_graph: every op below is differentiable again
            if needs_rel:
                grad_rel = (gathered * message.unsqueeze(-2)).sum(-1)
            if needs_message:
                grad_message = (gathered * rel.unsqueeze(-1)).sum(-2)
            return grad_rel, grad_message, None, None
        if needs_rel:
            grad_rel = torch.bmm(gathered, message.unsqueeze(-1)).squeeze(-1)
        if needs_message:  # row 3 i + x of grad, weighted by rel[e, x]
            rows = 3 * index.unsqueeze(-1) + torch.arange(3, device=index.device)
            grad_message = weighted_row_sum(grad.reshape(-1, grad.shape[-1]), rows, rel.to(grad.dtype))
        return grad_rel, grad_message, None, None


def outer_scatter(rel: Tensor, message: Tensor, index: Tensor, num: int) -> Tensor:
    """``zeros(num, 3, C).index_add(0, index, rel.unsqueeze(-1) * message.unsqueeze(-2))`` with a
    cheaper backward. Shapes: ``rel`` (E, 3), ``message`` (E, C), ``index`` (E,) long -> (num, 3, C)."""
    if torch.is_grad_enabled() and (rel.requires_grad or message.requires_grad):
        return _OuterScatter.apply(rel, message, index, num)
    product = rel.unsqueeze(-1) * message.unsqueeze(-2)
    return product.new_zeros(num, 3, message.shape[-1]).index_add_(0, index, product)


class NeighborEmbedding(nn.Module):
    """Atom embeddings refined by their neighbours, plus equivariant vector features (Eq. 32).

    With ``w_ij = W rbf(|x_i - x_j|)`` (no bias, so zero at the cutoff) this returns
    ``h_i = z_i + sum_j w1_ij * z_j / norm`` (invariant) and
    ``V_i = sum_j (x_i - x_j) (w2_ij * P z_j) / norm`` (equivariant, channels last): the paper's
    "(x_i - x_j) . z" vector representation. ``P`` projects to ``vector_channels`` channels (fewer
    than ``hidden`` keeps a large protein cheap: V costs E x 3 x channels); edges are processed in
    chunks so no (E, 3, channels) tensor is ever whole.

    Args:
        hidden: width d of ``z``. num_rbf, cutoff: radial basis. norm: fixed divisor of the sums.
        vector_channels: channels of ``V`` (default ``hidden``, no projection).
        smooth: compute ``h`` (when ``False`` the returned ``h`` is ``z`` unchanged).

    Shapes: ``z`` (N, d), ``pos`` (N, 3) Å, ``edge_index`` (2, E) -> ``(N, d)``, ``(N, 3, C)``.
    """

    def __init__(
        self,
        hidden: int,
        num_rbf: int,
        cutoff: float,
        norm: float,
        vector_channels: Optional[int] = None,
        smooth: bool = True,
    ) -> None:
        super().__init__()
        self.channels = hidden if vector_channels is None else int(vector_channels)
        self.smooth = smooth
        self.rbf = RadialBasis(num_rbf, cutoff)
        self.filter = nn.Linear(num_rbf, hidden * smooth + self.channels, bias=False)
        self.project = None if self.channels == hidden else nn.Linear(hidden, self.channels, bias=False)
        self.norm = float(norm)
        self._filter_table = WeightCache()  # the filter's weight as rows, for a banded basis

    def forward(
        self,
        z: Tensor,  # (N, d) invariant node features
        pos: Tensor,  # (N, 3) Å
        edge_index: Tensor,  # (2, E) long, rows j (neighbour), i (centre)
        *,
        rel: Optional[Tensor] = None,  # (E, 3) Å, x_i - x_j, when the caller already has it
        rbf: Union[Tensor, BandedBasis, None] = None,  # self.rbf.for_linear(|rel|), likewise (once per edge set)
    ) -> tuple[Tensor, Tensor]:
        num, hidden = z.shape
        zv = None if self.project is None else self.project(z)
        smooth = z.new_zeros(num, hidden)
        vectors = None
        num_edges = edge_index.shape[1]
        # One chunk needs no loop over range(num_edges) (torch.compile(dynamic=True) would have to
        # specialise on the edge count to unroll it, and recompile whenever it changes) and no slices.
        chunks = [None] if num_edges <= EDGE_CHUNK else [
            slice(a, a + EDGE_CHUNK) for a in range(0, num_edges, EDGE_CHUNK)]
        for chunk in chunks:
            src, dst = edge_index if chunk is None else edge_index[:, chunk]
            if rel is None:
                r_ij = pos.index_select(0, dst) - pos.index_select(0, src)
            else:
                r_ij = rel if chunk is None else rel[chunk]
            if rbf is None:
                basis = self.rbf.for_linear(safe_norm(r_ij))
            elif chunk is None:
                basis = rbf
            else:
                basis = rbf.rows(chunk) if isinstance(rbf, BandedBasis) else rbf[chunk]
            weights = self.filter(basis) if isinstance(basis, Tensor) else radial_linear(
                basis, self.filter.weight.t(), self._filter_table)
            # (index_select, not z[src]: ~7x faster on (E, d) rows, and its backward is an index_add)
            if self.smooth and self.project is None:  # one gather for both filters, columns (filter, d)
                # two products, not one (E, 2, d) unbound: index_add of a row-strided source is ~10x slower
                z_src = z.index_select(0, src)
                smooth_message, message = weights[:, :hidden] * z_src, weights[:, hidden:] * z_src
            else:  # gather z only where a message reads it (a protein's E x d rows are ~100 MB)
                message = weights[:, -self.channels :] * (z if zv is None else zv).index_select(0, src)
                smooth_message = weights[:, :hidden] * z.index_select(0, src) if self.smooth else None
            if self.smooth:
                smooth = smooth.index_add(0, dst, smooth_message)
            part = outer_scatter(r_ij, message, dst, num)
            vectors = part if vectors is None else vectors + part
        return z + smooth / self.norm, vectors / self.norm
