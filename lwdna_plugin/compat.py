"""Compatibility shims for the pinned zoo versions."""
from __future__ import annotations

import sys


def patch_basicsr_import() -> None:
    """basicsr 1.4.2 imports ``torchvision.transforms.functional_tensor`` (removed in
    torchvision 0.17); alias it to ``torchvision.transforms.functional``, which holds the
    function basicsr uses (``rgb_to_grayscale``)."""
    name = 'torchvision.transforms.functional_tensor'
    if name not in sys.modules:
        import torchvision.transforms.functional as functional
        sys.modules[name] = functional
