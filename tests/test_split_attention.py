"""Split attention (ResNeSt, timm's SplitAttn / SelectiveKernel): channel c of every radix branch
is one unit, the radix conv keeps its groups, pruning is exact; what is not split attention
(cardinality > 1, a real permutation) stays refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from lwdna_plugin.core import build_channel_graph
from lwdna_plugin.core.errors import UnsupportedModelError
from lwdna_plugin.core.masking import verify_pruned
from lwdna_plugin.core.resize import resize_groups, select_units


def _mmpretrain_block():
    from mmpretrain.models.backbones.resnest import SplitAttentionConv2d
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         SplitAttentionConv2d(16, 12, 3, padding=1, radix=2, groups=1), nn.Conv2d(12, 5, 1))


def _timm_selective_kernel():
    from timm.layers import SelectiveKernel
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), SelectiveKernel(16, 12, split_input=True, rd_ratio=1 / 4,
                                                                         rd_divisor=4), nn.Conv2d(12, 5, 1))


def _random_keep(graph, seed):
    rng = np.random.default_rng(seed)
    keep = np.ones(len(graph.unit_group), dtype=bool)
    for g in graph.prunable_groups:
        drop = rng.choice(g.num_units, size=g.num_units // 3, replace=False)
        keep[g.units[drop]] = False
    return keep


def test_radix_conv_keeps_its_groups_and_ties_channels_across_branches():
    torch.manual_seed(0)
    model = _mmpretrain_block().eval()
    x = torch.randn(2, 3, 8, 8)
    graph = build_channel_graph(model, x)
    assert graph.convs_by_position == {'3.conv'}
    out = graph.units_of('3.conv', 'out').reshape(2, 12)           # (radix, channel)
    assert (out[0] == out[1]).all() and len(set(out[0])) == 12      # channel c of both branches: one unit
    inputs = graph.units_of('3.conv', 'in').reshape(2, 8)           # each branch reads half of the input
    assert (inputs[0] == inputs[1]).all()
    assert set(graph.units_of('3.fc2', 'out')) == set(out[0])       # the attention logits follow

    keep = _random_keep(graph, 0)
    pruned = select_units(graph, keep)
    assert pruned[3].conv.groups == 2 and pruned[3].fc2.out_channels == 2 * pruned[3].fc1.in_channels
    assert verify_pruned(graph, keep, pruned, x) < 1e-9
    widened = resize_groups(graph, {g.index: 2 * g.num_units for g in graph.prunable_groups})
    assert widened[3].conv.groups == 2 and widened(x).shape == (2, 5, 8, 8)


def test_stacked_branches_prune_exactly():
    torch.manual_seed(0)
    model = _timm_selective_kernel().eval()
    x = torch.randn(2, 3, 8, 8)
    graph = build_channel_graph(model, x)
    paths = [graph.units_of(f'1.paths.{k}.conv', 'out') for k in range(2)]
    assert (paths[0] == paths[1]).all()                                   # stacked then summed
    assert set(graph.units_of('1.attn.fc_select', 'out')) == set(paths[0])
    for seed in range(3):
        keep = _random_keep(graph, seed)
        pruned = select_units(graph, keep)
        assert pruned[1].in_channels == pruned[0].out_channels            # the split reads it
        assert verify_pruned(graph, keep, pruned, x) < 1e-9


def test_cardinality_above_one_is_refused_naming_the_softmax():
    from timm.layers.split_attn import SplitAttn
    model = nn.Sequential(nn.Conv2d(3, 16, 1), SplitAttn(16, 16, 3, padding=1, radix=2, groups=2), nn.Conv2d(16, 5, 1))
    with pytest.raises(UnsupportedModelError, match=r'softmax over the channel dimension.*RadixSoftmax'):
        build_channel_graph(model, torch.randn(2, 3, 8, 8), keep_unmodelled=False)   # else kept whole


def test_latency_table_builds_the_radix_conv_with_its_groups():
    from lwdna_plugin.core.latency import layer_spec
    model = _mmpretrain_block().eval()
    graph = build_channel_graph(model, torch.randn(2, 3, 8, 8))
    rec = next(rec for rec, _ in graph.op_records if rec.module == '3.conv' and rec.func == 'conv2d')
    layer = layer_spec(rec, '3.conv' in graph.convs_by_position).build(10, 18, torch.device('cpu'), torch.float32)
    assert layer.groups == 2 and layer.weight.shape == (18, 5, 3, 3)
    whole_groups = layer_spec(rec).build(16, 24, torch.device('cpu'), torch.float32)   # 12 out per group
    assert whole_groups.groups == 2
