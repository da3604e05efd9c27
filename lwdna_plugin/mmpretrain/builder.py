"""Build mmpretrain classifiers from config files."""
from __future__ import annotations

import torch.nn as nn


def build_classifier_from_config(path: str) -> nn.Module:
    """``MODELS.build(Config.fromfile(path).model)`` with weights initialised by the zoo."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    import mmpretrain.models  # noqa: F401  (registers the models)

    model = MODELS.build(Config.fromfile(path).model)
    model.init_weights()
    return model
