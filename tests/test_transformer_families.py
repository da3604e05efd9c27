"""Transformer families beyond the plain ViT, each on the zoo's own classes: attention biases that
mmpretrain precomputes in eval mode, timm's attention bias as the mask of the fused attention,
MLP-Mixer's token-mixing Linears, patch merging by ``nn.Unfold``, and attentions that compute
their head width from the stream width (``C // num_heads``)."""
from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.backbones.efficientformer import AttentionWithBias
from mmpretrain.registry import MODELS
from mmpretrain.utils import register_all_modules

from lwdna_plugin import LWDNAConfig, count_flops_params, shrink
from lwdna_plugin.core import build_channel_graph
from lwdna_plugin.data import digit_batches
from lwdna_plugin.mmpretrain.model import _classifier_loss, tensor_forward

register_all_modules()


def _config(flops_target: float = 0.8, **kwargs) -> LWDNAConfig:
    return LWDNAConfig(width_mult=1.5, flops_target=flops_target, embedding_dim=2, **kwargs)


def _exact(result, forward=None, size=32) -> None:
    """Exact, on target, counted as the cost model predicts, finite in eval (twice: a module
    computing a held tensor in ``train(False)`` must have computed it for its new shapes)."""
    config = result.channel_config
    assert config['probe_relative_error'] < 1e-9 and config['probe_channel_mixing'] == []
    assert abs(config['flops']['lwdna'] / config['target']['value'] - 1) <= 0.005
    inputs = torch.randn(1, 3, size, size)
    assert count_flops_params(result.model, inputs=inputs, forward_fn=forward)[0] == config['flops']['lwdna']
    model = result.model.eval()
    with torch.no_grad():
        for _ in range(2):
            out = model(inputs) if forward is None else forward(model, inputs)
            assert torch.isfinite(out).all()


class _Tokens(nn.Module):
    """A conv stem to tokens, one zoo attention and an MLP with residuals, the mean token to a
    classifier."""

    def __init__(self, attention: nn.Module, dim: int):
        super().__init__()
        self.stem, self.attn, self.head = nn.Conv2d(3, dim, 8, stride=8), attention, nn.Linear(dim, 10)
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)
        x = x + self.attn(x)
        return self.head((x + self.fc2(F.gelu(self.fc1(x)))).mean(1))


def test_mmpretrain_attention_bias_precomputed_in_eval_is_traced_and_recomputed():
    torch.manual_seed(0)
    model = _Tokens(AttentionWithBias(64, num_heads=8, key_dim=8, attn_ratio=2, resolution=4), 64).eval()
    assert hasattr(model.attn, 'ab')   # eval mode reads this tensor, not the parameter behind it
    graph = build_channel_graph(model, torch.zeros(1, 3, 32, 32))
    heads = next(g for g in graph.groups if 'attn.qkv:out' in g.members)
    assert heads.num_units == 8 and heads.unit_channels == 8 + 8 + 16   # a unit: one head's q, k and v
    assert graph.heads['attn'] == ((heads.index, 16),)   # 16 channels per head where they merge (v's)
    result = shrink(model, digit_batches(size=32, batch=4, count=2), F.cross_entropy, _config())
    attn = result.model.attn
    assert attn.attention_biases.shape[0] == attn.num_heads != 8 * 1.5
    assert attn.ab.shape[0] == attn.num_heads and attn.dh == attn.num_heads * 16
    _exact(result)


def test_timm_attention_bias_as_the_mask_of_fused_attention():
    torch.manual_seed(0)
    attention = timm.models.tiny_vit.Attention(64, key_dim=8, num_heads=8, attn_ratio=2, resolution=(4, 4))
    attention.fused_attn = True   # the per-head bias goes in as ``attn_mask``
    result = shrink(_Tokens(attention, 64), digit_batches(size=32, batch=4, count=2), F.cross_entropy,
                    _config(0.9, keep_normalized_widths=True))
    attn = result.model.attn
    assert attn.attention_biases.shape[0] == attn.num_heads and attn.out_dim == attn.num_heads * 16
    assert attn.qkv.out_features == attn.num_heads * (8 + 8 + 16)
    _exact(result)


def _mmpretrain(backbone: dict, neck: dict, channels: int) -> nn.Module:
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ImageClassifier', backbone=backbone, neck=neck, head=dict(
        type='LinearClsHead', num_classes=10, in_channels=channels, loss=dict(type='CrossEntropyLoss'))))
    model.init_weights()
    return model


