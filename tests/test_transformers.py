"""Vision transformers: heads, MLP widths and the embedding width as LW-DNA's units, on timm's and
mmpretrain's ViTs (the fused ``scaled_dot_product_attention`` and the written-out q·kᵀ / softmax /
·v), the FLOPs convention against mmengine's FlopAnalyzer, and a ViT config trained end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.registry import MODELS
from mmpretrain.utils import register_all_modules

import lwdna_plugin.mmpretrain  # noqa: F401  (registers LWDNAClassifier)
from lwdna_plugin import LWDNAConfig, apply_channel_config, count_flops_params, shrink
from lwdna_plugin.core import build_channel_graph
from lwdna_plugin.data import digit_batches
from lwdna_plugin.mmpretrain.model import tensor_forward
from tests.test_mmpretrain import ROOT, run


def small_vit(fused: bool = True, **kwargs) -> torch.nn.Module:
    """timm's VisionTransformer, 16 tokens of width 64, 2 blocks of 4 heads (head_dim 16)."""
    torch.manual_seed(0)
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, mlp_ratio=2.0, num_classes=10, **kwargs)
    for block in model.blocks:
        block.attn.fused_attn = fused
    return model


def batches(count: int = 2):
    return digit_batches(size=32, batch=8, count=count)


def test_heads_are_units():
    graph = build_channel_graph(small_vit(), torch.zeros(2, 3, 32, 32))
    heads = [g for g in graph.groups if any(m.endswith('attn.qkv:out') for m in g.members)]
    assert len(heads) == 2
    for g in heads:   # a unit: one head's 16 rows of q, k and v, and its 16 columns of the projection
        assert g.num_units == 4 and g.unit_channels == 3 * 16
        assert sorted(m.split('.', 2)[2] for m in g.members) == ['attn.proj:in', 'attn.qkv:out']
    mlp = [g for g in graph.groups if any(m.endswith('mlp.fc1:out') for m in g.members)]
    assert [g.num_units for g in mlp] == [128, 128]
    embedding = next(g for g in graph.groups if 'pos_embed:out' in g.members)
    assert {'cls_token:out', 'patch_embed.proj:out', 'norm:out', 'head:in'} <= set(embedding.members)
    assert embedding.num_units == 64


@pytest.mark.parametrize('fused', [True, False], ids=['sdpa', 'written-out'])
def test_heads_and_mlp_exact_with_the_embedding_fixed(fused):
    model = small_vit(fused)
    cfg = LWDNAConfig(width_mult=1.5, flops_target=0.8, embedding_dim=2, keep_normalized_widths=True)
    result = shrink(model, batches(), F.cross_entropy, cfg)
    config = result.channel_config
    assert config['probe_relative_error'] < 1e-9 and config['probe_channel_mixing'] == []
    assert abs(config['flops']['lwdna'] / config['target']['value'] - 1) <= 0.005
    lw = result.model
    assert lw.patch_embed.proj.out_channels == 64 and lw.pos_embed.shape == (1, 17, 64)
    for block in lw.blocks:   # whole heads: head_dim and the softmax scale unchanged
        attn = block.attn
        assert attn.head_dim == 16 and attn.scale == 16 ** -0.5
        assert attn.qkv.out_features == 3 * attn.num_heads * 16 == 3 * attn.attn_dim
        assert attn.proj.in_features == attn.attn_dim
    flops, _ = count_flops_params(lw, (1, 3, 32, 32))
    assert flops == config['flops']['lwdna']
    # forward and backward finite; rebuilt from the JSON with identical shapes
    x, y = next(iter(batches(1)))
    loss = F.cross_entropy(lw.train()(x), y)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in lw.parameters() if p.grad is not None)
    rows = {r['layer']: r for r in result.table}   # the report names each block's heads
    assert [rows[f'blocks.{k}.attn (heads)']['lwdna'] for k in range(2)] == [b.attn.num_heads for b in lw.blocks]
    assert rows['blocks.0.attn (heads)']['baseline'] == 4
    rebuilt = apply_channel_config(small_vit(fused), json.loads(json.dumps(config)))
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in lw.state_dict().items()}
    assert [b.attn.num_heads for b in rebuilt.blocks] == [b.attn.num_heads for b in lw.blocks]


def test_embedding_pruned_is_structurally_valid():
    """Pruning the embedding width changes what LayerNorm computes: recorded, and the probe
    compares with LayerNorm over the kept channels."""
    model = small_vit(global_pool='avg', class_token=False)   # mean over the tokens into the head
    result = shrink(model, batches(), F.cross_entropy, LWDNAConfig(width_mult=1.5, flops_target=0.7, embedding_dim=2))
    config = result.channel_config
    assert config['probe_relative_error'] < 1e-9 and config['probe_channel_mixing'] == ['LayerNorm']
    width = result.model.patch_embed.proj.out_channels
    assert width != 64 and result.model.pos_embed.shape == (1, 16, width) and result.model.fc_norm.weight.shape == (width,)
    assert torch.isfinite(result.model.eval()(torch.zeros(1, 3, 32, 32))).all()


