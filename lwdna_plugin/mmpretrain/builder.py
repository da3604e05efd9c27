"""Build mmpretrain classifiers from config files."""
from __future__ import annotations

import logging

import torch.nn as nn


def build_classifier_from_config(path: str) -> nn.Module:
    """``MODELS.build(Config.fromfile(path).model)`` with weights initialised by the zoo."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmpretrain.registry import MODELS
    import mmpretrain.models  # noqa: F401  (registers the models)

    model = MODELS.build(Config.fromfile(path).model)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)   # init_weights logs one INFO record per parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model
