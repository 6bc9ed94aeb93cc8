"""Training and inference of one classifier (Sutjiadi et al. settings by default).

Adam (lr, betas, AMSGrad from the config), binary cross-entropy on one logit with
per-sample class weights ("balanced": sklearn's compute_class_weight), optional positive
oversampling and horizontal flips (Prodan et al.). Mixed precision and channels_last are
used on CUDA only; on CPU the same code runs in float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .config import BenchmarkConfig
from .scenarios import oversample


@dataclass(frozen=True)
class Runtime:
    """Where and how tensors run: the device, autocast dtype (None = float32), memory format."""

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool


def runtime(cfg: BenchmarkConfig) -> Runtime:
    cuda = torch.cuda.is_available() and cfg.device in ("auto", "cuda")
    if cfg.device == "cuda" and not cuda:
        from factory.errors import FactoryError

        raise FactoryError("benchmark.device = cuda but no CUDA device is available; use auto")
    if not cuda:
        return Runtime(torch.device("cpu"), None, False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return Runtime(torch.device("cuda"), dtype if cfg.amp else None, True)


def class_weights(y: np.ndarray, mode: str) -> np.ndarray:
    """Per-class loss weights: sklearn's 'balanced' n / (k * n_c), or ones."""
    from sklearn.utils.class_weight import compute_class_weight

    if mode == "none":
        return np.ones(2, dtype=np.float32)
    present = np.unique(y)
    weights = np.ones(2, dtype=np.float32)
    weights[present] = compute_class_weight("balanced", classes=present, y=y)
    return weights


def _autocast(rt: Runtime) -> contextlib.AbstractContextManager:
    if rt.amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=rt.device.type, dtype=rt.amp_dtype)


def _batches(loader: DataLoader, rt: Runtime) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    fmt = torch.channels_last if rt.channels_last else torch.contiguous_format
    for x, y in loader:
        yield x.to(rt.device, non_blocking=True, memory_format=fmt), y.to(rt.device)


def _loader(
    x: torch.Tensor,
    y: torch.Tensor,
    batch: int,
    workers: int,
    g: torch.Generator | None,
    rt: Runtime,
) -> DataLoader:
    shuffle = g is not None
    return DataLoader(
        TensorDataset(x, y),
        batch_size=batch,
        shuffle=shuffle,
        generator=g,
        drop_last=shuffle and len(x) > batch,  # a 1-image batch breaks batch norm
        num_workers=workers,
        pin_memory=rt.device.type == "cuda",
    )


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: np.ndarray,
    train: np.ndarray,
    monitor: np.ndarray,
    cfg: BenchmarkConfig,
    generator: torch.Generator,
    rt: Runtime,
) -> list[dict[str, float]]:
    """Train `model` in place on pool rows `train`; returns one curve row per epoch.

    `x` holds every pool image [N, 1, S, S]; `y` every label. `monitor` rows are scored
    after each epoch for the training curves (never used to pick a model).
    """
    train = oversample(train, y, cfg.oversample_positive)
    weights = torch.from_numpy(class_weights(y[train], cfg.class_weight)).to(rt.device)
    loader = _loader(
        x[train], torch.from_numpy(y[train]).float(), cfg.batch_size, cfg.workers, generator, rt
    )
    model.to(rt.device)
    if rt.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(
        model.parameters(),
        lr=cfg.lr,
        betas=cfg.betas,
        amsgrad=cfg.amsgrad,
        weight_decay=cfg.weight_decay,
    )
    scaler = torch.amp.GradScaler(enabled=rt.amp_dtype == torch.float16)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    curve = []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, correct, seen = 0.0, 0, 0
        for xb, yb in _batches(loader, rt):
            if cfg.hflip:
                flip = torch.rand(len(xb), generator=generator) < 0.5
                xb = torch.where(flip.to(rt.device)[:, None, None, None], xb.flip(-1), xb)
            with _autocast(rt):
                logits = model(xb).squeeze(1).float()
            loss = (loss_fn(logits, yb) * weights[yb.long()]).mean()
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            total += loss.item() * len(xb)
            correct += int(((logits > 0).float() == yb).sum())
            seen += len(xb)
        row = {
            "epoch": epoch,
            "train_loss": total / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
        }
        if len(monitor):
            prob = predict(model, x[monitor], cfg.batch_size, rt)
            ym = y[monitor]
            eps = 1e-7
            bce = -(ym * np.log(prob + eps) + (1 - ym) * np.log(1 - prob + eps)).mean()
            row |= {
                "monitor_loss": float(bce),
                "monitor_accuracy": float(((prob > cfg.threshold) == ym).mean()),
            }
        curve.append(row)
    return curve


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int, rt: Runtime) -> np.ndarray:
    """Positive-class probabilities of images `x` [N, 1, S, S]."""
    model.eval()
    loader = _loader(x, torch.zeros(len(x)), batch, 0, None, rt)
    out = []
    for xb, _ in _batches(loader, rt):
        with _autocast(rt):
            out.append(torch.sigmoid(model(xb).squeeze(1).float()).cpu())
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)
