"""Blocks kept whole: an op the grouping cannot follow, inside a block that maps one tensor to one
tensor, keeps that block (and the channels it reads and writes) at its width while the
rest of the network is widened and pruned exactly; ``keep_unmodelled_blocks=False`` refuses."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.backbones.repmlp import RepMLPBlock
from mmpretrain.models.utils import MultiheadAttention
from timm.layers.split_attn import SplitAttn

from lwdna_plugin import LWDNAConfig, UnsupportedModelError, count_flops_params, shrink
from lwdna_plugin.core import build_channel_graph
from lwdna_plugin.data import digit_batches


class _Net(nn.Module):
    """conv stem, a zoo block on the stem's width, an inverted bottleneck, a classifier."""

    def __init__(self, block: nn.Module, width: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.block = block
        self.expand = nn.Sequential(nn.Conv2d(width, 2 * width, 1), nn.BatchNorm2d(2 * width), nn.ReLU())
        self.project = nn.Sequential(nn.Conv2d(2 * width, width, 1), nn.BatchNorm2d(width))
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.block(x)
        x = F.relu(x + self.project(self.expand(x)))
        return self.head(x.mean((2, 3)))


def _repmlp_net() -> nn.Module:
    # mmpretrain's RepMLP folds groups of channels into the batch for its partition perceptron
    torch.manual_seed(0)
    return _Net(RepMLPBlock(16, 8, 8, reparam_conv_kernels=(1, 3), num_sharesets=4))


def test_repmlp_block_is_kept_whole_and_the_rest_is_pruned_exactly():
    model = _repmlp_net()
    graph = build_channel_graph(model, torch.randn(2, 3, 32, 32))
    assert list(graph.kept_whole) == ['block']
    stream = next(g for g in graph.groups if 'stem.0:out' in g.members)
    assert stream.fixed and stream.fixed_reason.startswith("'block' (RepMLPBlock) runs an op the grouping cannot")
    assert "moves the channel dimension (e.g. a channel shuffle) (UnsafeViewBackward0)" in stream.fixed_reason
    assert not any(m.startswith('block.') for g in graph.groups for m in g.members)   # cut out of the graph
    hidden = next(g for g in graph.groups if 'expand.0:out' in g.members)
    assert not hidden.fixed and hidden.num_units == 32

    result = shrink(model, digit_batches(32, 8, 2), F.cross_entropy,
                    LWDNAConfig(width_mult=1.5, flops_target=0.9, embedding_dim=2))
    config = result.channel_config
    assert config['probe_relative_error'] < 1e-9
    assert any('kept whole' in w and 'block' in w for w in config['warnings'])
    assert list(result.widened_graph.kept_whole) == ['block']
    pruned = result.model
    assert pruned.stem[0].out_channels == 16 and pruned.block.fc3.weight.shape == model.block.fc3.weight.shape
    assert pruned.expand[0].out_channels < 48    # widened to 48, then pruned
    inputs = torch.randn(1, 3, 32, 32)
    assert count_flops_params(pruned, inputs=inputs)[0] == config['flops']['lwdna']   # the block counted as it is
    assert abs(config['flops']['lwdna'] / config['target']['value'] - 1) <= 0.005
    with torch.no_grad():
        assert torch.isfinite(pruned.eval()(inputs)).all()


def test_keep_unmodelled_blocks_false_refuses_naming_the_op_and_module():
    with pytest.raises(UnsupportedModelError, match=r"reshape that moves the channel dimension.*in module 'block' \(RepMLPBlock\)"):
        shrink(_repmlp_net(), digit_batches(32, 8, 2), F.cross_entropy,
               LWDNAConfig(flops_target=0.9, embedding_dim=2, keep_unmodelled_blocks=False))


class _T2TNet(nn.Module):
    """T2T-ViT in small: patch tokens of 12 channels, mmpretrain's single-head attention with its
    values added to the output (``v_shortcut``, 12 -> 16 channels), a sinusoidal position table held
    as a buffer, then an attention of the same class with two heads and an MLP on the stream."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Conv2d(3, 12, 2, stride=2)
        self.tokens = MultiheadAttention(16, 1, input_dims=12, v_shortcut=True)
        self.register_buffer('pos_embed', torch.sin(torch.arange(256.0).reshape(1, 16, 16)))
        self.norm1, self.attn = nn.LayerNorm(16), MultiheadAttention(16, 2)
        self.norm2, self.mlp = nn.LayerNorm(16), nn.Sequential(nn.Linear(16, 128), nn.GELU(), nn.Linear(128, 16))
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.tokens(self.embed(x).flatten(2).transpose(1, 2)) + self.pos_embed
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return self.head(x.mean(1))


def test_only_the_instance_that_refuses_is_kept_whole_and_a_buffer_keeps_its_width():
    """The v-shortcut attention (an op the grouping cannot follow, in a block that changes the width)
    is kept whole; the other attention of its class keeps its heads prunable; the stream a buffer is
    added to keeps its width. Pruned exactly, the FLOPs target held."""
    model = _T2TNet()
    graph = build_channel_graph(model, torch.randn(2, 3, 8, 8))
    assert list(graph.kept_whole) == ['tokens']
    groups = {m: g for g in graph.groups for m in g.members}
    assert groups['embed:out'].fixed_reason.startswith("'tokens' (MultiheadAttention) runs an op")
    assert groups['norm1:out'].fixed_reason == "add in '' reads a buffer of 16 channels: their width is kept"
    assert not groups['attn.qkv:out'].fixed and groups['attn.qkv:out'].num_units == 2   # heads
    assert not groups['mlp.0:out'].fixed

    result = shrink(model, digit_batches(8, 8, 2), F.cross_entropy,
                    LWDNAConfig(width_mult=2.0, flops_target=0.9, embedding_dim=2))
    config = result.channel_config
    assert config['probe_relative_error'] < 1e-9
    pruned = result.model
    assert pruned.tokens.qkv.weight.shape == model.tokens.qkv.weight.shape and pruned.head.in_features == 16
    assert pruned.attn.num_heads != 2 or pruned.mlp[0].out_features != 128
    inputs = torch.randn(1, 3, 8, 8)
    assert count_flops_params(pruned, inputs=inputs)[0] == config['flops']['lwdna']
    assert abs(config['flops']['lwdna'] / config['target']['value'] - 1) <= 0.005


def test_a_block_torch_pruning_loops_on_is_cut_out_of_its_graph():
    """timm's split attention with cardinality 2 (a softmax across the channels of two conv groups):
    its radix softmax (the innermost module around the softmax) is kept whole, its insides are not in
    torch-pruning's graph, whose group closure looped on them."""
    model = nn.Sequential(nn.Conv2d(3, 16, 1), SplitAttn(16, 16, 3, padding=1, radix=2, groups=2), nn.ReLU(),
                          nn.Conv2d(16, 24, 1), nn.ReLU(), nn.Conv2d(24, 5, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    graph = build_channel_graph(model, torch.randn(2, 3, 8, 8), timeout_s=20)
    assert list(graph.kept_whole) == ['1.rsoftmax'] and 'RadixSoftmax' in graph.kept_whole['1.rsoftmax']
    assert [g.num_units for g in graph.prunable_groups] == [24]
    with pytest.raises(UnsupportedModelError, match=r'softmax over the channel dimension.*RadixSoftmax'):
        build_channel_graph(model, torch.randn(2, 3, 8, 8), keep_unmodelled=False)


def test_nothing_left_to_prune_names_the_blocks_kept_whole():
    """Every channel of this net passes through the kept block: the refusal says why."""
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), RepMLPBlock(16, 8, 8, num_sharesets=4),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    with pytest.raises(UnsupportedModelError, match=r"no prunable channel group.*'1' kept whole: it runs an op"):
        shrink(model, digit_batches(32, 8, 2), F.cross_entropy, LWDNAConfig(flops_target=0.9))
