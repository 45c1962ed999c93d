"""Cross-process gathering for contrastive losses.

Contrastive losses draw their negatives from the batch, so under DDP each process must see the
embeddings of every process, otherwise the effective batch (and the task difficulty) shrinks by
the world size. All processes must hold the same local batch size (``drop_last=True`` or a
padding sampler), because ``all_gather`` needs equally shaped tensors.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor


def _world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def _all_gather_cat(x: Tensor) -> Tensor:
    x = x.contiguous()
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x)
    return torch.cat(parts, dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums, over processes, the gradient of each local slice.

    Every process computes the same global loss from the gathered tensor, so the gradient of a
    process's slice is the sum of the contributions from all processes' copies of the loss. That
    makes the local input gradient ``world_size`` times the full-batch gradient, which is exactly
    what DDP's gradient *averaging* over processes needs to reproduce the single-process
    full-batch parameter gradient.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:
        ctx.rank = dist.get_rank()
        ctx.local_size = x.shape[0]
        return _all_gather_cat(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        # Clone: autograd may reuse grad, and all_reduce works in place.
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = ctx.rank * ctx.local_size
        return grad[start : start + ctx.local_size]


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` from all processes along dim 0, with gradients reaching every slice.

    Identity outside an initialised process group of size > 1, so single-device code is unaffected.
    """
    if _world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


def gather_labels(y: Tensor) -> Tensor:
    """Concatenate ``y`` from all processes along dim 0 (no gradient: labels are targets)."""
    if _world_size() == 1:
        return y
    return _all_gather_cat(y.detach())


def gather_normalised_views(
    z1: Tensor, z2: Tensor, labels: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    """Shared front end of the losses: validate, gather globally and L2-normalise both views.

    Returns ``z`` of shape (2N, D) ordered ``[all first views; all second views]`` (N = global
    batch) and, when given, the labels repeated to match. Normalisation happens in at least
    float32 so that bf16 projections do not lose precision in the similarities.
    """
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must both have shape (B, D); got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    if labels is not None and labels.shape != (z1.shape[0],):
        raise ValueError(
            f"labels must have shape ({z1.shape[0]},) to match z1; got {tuple(labels.shape)}"
        )
    # Gather both views in one collective; stacking keeps each image's views together.
    views = gather_with_grad(torch.stack((z1, z2), dim=1))
    z = torch.cat((views[:, 0], views[:, 1]), dim=0)
    z = F.normalize(z.to(torch.promote_types(z.dtype, torch.float32)), dim=1)
    if labels is None:
        return z, None
    labels = gather_labels(labels.to(z.device))
    return z, labels.repeat(2)