def _mmpretrain_batches(size: int):
    from mmpretrain.structures import DataSample
    return [(x, [DataSample().set_gt_label(int(t)) for t in y]) for x, y in digit_batches(size=size, batch=4, count=2)]


def test_mlp_mixer_token_mixing_keeps_channels_and_scales_flops():
    model = _mmpretrain(dict(type='MlpMixer', arch=dict(embed_dims=32, num_layers=2, tokens_mlp_dims=24,
                                                        channels_mlp_dims=128), img_size=32, patch_size=8),
                        dict(type='GlobalAveragePooling', dim=1), 32)
    graph = build_channel_graph(model, torch.zeros(1, 3, 32, 32), forward_fn=tensor_forward)
    assert graph.token_mixing == {f'backbone.layers.{k}.token_mix.layers.{j}' for k in range(2) for j in ('0.0', '1')}
    result = shrink(model, _mmpretrain_batches(32), _classifier_loss(model),
                    _config(0.9, keep_normalized_widths=True), forward_fn=tensor_forward)
    layers = result.model.backbone.layers
    for layer in layers:   # the token MLP reads and writes 16 tokens of every kept channel
        assert layer.token_mix.layers[0][0].in_features == 16 and layer.token_mix.layers[1].out_features == 16
    assert len({layer.channel_mix.layers[0][0].out_features for layer in layers}) == 2   # widths differ
    _exact(result, tensor_forward)


