"""Shared fixtures: real data (scikit-learn digits, scikit-image photographs) and zoo models."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

warnings.filterwarnings('ignore', category=UserWarning)
torch.set_num_threads(2)


@pytest.fixture(scope='session')
def digit_batches():
    """Two real training batches (8 digits each, 32×32, 3 channels)."""
    from lwdna_plugin.data import DigitsDataset

    ds = DigitsDataset('train', size=32)
    return [(ds.images[i * 8:(i + 1) * 8], ds.targets[i * 8:(i + 1) * 8]) for i in range(2)]


@pytest.fixture(scope='session')
def sr_batches():
    """Two real ×4 super-resolution batches: HR 32×32 crops of scikit-image photographs."""
    from skimage import data

    images = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(0)
    hr = []
    for img in images * 2:
        y, x = rng.integers(0, img.shape[0] - 32), rng.integers(0, img.shape[1] - 32)
        hr.append(torch.from_numpy(img[y:y + 32, x:x + 32].astype(np.float32) / 255).permute(2, 0, 1))
    hr = torch.stack(hr)
    lr = F.interpolate(hr, scale_factor=0.25, mode='bicubic', antialias=True, align_corners=False).clamp(0, 1)
    return [(lr[:4], hr[:4]), (lr[4:], hr[4:])]


def import_basicsr():
    """basicsr 1.4.2 imports a torchvision module removed in 0.17; the plugin's shim fixes that."""
    from lwdna_plugin.compat import patch_basicsr_import
    patch_basicsr_import()
    import basicsr  # noqa: F401