def _flop_analyzer_total(model: nn.Module, x: torch.Tensor) -> int:
    """mmengine's FlopAnalyzer with our convention's handlers: linear / conv multiply-adds,
    LayerNorm 2 and GELU 1 per element, attention N_q·N_k·(head_dim_qk + head_dim_v) per head, a
    matmul its multiply-adds, pooling zero, everything else zero."""
    from mmengine.analysis import FlopAnalyzer
    from mmengine.analysis.jit_handles import get_shape

    def per_element(factor):
        return lambda inputs, outputs: factor * int(np.prod(get_shape(outputs[0])))

    def attention(inputs, outputs):
        q, k, v = (get_shape(t) for t in inputs[:3])
        return int(np.prod(q[:-1])) * k[-2] * (q[-1] + v[-1])
    analyzer = FlopAnalyzer(model, x)
    analyzer.set_op_handle(**{'aten::layer_norm': per_element(2), 'aten::gelu': per_element(1),
                              'aten::scaled_dot_product_attention': attention,
                              'aten::adaptive_avg_pool2d': lambda inputs, outputs: 0})
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analyzer.total()


def test_attention_flops_match_mmengine_flop_analyzer():
    """Our convention equals mmengine's FlopAnalyzer given the same handlers, on timm's ViT (fused
    attention and q @ k^T) and on mmpretrain's Swin (windows, shifted windows, relative position
    bias, patch merging)."""
    for fused in (True, False):
        model = small_vit(fused).eval()
        assert count_flops_params(model, (1, 3, 32, 32))[0] == _flop_analyzer_total(model, torch.zeros(1, 3, 32, 32))
    register_all_modules()
    swin = MODELS.build(dict(
        type='ImageClassifier', neck=dict(type='GlobalAveragePooling'),
        backbone=dict(type='SwinTransformer', arch=dict(embed_dims=32, depths=[2, 2], num_heads=[2, 4]), img_size=32,
                      window_size=4, out_indices=(1,)),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=64))).eval()
    x = torch.zeros(1, 3, 32, 32)
    ours, _ = count_flops_params(swin, inputs=x, forward_fn=tensor_forward)
    assert ours == _flop_analyzer_total(_Tensor(swin), x)


class _Tensor(nn.Module):
    """An mmpretrain classifier called the way FlopAnalyzer calls a model: ``model(x)``, its logits."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(x, mode='tensor')


def test_lwdna_classifier_wraps_mmpretrains_vision_transformer():
    """mmpretrain's VisionTransformer / DeiT through its registry, unchanged, scored with the
    head's own loss: every block its own head count."""
    register_all_modules()
    demo = Config.fromfile(ROOT / 'configs' / 'lwdna' / 'vit_digits.py')
    for backbone, head in (('VisionTransformer', 'VisionTransformerClsHead'), ('DistilledVisionTransformer',
                                                                               'DeiTClsHead')):
        architecture = dict(type='ImageClassifier', neck=None,
                            backbone=dict(type=backbone, img_size=16, patch_size=4, arch=dict(
                                embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128)),
                            head=dict(type=head, num_classes=10, in_channels=64, loss=dict(type='CrossEntropyLoss')))
        lwdna = dict(width_mult=2.0, flops_target=0.8, embedding_dim=2, keep_normalized_widths=True)
        model = MODELS.build(dict(type='LWDNAClassifier', architecture=architecture, lwdna=lwdna,
                                  data_preprocessor=demo.data_preprocessor, scoring_dataloader=demo.train_dataloader))
        config = model.lwdna_channel_config
        assert type(model.backbone).__name__ == backbone
        assert config['probe_relative_error'] < 1e-9 and config['probe_channel_mixing'] == []
        for layer in model.backbone.layers:
            assert layer.attn.qkv.out_features == 3 * layer.attn.num_heads * 16 == 3 * layer.attn.embed_dims
        flops, _ = count_flops_params(model, inputs=torch.zeros(config['input_shape']), forward_fn=tensor_forward)
        assert abs(flops / config['target']['value'] - 1) <= 0.005
        with torch.no_grad():
            assert torch.isfinite(tensor_forward(model.eval(), torch.zeros(2, 3, 16, 16))).all()


def test_vit_digits_config_trains_and_resumes(tmp_path):
    """configs/lwdna/vit_digits.py end to end with mmpretrain's runner: the blocks get different
    widths, and resuming rebuilds them from the checkpoint without scoring again."""
    config = ROOT / 'configs' / 'lwdna' / 'vit_digits.py'
    work = tmp_path / 'work'
    proc, log = run('tools/train.py', config, '--work-dir', work,
                    '--cfg-options', 'train_cfg.max_epochs=3', 'train_cfg.val_interval=3')
    assert proc.returncode == 0, log[-3000:]
    channels = json.loads((work / 'lwdna_channels.json').read_text())
    assert abs(channels['flops']['lwdna'] / channels['target']['value'] - 1) <= 0.005
    widths = {g['members'][0]: g['kept_units'] for g in channels['groups']}
    heads = [w for m, w in widths.items() if m.endswith('attn.qkv:out')]
    mlp = [w for m, w in widths.items() if m.endswith('ffn.layers.0.0:out')]
    assert len(heads) == len(mlp) == 4 and len(set(heads) | set(mlp)) > 2
    assert 'accuracy/top1' in log
    proc, log2 = run('tools/train.py', config, '--work-dir', work, '--resume',
                     '--cfg-options', 'train_cfg.max_epochs=4', 'train_cfg.val_interval=4')
    assert proc.returncode == 0, log2[-3000:]
    assert 'scored batch' not in log2 and 'resumed epoch: 3' in log2
