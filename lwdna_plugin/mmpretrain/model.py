"""``LWDNAClassifier``: an mmpretrain classifier whose widths come from LW-DNA.

Registered in mmpretrain's ``MODELS``. Building it builds the baseline ``architecture`` and
either applies a saved channel config (resume / test / load_from / explicit) or runs the
shrink stage on batches of ``scoring_dataloader`` (the config's own train dataloader, which
:class:`LWDNARunner` passes in) with the classifier's own loss. The result *is* the
architecture's class (e.g. ``ImageClassifier``) with LW-DNA widths, so every mode, the data
preprocessor, validation and test behave as for the baseline; the runner then initialises
it with the zoo's ``init_weights`` and trains it from scratch.
"""
from __future__ import annotations

import copy
import json
import os
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.device import get_device
from mmengine.logging import print_log
from mmpretrain.registry import MODELS

from ..core import ConfigError, LWDNAConfig, apply_channel_config, load_channel_config, shrink
from ..core.distributed import on_every_rank, shared_decision
from ..core.logs import engine_logs_to

ATTR = 'lwdna_channel_config'


def tensor_forward(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """mmpretrain classifiers return logits in 'tensor' mode."""
    return model(inputs, mode='tensor')


@MODELS.register_module()
def LWDNAClassifier(architecture: Dict[str, Any], lwdna: Dict[str, Any], channel_config: Any = None,
                    scoring_dataloader: Optional[Dict[str, Any]] = None, data_preprocessor: Any = None,
                    init_cfg: Any = None) -> nn.Module:
    """Build ``architecture`` with LW-DNA widths (see the module docstring)."""
    cfg = LWDNAConfig.from_dict(dict(lwdna))
    architecture = _without_pretrained(copy.deepcopy(dict(architecture)))
    if data_preprocessor is not None:
        architecture.setdefault('data_preprocessor', data_preprocessor)
    if init_cfg is not None:
        architecture['init_cfg'] = init_cfg
    baseline = MODELS.build(architecture)
    if channel_config is not None:
        # plain JSON types: a dict passed through the config arrives as a ConfigDict
        config = load_channel_config(channel_config) if isinstance(channel_config, (str, os.PathLike)) \
            else json.loads(json.dumps(channel_config))
        source = 'saved'
    else:
        # every rank builds the data (its loading may call collectives); rank 0 alone scores
        loader = on_every_rank(lambda: _scoring_dataloader(scoring_dataloader, cfg.seed))
        config = shared_decision(lambda: _shrink_on_dataloader(baseline, cfg, loader))
        source = 'found'
    model = apply_channel_config(baseline, config, forward_fn=tensor_forward)
    setattr(model, ATTR, config)
    print_log(f'LW-DNA: built {type(model).__name__} from the {source} channel config '
              f'({len(config["groups"])} channel groups)', logger='current')
    return model


def _scoring_dataloader(dataloader_cfg: Optional[Dict], seed: Optional[int]):
    """The config's train dataloader, built (on every rank) to score the channels with."""
    if dataloader_cfg is None:
        raise ConfigError('LWDNAClassifier needs training data to score channels: set runner_type='
                          "'LWDNARunner' (it passes the config's train_dataloader) or give scoring_dataloader")
    from mmengine.runner import Runner

    try:
        loader = Runner.build_dataloader(copy.deepcopy(dataloader_cfg), seed=seed)
    except (RuntimeError, OSError) as e:   # e.g. the dataset directory is missing
        raise ConfigError(f'cannot load the training data to score the channels with: {e}') from e
    if len(loader) == 0:
        raise ConfigError('the train dataloader is empty: no batch to score the channels with')
    return loader


def _shrink_on_dataloader(baseline: nn.Module, cfg: LWDNAConfig, loader) -> Dict[str, Any]:
    device = get_device()
    model = baseline.to(device)
    try:
        with engine_logs_to(lambda level, message: print_log(f'LW-DNA: {message}', logger='current', level=level)):
            result = shrink(model, _scoring_batches(model, loader), _classifier_loss(model), cfg,
                            forward_fn=tensor_forward, model_name=type(model.backbone).__name__,
                            builder={'zoo': 'mmpretrain'})
    finally:
        baseline.to('cpu')
    return result.channel_config


def _scoring_batches(model: nn.Module, loader) -> Iterator[Tuple[torch.Tensor, Any]]:
    """Training batches as the model sees them: through its own data preprocessor."""
    for batch in loader:
        data = model.data_preprocessor(batch, training=True)
        yield data['inputs'], data['data_samples']


def _classifier_loss(model: nn.Module):
    head = getattr(model, 'head', None)
    if not callable(getattr(head, '_get_loss', None)):
        raise ConfigError(f'LWDNAClassifier scores with the classification head\'s loss: the architecture must be a '
                          f'classifier with a head (ImageClassifier), got {type(model).__name__}')

    def loss(cls_score: torch.Tensor, data_samples) -> torch.Tensor:
        return head._get_loss(cls_score, data_samples)['loss']
    return loss


def _without_pretrained(cfg: Any) -> Any:
    """Drop ``init_cfg=dict(type='Pretrained', ...)`` anywhere: LW-DNA trains from scratch."""
    if isinstance(cfg, dict):
        init = cfg.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            print_log(f'LW-DNA: ignoring Pretrained init_cfg ({init.get("checkpoint")}); the LW-DNA '
                      'network is trained from scratch', logger='current', level=30)
            cfg.pop('init_cfg')
        return {k: _without_pretrained(v) for k, v in cfg.items()}
    if isinstance(cfg, list):
        return [_without_pretrained(v) for v in cfg]
    return cfg
