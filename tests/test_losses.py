"""Behavioural tests for the contrastive and pairwise losses, including under 2-process DDP."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from thermal_icas.core.losses import NTXentLoss, PairMarginLoss, SupConLoss

LOSSES: dict[str, nn.Module] = {
    "supcon": SupConLoss(temperature=0.1),
    "ntxent": NTXentLoss(temperature=0.5),
    "pair_margin": PairMarginLoss(margin=0.2),
}


def random_batch(
    batch: int = 8, dim: int = 16, classes: int = 3, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(batch, dim, generator=g, dtype=torch.float64)
    z2 = torch.randn(batch, dim, generator=g, dtype=torch.float64)
    labels = torch.randint(classes, (batch,), generator=g)
    return z1, z2, labels


def reference_supcon(z1: Tensor, z2: Tensor, labels: Tensor, temperature: float) -> Tensor:
    z = torch.cat([z1, z2]).double()
    z = z / z.norm(dim=1, keepdim=True)
    y = labels.repeat(2).tolist()
    n = len(y)
    total = 0.0
    for i in range(n):
        denom = sum(math.exp(float(z[i] @ z[a]) / temperature) for a in range(n) if a != i)
        positives = [p for p in range(n) if p != i and y[p] == y[i]]
        total += -sum(float(z[i] @ z[p]) / temperature - math.log(denom) for p in positives) / len(
            positives
        )
    return torch.tensor(total / n, dtype=torch.float64)


def reference_pair_margin(z1: Tensor, z2: Tensor, labels: Tensor, margin: float) -> Tensor:
    z = torch.cat([z1, z2]).double()
    z = z / z.norm(dim=1, keepdim=True)
    y = labels.repeat(2).tolist()
    n = len(y)
    costs = []
    for i in range(n):
        for j in range(n):
            if i != j:
                cos = float(z[i] @ z[j])
                costs.append(1.0 - cos if y[i] == y[j] else max(0.0, cos - margin))
    return torch.tensor(sum(costs) / len(costs), dtype=torch.float64)


def test_supcon_equals_ntxent_when_labels_distinct() -> None:
    z1, z2, _ = random_batch()
    distinct = torch.arange(z1.shape[0])
    supcon = SupConLoss(temperature=0.3)(z1, z2, distinct)
    ntxent = NTXentLoss(temperature=0.3)(z1, z2)
    torch.testing.assert_close(supcon, ntxent)


@pytest.mark.parametrize("seed", [0, 1])
def test_supcon_matches_reference(seed: int) -> None:
    z1, z2, labels = random_batch(seed=seed)
    torch.testing.assert_close(
        SupConLoss(temperature=0.2)(z1, z2, labels), reference_supcon(z1, z2, labels, 0.2)
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_pair_margin_matches_reference(seed: int) -> None:
    z1, z2, labels = random_batch(seed=seed)
    torch.testing.assert_close(
        PairMarginLoss(margin=0.1)(z1, z2, labels), reference_pair_margin(z1, z2, labels, 0.1)
    )


def test_pair_margin_zero_when_constraints_met() -> None:
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    z = torch.eye(4)[labels] * 2.5  # same label: identical; different labels: orthogonal
    assert PairMarginLoss(margin=0.0)(z, z.clone(), labels).item() == 0.0


@pytest.mark.parametrize("name", LOSSES)
def test_aligned_separated_views_beat_random(name: str) -> None:
    g = torch.Generator().manual_seed(3)
    labels = torch.arange(4).repeat_interleave(4)
    centres = torch.linalg.qr(torch.randn(32, 4, generator=g))[0].T * 5.0
    aligned = centres[labels] + 0.1 * torch.randn(16, 32, generator=g)
    loss = LOSSES[name]
    random_loss = loss(torch.randn(16, 32, generator=g), torch.randn(16, 32, generator=g), labels)
    assert loss(aligned, aligned.clone(), labels) < random_loss


@pytest.mark.parametrize("name", LOSSES)
def test_invariant_to_input_scale(name: str) -> None:
    z1, z2, labels = random_batch()
    loss = LOSSES[name]
    torch.testing.assert_close(loss(z1, z2, labels), loss(7.0 * z1, 0.01 * z2, labels))


@pytest.mark.parametrize("name", ["supcon", "pair_margin"])
def test_missing_labels_raise(name: str) -> None:
    z1, z2, _ = random_batch()
    assert LOSSES[name].needs_labels
    with pytest.raises(ValueError, match="labels"):
        LOSSES[name](z1, z2)


def test_ntxent_ignores_labels() -> None:
    z1, z2, labels = random_batch()
    loss = LOSSES["ntxent"]
    assert not loss.needs_labels
    torch.testing.assert_close(loss(z1, z2), loss(z1, z2, labels))


def test_mismatched_shapes_raise() -> None:
    z1, z2, labels = random_batch()
    with pytest.raises(ValueError, match="shape"):
        SupConLoss()(z1, z2[:-1], labels[:-1])
    with pytest.raises(ValueError, match="shape"):
        SupConLoss()(z1, z2, labels[:-1])


@pytest.mark.parametrize("name", LOSSES)
def test_gradients_flow(name: str) -> None:
    z1, z2, labels = random_batch()
    z1.requires_grad_()
    z2.requires_grad_()
    LOSSES[name](z1, z2, labels).backward()
    for grad in (z1.grad, z2.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("name", LOSSES)
def test_bf16_autocast_computes_similarity_in_float32(name: str) -> None:
    z1, z2, labels = random_batch()
    z1, z2 = z1.bfloat16(), z2.bfloat16()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        loss = LOSSES[name](z1, z2, labels)
    assert loss.dtype == torch.float32
    # bf16 matmuls would be off by ~1e-2; float32 ones agree to float32 precision.
    torch.testing.assert_close(loss, LOSSES[name](z1.float(), z2.float(), labels))


# --- DDP -------------------------------------------------------------------------------------
#
# Each process holds half of a global batch, encodes it with a DDP-wrapped linear layer and
# computes the loss with cross-process gathering. Every process computes the *global* loss, and
# the gather's backward sums the contributions of all processes' copies of it, so the gradient
# w.r.t. a process's local inputs is WORLD_SIZE times the full-batch gradient of that slice.
# That factor is the right one: DDP averages parameter gradients over processes, and
# (1 / W) * sum_r J_r^T (W * g_r) = sum_r J_r^T g_r is exactly the full-batch gradient. Passing
# the slice gradient through unscaled would leave DDP's update W times too small.

WORLD_SIZE = 2
GLOBAL_BATCH = 8
IN_DIM, OUT_DIM = 6, 5
DDP_TIMEOUT_S = 120.0


def ddp_problem() -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(11)
    x1 = torch.randn(GLOBAL_BATCH, IN_DIM, generator=g, dtype=torch.float64)
    x2 = x1 + 0.3 * torch.randn(GLOBAL_BATCH, IN_DIM, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 1, 2, 0])
    return x1, x2, labels


def make_encoder() -> nn.Module:
    torch.manual_seed(5)
    return nn.Linear(IN_DIM, OUT_DIM).double()


def run_step(encoder: nn.Module, loss: nn.Module, x1: Tensor, x2: Tensor, labels: Tensor) -> dict:
    x1 = x1.clone().requires_grad_()
    x2 = x2.clone().requires_grad_()
    z1, z2 = encoder(torch.cat([x1, x2])).chunk(2)  # one forward, as DDP expects
    value = loss(z1, z2, labels)
    value.backward()
    return {
        "loss": value.detach(),
        "x1_grad": x1.grad,
        "x2_grad": x2.grad,
        "param_grads": [p.grad.clone() for p in encoder.parameters()],
    }


def ddp_worker(rank: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    # A file rendezvous needs no free port, so no other process can take it between the
    # choice and the bind.
    dist.init_process_group(
        "gloo",
        init_method=(Path(out_dir) / "rendezvous").as_uri(),
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=timedelta(seconds=60),
    )
    try:
        x1, x2, labels = ddp_problem()
        local = slice(rank * GLOBAL_BATCH // WORLD_SIZE, (rank + 1) * GLOBAL_BATCH // WORLD_SIZE)
        results = {
            name: run_step(
                DistributedDataParallel(make_encoder()), loss, x1[local], x2[local], labels[local]
            )
            for name, loss in LOSSES.items()
        }
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs gloo backend"
)
def test_ddp_matches_full_batch(tmp_path: Path) -> None:
    context = mp.start_processes(
        ddp_worker,
        args=(str(tmp_path),),
        nprocs=WORLD_SIZE,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + DDP_TIMEOUT_S
    while not context.join(timeout=1.0):  # raises if a worker failed
        if time.monotonic() > deadline:
            for process in context.processes:
                process.terminate()
            pytest.fail(f"DDP workers did not finish within {DDP_TIMEOUT_S} s")

    x1, x2, labels = ddp_problem()
    per_rank = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD_SIZE)]
    local = GLOBAL_BATCH // WORLD_SIZE
    for name, loss in LOSSES.items():
        full = run_step(make_encoder(), loss, x1, x2, labels)
        for rank, results in enumerate(per_rank):
            got = results[name]
            rows = slice(rank * local, (rank + 1) * local)
            torch.testing.assert_close(got["loss"], full["loss"])
            torch.testing.assert_close(got["x1_grad"], WORLD_SIZE * full["x1_grad"][rows])
            torch.testing.assert_close(got["x2_grad"], WORLD_SIZE * full["x2_grad"][rows])
            # After DDP's averaging, each process holds the single-process full-batch gradient.
            for got_grad, full_grad in zip(got["param_grads"], full["param_grads"], strict=True):
                torch.testing.assert_close(got_grad, full_grad)
