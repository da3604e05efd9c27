"""Shared fixtures: real data (scikit-learn digits, scikit-image photographs) and zoo models."""
from __future__ import annotations

import warnings

import pytest
import torch

warnings.filterwarnings('ignore', category=UserWarning)
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same torch seed: a failure found once reproduces."""
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def digit_batches():
    """Two real training batches (8 digits each, 32×32, 3 channels)."""
    from lwdna_plugin.data import digit_batches

    return digit_batches(size=32, batch=8, count=2)


@pytest.fixture(scope='session')
def sr_batches():
    """Two real ×4 super-resolution batches of 4: HR 32×32 crops of scikit-image photographs."""
    from lwdna_plugin.data import photo_sr_batches

    return photo_sr_batches(lr_size=8, scale=4, batch=4, count=2)


def import_basicsr():
    """basicsr 1.4.2 imports a torchvision module removed in 0.17; the plugin's shim fixes that."""
    from lwdna_plugin.compat import patch_basicsr_import
    patch_basicsr_import()
    import basicsr  # noqa: F401
