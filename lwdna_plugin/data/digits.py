"""scikit-learn's bundled handwritten digits (1797 real 8×8 images, 10 classes) as a small
image-classification set: upsampled to ``size``×``size``, 3 channels, split deterministically."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

NUM_CLASSES = 10
MEAN, STD = 0.3, 0.4   # of the scaled pixel values (0..1)


def digits_split(split: str = 'train', size: int = 32, val_fraction: float = 0.2,
                 seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """(images in [0, 1] of shape (N, 1, size, size), labels): 'train' is the first 80 % of a
    seeded permutation, 'val' the rest."""
    from sklearn.datasets import load_digits

    if split not in ('train', 'val'):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    data = load_digits()
    order = np.random.default_rng(seed).permutation(len(data.target))
    n_val = int(round(len(order) * val_fraction))
    idx = order[n_val:] if split == 'train' else order[:n_val]
    images = torch.from_numpy(data.images[idx].astype(np.float32) / 16.0)[:, None]
    images = F.interpolate(images, size=(size, size), mode='bilinear', align_corners=False).clamp(0, 1)
    return images, torch.from_numpy(data.target[idx].astype(np.int64))


class DigitsDataset(Dataset):
    """Normalised 3-channel tensors of :func:`digits_split` for plain PyTorch loops."""

    def __init__(self, split: str = 'train', size: int = 32, val_fraction: float = 0.2, seed: int = 0):
        images, self.targets = digits_split(split, size, val_fraction, seed)
        self.images = ((images - MEAN) / STD).expand(-1, 3, -1, -1).contiguous()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        return self.images[i], int(self.targets[i])


def digits_loaders(batch_size: int = 64, size: int = 32, seed: int = 0) -> Tuple[DataLoader, DataLoader]:
    """(train loader, shuffled with ``seed``; val loader)."""
    gen = torch.Generator().manual_seed(seed)
    return (DataLoader(DigitsDataset('train', size, seed=seed), batch_size=batch_size, shuffle=True,
                       generator=gen, drop_last=True),
            DataLoader(DigitsDataset('val', size, seed=seed), batch_size=batch_size))


def digit_batches(size: int, batch: int, count: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """The first ``count`` training batches of ``batch`` digits in order (normalised, 3 channels)."""
    ds = DigitsDataset('train', size=size)
    return [(ds.images[i * batch:(i + 1) * batch], ds.targets[i * batch:(i + 1) * batch]) for i in range(count)]