class _Merging(nn.Module):
    """Conv channels unfolded in 2 x 2 patches (channel major: c·4 + position) into a Linear."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.unfold = nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.Unfold(2, stride=2)
        self.reduce, self.head = nn.Linear(64, 24), nn.Linear(24, 10)

    def forward(self, x):
        x = self.unfold(F.relu(self.bn(self.conv(x)))).transpose(1, 2)
        return self.head(F.relu(self.reduce(x)).mean(1))


def test_unfold_patch_merging_is_exact():
    torch.manual_seed(0)
    model = _Merging()
    graph = build_channel_graph(model, torch.zeros(1, 3, 16, 16))
    conv = next(g for g in graph.groups if 'conv:out' in g.members)
    assert 'reduce:in' in conv.members and conv.num_units == 16
    units = graph.units_of('reduce', 'in')
    np.testing.assert_array_equal(units, np.repeat(graph.units_of('conv', 'out'), 4))   # channel major
    result = shrink(model, digit_batches(size=16, batch=4, count=2), F.cross_entropy, _config())
    assert result.model.reduce.in_features == 4 * result.model.conv.out_channels < 4 * 24
    _exact(result, size=16)


@pytest.mark.parametrize('zoo', ['timm', 'mmpretrain'])
def test_head_width_from_stream_width_keeps_heads_and_stream(zoo):
    torch.manual_seed(0)
    if zoo == 'timm':
        model = timm.models.twins.Twins(img_size=32, patch_size=4, embed_dims=(16, 32), num_heads=(1, 2),
                                        mlp_ratios=(4, 4), depths=(1, 1), sr_ratios=(2, 1), num_classes=10)
        batches, loss, forward, attn = digit_batches(size=32, batch=4, count=2), F.cross_entropy, None, 'blocks.1.0.attn'
    else:
        model = _mmpretrain(dict(type='PCPVT', arch=dict(embed_dims=[16, 32], depths=[1, 1], num_heads=[1, 2],
                                                         patch_sizes=[4, 2], strides=[4, 2], mlp_ratios=[4, 4],
                                                         sr_ratios=[2, 1]), out_indices=(1,)),
                            dict(type='GlobalAveragePooling'), 32)
        batches, loss, forward, attn = _mmpretrain_batches(32), _classifier_loss(model), tensor_forward, \
            'backbone.stages.1.0.attn'
    graph = build_channel_graph(model, next(iter(batches))[0], forward_fn=forward)
    stream = next(g for g in graph.groups if repr(attn) in g.fixed_reason)   # the stream the attention reads
    assert 'C // num_heads' in stream.fixed_reason and stream.num_units == 32
    assert any(not g.fixed for g in graph.groups if any('fc1:out' in m or 'ffn' in m for m in g.members))
    result = shrink(model, batches, loss, _config(0.9), forward_fn=forward)
    assert dict(model.named_modules())[attn].num_heads == dict(result.model.named_modules())[attn].num_heads
    assert result.channel_config['flops']['lwdna'] < result.channel_config['flops']['baseline']
    _exact(result, forward)


class _SwiGLUTokens(nn.Module):
    """Patch tokens, mmpretrain's SwiGLU feed-forward (a Linear to 2H, ``chunk(2, dim=-1)``
    channels-last, ``silu(x1) * x2``, a Linear back, the residual), a classifier."""

    def __init__(self, dim: int = 32, hidden: int = 48):
        super().__init__()
        from mmpretrain.models.utils.swiglu_ffn import SwiGLUFFN
        self.stem, self.head = nn.Conv2d(3, dim, 8, stride=8), nn.Linear(dim, 10)
        self.ffn = SwiGLUFFN(dim, hidden)

    def forward(self, x):
        return self.head(self.ffn(self.stem(x).flatten(2).transpose(1, 2)).mean(1))


def test_swiglu_chunk_of_channels_last_tokens_is_an_equal_channel_split():
    torch.manual_seed(0)
    model = _SwiGLUTokens()
    graph = build_channel_graph(model, torch.zeros(1, 3, 32, 32))
    hidden = next(g for g in graph.groups if 'ffn.w12:out' in g.members)
    assert hidden.num_units == 48 and 'ffn.w3:in' in hidden.members   # channel j of x1 and of x2: one unit
    assert [s.module for s in graph.splits] == ['ffn']
    result = shrink(model, digit_batches(size=32, batch=4, count=2), F.cross_entropy, _config(0.9))
    ffn = result.model.ffn
    assert ffn.w12.out_features == 2 * ffn.w3.in_features < 2 * 72   # widened to 72, then pruned
    _exact(result)


class _NestedTokens(nn.Module):
    """mmpretrain's HiViT stem: patch tokens of 4×4 inner positions (B, N, 4, 4, C), merged twice
    (``PatchMerge``: strided slices, a concatenation and a Linear over 4C) down to (B, N, 1, 1, 4C),
    then ``x[..., 0, 0, :]`` (two selects in one indexing op) to (B, N, 4C) and a classifier."""

    def __init__(self):
        super().__init__()
        from mmpretrain.models.backbones.hivit import PatchEmbed, PatchMerge
        self.embed = PatchEmbed(img_size=32, patch_size=16, inner_patches=4, embed_dim=8)
        self.merge1, self.merge2 = PatchMerge(8, dict(type='LN')), PatchMerge(16, dict(type='LN'))
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.merge2(self.merge1(self.embed(x)))[..., 0, 0, :]
        return self.head(x.mean(1))


def test_a_select_of_two_inner_positions_keeps_the_channels_last():
    torch.manual_seed(0)
    model = _NestedTokens()
    graph = build_channel_graph(model, torch.zeros(1, 3, 32, 32))
    tokens = next(g for g in graph.groups if 'merge2.reduction:out' in g.members)
    assert tokens.num_units == 32 and 'head:in' in tokens.members and not tokens.fixed
    result = shrink(model, digit_batches(size=32, batch=4, count=2), F.cross_entropy,
                    _config(0.98, keep_normalized_widths=True))   # the LayerNorms over 4C keep their widths
    assert result.model.head.in_features == result.model.merge2.reduction.out_features < 48
    _exact(result)


class _PatchTokensWritten(nn.Module):
    """TNT's outer tokens: a class token and patch tokens, the patch tokens updated in place
    (``x[:, 1:] = x[:, 1:] + proj(patches)``, a write into part of the tokens holding every channel)."""

    def __init__(self, dim: int = 16):
        super().__init__()
        self.stem, self.proj, self.head = nn.Conv2d(3, dim, 8, stride=8), nn.Linear(dim, dim), nn.Linear(dim, 10)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x):
        patches = self.stem(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), patches], dim=1)
        x[:, 1:] = x[:, 1:] + self.proj(F.gelu(patches))
        x = x + self.fc2(F.gelu(self.fc1(x)))
        return self.head(x[:, 0])


def test_an_in_place_write_into_part_of_the_tokens_keeps_every_channel():
    torch.manual_seed(0)
    model = _PatchTokensWritten()
    graph = build_channel_graph(model, torch.zeros(1, 3, 32, 32))
    stream = next(g for g in graph.groups if 'stem:out' in g.members)
    assert {'proj:out', 'fc2:out', 'head:in', 'cls_token:out'} <= set(stream.members) and not stream.fixed
    result = shrink(model, digit_batches(size=32, batch=4, count=2), F.cross_entropy, _config(0.9))
    assert result.model.stem.out_channels == result.model.proj.out_features == result.model.cls_token.shape[-1]
    _exact(result)
