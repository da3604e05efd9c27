"""mmpretrain's own implementations through its registry: ``LWDNAClassifier`` configs of the
families the grouping learned from mmpretrain's zoo (channel shuffle, CSP stages cut at
``x.shape[1] // 2``, split attention), scored on the config's own train dataloader with the head's own loss."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from mmpretrain.utils import register_all_modules

import lwdna_plugin.mmpretrain  # noqa: F401  (registers LWDNAClassifier)
from lwdna_plugin import count_flops_params
from lwdna_plugin.mmpretrain.model import tensor_forward

ROOT = Path(__file__).resolve().parents[1]
BACKBONES = {
    'shufflenet-v2': (dict(type='ShuffleNetV2', widen_factor=0.5), 1024),
    'cspdarknet': (dict(type='CSPDarkNet', depth=53), 1024),
    'resnest': (dict(type='ResNeSt', depth=50, stem_channels=32, base_channels=16), 512),   # split attention
}


@pytest.mark.parametrize('family', sorted(BACKBONES))
def test_lwdna_classifier_of_an_mmpretrain_family(family):
    register_all_modules()
    demo = Config.fromfile(ROOT / 'configs' / 'lwdna' / 'demo_digits.py')
    backbone, channels = BACKBONES[family]
    architecture = dict(type='ImageClassifier', backbone=backbone, neck=dict(type='GlobalAveragePooling'),
                        head=dict(type='LinearClsHead', num_classes=10, in_channels=channels,
                                  loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
    lwdna = dict(width_mult=1.5, flops_target=0.85, embedding_dim=2, num_batches=2)
    loader = copy.deepcopy(demo.train_dataloader)
    loader.batch_size = 8
    loader.dataset.size = 32   # 16² is below the 32× downsampling of these backbones
    loader.dataset.pipeline = [dict(type='RandomCrop', crop_size=32, padding=4), dict(type='PackInputs')]
    model = MODELS.build(dict(type='LWDNAClassifier', architecture=architecture, lwdna=lwdna,
                              data_preprocessor=demo.data_preprocessor, scoring_dataloader=loader))
    config = model.lwdna_channel_config
    assert type(model).__name__ == 'ImageClassifier' and type(model.backbone).__name__ == backbone['type']
    # exact (the shrink's own float64 probe) and on budget, counted on the built model
    assert config['probe_relative_error'] < 1e-6 and not config['probe_channel_mixing']
    assert any(g['lwdna_channels'] != g['baseline_channels'] for g in config['groups'] if not g['fixed'])
    flops, _ = count_flops_params(model, inputs=torch.zeros(config['input_shape']), forward_fn=tensor_forward)
    assert flops == config['flops']['lwdna']
    assert abs(flops / config['target']['value'] - 1) <= 0.005
    # trainable: the head's loss on a real batch through the data preprocessor, finite gradients
    model.init_weights()
    batch = model.data_preprocessor(next(iter(_loader(loader))), training=True)
    losses = model(batch['inputs'], batch['data_samples'], mode='loss')
    loss = sum(losses.values())
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with torch.no_grad():
        assert torch.isfinite(tensor_forward(model.eval(), batch['inputs'])).all()
    # rebuilt from the channel config through the registry: the same architecture, no scoring
    rebuilt = MODELS.build(dict(type='LWDNAClassifier', architecture=architecture, lwdna=lwdna,
                                channel_config=config))
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def _loader(cfg):
    from mmengine.runner import Runner
    return Runner.build_dataloader(copy.deepcopy(cfg), seed=0)
