"""Restoration batches cut from scikit-image's bundled photographs (real images, no download)."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry')


def photo_crops(size: int, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` random ``size``² RGB crops in [0, 1], shape (count, 3, size, size), taken
    from the photographs in turn."""
    from skimage import data

    photos = [getattr(data, name)() for name in PHOTOS]
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(count):
        img = photos[i % len(photos)]
        y, x = rng.integers(0, img.shape[0] - size), rng.integers(0, img.shape[1] - size)
        crops.append(torch.from_numpy(img[y:y + size, x:x + size].astype(np.float32) / 255).permute(2, 0, 1))
    return torch.stack(crops)


def photo_sr_batches(lr_size: int, scale: int, batch: int, count: int,
                     seed: int = 0) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """``count`` (LR, HR) super-resolution batches: HR crops of ``lr_size · scale``, LR by
    antialiased bicubic downscaling (MATLAB-like ``imresize``)."""
    hr = photo_crops(lr_size * scale, batch * count, seed)
    lr = F.interpolate(hr, scale_factor=1 / scale, mode='bicubic', antialias=True, align_corners=False).clamp(0, 1)
    return [(lr[i * batch:(i + 1) * batch], hr[i * batch:(i + 1) * batch]) for i in range(count)]


def photo_denoise_batches(size: int, sigma: float, batch: int, count: int,
                          seed: int = 0) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """``count`` (noisy, clean) batches of gray ``size``² crops (BT.601 luma) with Gaussian
    noise of standard deviation ``sigma`` / 255."""
    clean = photo_crops(size, batch * count, seed)
    clean = (clean * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed)) * sigma / 255
    noisy = clean + noise
    return [(noisy[i * batch:(i + 1) * batch], clean[i * batch:(i + 1) * batch]) for i in range(count)]
