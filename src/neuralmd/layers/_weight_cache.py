"""Products of parameters alone, kept between no-grad calls while the parameters are unchanged.

The factored layers concatenate, transpose and multiply weight matrices before they touch an edge.
In a rollout (no gradients, fixed weights) that is the same work at every force evaluation: at one
ligand ~70 tensor operations and a (L d, d) x (d, d) product of the ~130 MFLOP. A cache keyed by
each parameter's storage, dtype and version counter (which every in-place update, an optimizer
step or ``load_state_dict``, bumps) computes it once. Inside :func:`shared_parameter_products`
(one training loss: every force evaluation of its rollouts) it also keeps them under autograd.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import torch
from torch import Tensor


def _cacheable(params: Sequence[Tensor]) -> bool:
    """Not under autocast, which changes the products' dtype (``get`` has already left out calls
    under autograd, whose products must be part of the graph, and while compiling, where a cache
    would be Python state to guard on)."""
    return bool(params) and not torch.is_autocast_enabled(params[0].device.type)


def module_parameters(modules: Iterable[torch.nn.Module]) -> Iterator[Tensor]:
    """The parameters of ``modules`` and their submodules, read from the modules' own tables:
    what ``Module.parameters()`` yields (a shared parameter may come twice), ~4x faster, which
    matters for a cache key read at every force evaluation (~40 parameters per stack)."""
    for module in modules:
        for param in module._parameters.values():
            if param is not None:
                yield param
        yield from module_parameters(child for child in module._modules.values() if child is not None)


#: The caches that kept a product under autograd in the current :func:`shared_parameter_products`
#: block, or None outside one.
_SHARED_UNDER_GRAD: ContextVar[Optional[list]] = ContextVar("neuralmd_shared_parameter_products", default=None)


@contextlib.contextmanager
def shared_parameter_products() -> Iterator[None]:
    """Within this block, every :class:`WeightCache` keeps its parameter products under autograd
    too: the force evaluations of one training loss (each solver step of each sampled rollout)
    reuse one product, a single node of the graph whose gradient sums over them, instead of
    recomputing it (forward and backward) at each evaluation; the gradients are the same to
    round-off. On leaving, the caches it filled are emptied, so that no graph outlives the loss
    that made it (a second backward, or a loss after an optimizer step, builds anew).

    Example:
        >>> layer = torch.nn.Linear(2, 2)
        >>> cache = WeightCache()
        >>> with shared_parameter_products():
        ...     first = cache.get(layer.parameters, lambda: layer.weight.t() * 2)
        ...     again = cache.get(layer.parameters, lambda: layer.weight.t() * 2)
        >>> again is first, first.requires_grad
        (True, True)
        >>> cache.get(layer.parameters, lambda: layer.weight.t() * 2) is first  # outside: not kept
        False
    """
    filled: list[WeightCache] = []
    token = _SHARED_UNDER_GRAD.set(filled)
    try:
        yield
    finally:
        _SHARED_UNDER_GRAD.reset(token)
        for cache in filled:
            cache.clear()


class WeightCache:
    """One cached value per owner: ``get(params, build, fallback=...)`` returns ``build()``'s value
    from the last call while no parameter in ``params()`` changed (same storage, dtype and version),
    and builds it anew otherwise; where caching does not apply (gradients enabled outside
    :func:`shared_parameter_products`, compiling, autocast) it returns ``fallback()`` (default
    ``build()``), uncached, without enumerating the parameters.

    Example:
        >>> layer = torch.nn.Linear(2, 2)
        >>> cache = WeightCache()
        >>> with torch.no_grad():
        ...     first = cache.get(layer.parameters, lambda: layer.weight.t().contiguous())
        ...     again = cache.get(layer.parameters, lambda: layer.weight.t().contiguous())
        ...     _ = layer.weight.mul_(2.0)          # an in-place update: built anew
        ...     fresh = cache.get(layer.parameters, lambda: layer.weight.t().contiguous())
        >>> again is first, torch.equal(fresh, 2 * first)
        (True, True)
    """

    def __init__(self) -> None:
        self._key: Optional[tuple] = None
        self._value: Any = None

    def __deepcopy__(self, memo: dict) -> "WeightCache":
        return WeightCache()  # a copied module gets its own parameters: nothing to share

    def __getstate__(self) -> dict:
        return {"_key": None, "_value": None}  # never pickle tensors that state_dict does not list

    def get(self, params: Callable[[], Iterable[Tensor]], build: Callable[[], Any], *,
            fallback: Optional[Callable[[], Any]] = None) -> Any:
        uncached = build if fallback is None else fallback
        if torch.compiler.is_compiling():  # first: nothing below is traced into a compiled graph
            return uncached()
        grad = torch.is_grad_enabled()
        shared = _SHARED_UNDER_GRAD.get() if grad else None
        if grad and shared is None:
            return uncached()
        params = list(params())
        if not _cacheable(params):
            return uncached()
        # grad in the key: a product made without a graph must not serve a call that needs one
        key = (grad, *((p.data_ptr(), p.dtype, p.device, p._version) for p in params))
        if key != self._key:
            self._value, self._key = build(), key
            if shared is not None and self not in shared:
                shared.append(self)
        return self._value

    def clear(self) -> None:
        """Drop the cached value (it is rebuilt at the next call)."""
        self._key = self._value = None
