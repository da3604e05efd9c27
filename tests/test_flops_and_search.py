"""FLOPs / params in the paper's convention, the per-layer cost table, and the bisection."""
from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F

from lwdna_plugin import ConfigError, InfeasibleTargetError, LWDNAConfig, count_flops_params, shrink
from lwdna_plugin.core import CostModel, build_channel_graph, select_units
from lwdna_plugin.core.masking import relative_error, zero_removed_channels
from lwdna_plugin.core.search import bisect_threshold
from tests.families import FAMILIES, MM_FORWARD


def test_resnet50_counts_match_the_paper():
    model = FAMILIES['mmpretrain-resnet50'][0]()
    model.head.fc = torch.nn.Linear(2048, 1000)
    flops, params = count_flops_params(model, input_shape=(1, 3, 224, 224), forward_fn=MM_FORWARD)
    assert abs(flops / 4.1177e9 - 1) <= 0.001, flops
    assert params == 25_557_032


@pytest.mark.parametrize('name', ['resnet18', 'mobilenetv3_large_100'])
def test_same_convention_as_mmengine_flop_analyzer(name):
    """mmengine's FlopAnalyzer with ReLU / hard-swish / hard-sigmoid counted one per element
    and pooling not counted gives the same total."""
    from mmengine.analysis import FlopAnalyzer
    from mmengine.analysis.jit_handles import elementwise_flop_counter

    model = timm.create_model(name, num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    analyzer = FlopAnalyzer(model, (x,))
    per_element = elementwise_flop_counter(0, 1)
    analyzer.set_op_handle(**{f'aten::{op}': per_element for op in ('relu', 'relu_', 'hardswish', 'hardswish_',
                                                                    'hardsigmoid', 'hardsigmoid_')},
                           **{'aten::adaptive_avg_pool2d': lambda inputs, outputs: 0})
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert count_flops_params(model, inputs=x)[0] == analyzer.total()


@pytest.mark.parametrize('family', ['timm-densenet121', 'mmpretrain-regnetx-400mf', 'basicsr-edsr',
                                    'timm-efficientnet_b0'])
def test_cost_table_predicts_any_pruned_network(family, digit_batches, sr_batches):
    build, forward_fn, data, _ = FAMILIES[family]
    x = (digit_batches if data == 'digits' else sr_batches)[0][0][:1]
    graph = build_channel_graph(build(), x, forward_fn)
    table = CostModel(graph)
    rng = np.random.default_rng(0)
    for _ in range(2):
        keep = np.ones(len(graph.unit_group), dtype=bool)
        kept = table.full_units()
        for g in graph.prunable_groups:
            k = int(rng.integers(1, g.num_units + 1))
            keep[g.units] = False
            keep[g.units[rng.choice(g.num_units, k, replace=False)]] = True
            kept[g.index] = k
        pruned = select_units(graph, keep)
        assert count_flops_params(pruned, inputs=x, forward_fn=forward_fn) == \
            (int(round(table.flops(kept))), int(round(table.params(kept))))


def test_bisection_hits_the_target_and_respects_floors():
    rng = np.random.default_rng(0)
    scores = [rng.random(n) for n in (64, 128, 256, 32)]
    weights = np.array([3.0, 1.0, 0.5, 7.0])
    floors = [6, 12, 25, 3]
    result = bisect_threshold(scores, floors, lambda k: float(np.dot(k, weights)), target=250.0, tolerance=1e-3)
    assert result.converged and abs(result.value / 250 - 1) <= 1e-3
    assert all(len(k) >= f for k, f in zip(result.keep_units, floors))
    for s, keep in zip(scores, result.keep_units):      # the survivors are the best-scored units
        assert s[keep].min() >= np.delete(s, keep).max(initial=-np.inf)
    with pytest.raises(InfeasibleTargetError, match='floors'):
        bisect_threshold(scores, floors, lambda k: float(np.dot(k, weights)), target=10.0)
    with pytest.raises(InfeasibleTargetError, match='above'):
        bisect_threshold(scores, floors, lambda k: float(np.dot(k, weights)), target=1e6)


def test_coarse_steps_a_budget_keeps_the_closest_network_under_it():
    """Two groups stepping by 8 units: no network costs 235 within 0.1 %. A FLOPs target takes
    the closest network (over or under); an upper bound (a latency budget) the closest under."""
    scores = [np.linspace(1, 0, 16), np.linspace(1, 0, 16)]
    cost = lambda k: float(10 * k[0] + 10 * k[1])   # noqa: E731
    closest = bisect_threshold(scores, [8, 8], cost, target=235.0, divisors=[8, 8])
    assert closest.value == 240.0 and not closest.converged           # +2.1 % beats -31.9 %
    under = bisect_threshold(scores, [8, 8], cost, target=235.0, divisors=[8, 8], upper_bound=True)
    assert under.value == 160.0 and list(under.kept) == [8, 8]
    within = bisect_threshold(scores, [8, 8], cost, target=239.9, divisors=[8, 8], upper_bound=True)
    assert within.value == 240.0 and within.converged                 # over by less than the tolerance


def test_bisection_is_fast_on_a_real_table(digit_batches):
    result = shrink(timm.create_model('resnet50', num_classes=10), digit_batches, F.cross_entropy,
                    LWDNAConfig(flops_target=0.9, embedding_dim=2))
    assert result.search.time_s < 0.5
    assert result.channel_config['search']['converged']


def test_channel_divisor_rounds_widths_meets_budget_and_stays_exact(digit_batches):
    model = timm.create_model('mobilenetv2_100', num_classes=10)
    x = digit_batches[0][0]
    result = shrink(model, digit_batches, F.cross_entropy,
                    LWDNAConfig(flops_target=0.9, embedding_dim=2, channel_divisor=8))
    for entry in result.channel_config['groups']:
        if not entry['fixed']:
            assert entry['lwdna_channels'] % 8 == 0, entry['name']
    base = count_flops_params(model, inputs=x[:1])[0]
    assert abs(count_flops_params(result.model, inputs=x[:1])[0] / (0.9 * base) - 1) <= 0.005
    reference = zero_removed_channels(result.widened_graph, result.keep_unit).eval()
    with torch.no_grad():
        assert relative_error(result.searched_model.eval()(x), reference(x)) < 1e-5


def test_params_and_absolute_targets(digit_batches):
    model = timm.create_model('resnet18', num_classes=10)
    x = digit_batches[0][0][:1]
    base_flops, base_params = count_flops_params(model, inputs=x)
    by_params = shrink(model, digit_batches, F.cross_entropy, LWDNAConfig(params_target=0.8, embedding_dim=2))
    assert abs(count_flops_params(by_params.model, inputs=x)[1] / (0.8 * base_params) - 1) <= 0.005
    absolute = shrink(model, digit_batches, F.cross_entropy,
                      LWDNAConfig(flops_target_abs=0.8 * base_flops, embedding_dim=2))
    assert abs(count_flops_params(absolute.model, inputs=x)[0] / (0.8 * base_flops) - 1) <= 0.005


@pytest.mark.parametrize('family', ['timm-densenet121', 'mmpretrain-regnetx-400mf', 'basicsr-edsr',
                                    'timm-efficientnet_b0', 'mmpretrain-mobilenetv3-small'])
def test_widened_graph_is_derived_exactly(family, digit_batches, sr_batches):
    """resized_graph (no tracing) describes the widened model exactly as tracing it would."""
    from lwdna_plugin.core.resize import resize_groups, resized_graph

    build, forward_fn, data, _ = FAMILIES[family]
    x = (digit_batches if data == 'digits' else sr_batches)[0][0][:1]
    graph = build_channel_graph(build(), x, forward_fn)
    new_units = {g.index: 2 * g.num_units + 1 for g in graph.prunable_groups}
    wide = resize_groups(graph, new_units)
    derived, traced = resized_graph(graph, wide, new_units), build_channel_graph(wide, x, forward_fn)
    assert [g.members for g in derived.groups] == [g.members for g in traced.groups]
    assert [g.num_units for g in derived.groups] == [g.num_units for g in traced.groups]
    for key, dim in derived.dims.items():
        a, b = derived.units_of(*key), traced.units_of(*key)
        assert np.array_equal(derived.unit_group[a], traced.unit_group[b]), key
        assert np.array_equal(derived.unit_local[a], traced.unit_local[b]), key
    table = CostModel(graph)
    kept = np.asarray([g.num_units for g in derived.groups], dtype=float)
    assert count_flops_params(wide, inputs=x, forward_fn=forward_fn) == \
        (int(round(table.flops(kept))), int(round(table.params(kept))))


def test_widen_doubles_every_prunable_group_and_keeps_io_shapes():
    from lwdna_plugin import widen

    model = FAMILIES['mmpretrain-regnetx-400mf'][0]()
    x = torch.zeros(2, 3, 32, 32)
    wide = widen(model, x[:1], 2.0, MM_FORWARD)
    base_graph = build_channel_graph(model, x[:1], MM_FORWARD)
    wide_graph = build_channel_graph(wide, x[:1], MM_FORWARD)
    for g, w in zip(base_graph.groups, wide_graph.groups):
        assert w.members == g.members
        assert w.num_units == (g.num_units if g.fixed else round(2 * g.num_units))
        assert w.unit_channels == g.unit_channels       # group convs keep their group width
    assert MM_FORWARD(wide.eval(), x).shape == MM_FORWARD(model.eval(), x).shape
    assert wide.backbone.conv1.in_channels == 3
    with pytest.raises(Exception, match='width_mult'):
        widen(model, x[:1], 0.5, MM_FORWARD)


def test_channel_divisor_auto_is_resolved_for_the_device_and_recorded(digit_batches, monkeypatch):
    cfg = LWDNAConfig(flops_target=0.9, embedding_dim=2, channel_divisor='auto')
    here = 16 if torch.backends.cpu.get_cpu_capability().startswith('AVX512') else 8
    assert cfg.for_device(torch.device('cpu')).channel_divisor == here
    assert cfg.for_device(torch.device('cuda')).channel_divisor == 8
    assert LWDNAConfig(flops_target=0.9, channel_divisor=4).for_device(torch.device('cuda')).channel_divisor == 4
    with pytest.raises(ConfigError, match='channel_divisor'):
        LWDNAConfig(flops_target=0.9, channel_divisor='fast')
    result = shrink(timm.create_model('resnet18', num_classes=10), digit_batches, F.cross_entropy, cfg)
    assert result.channel_config['hyperparameters']['channel_divisor'] == here
    widths = [m.out_channels for m in result.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w % here == 0 for w in widths)
    for capability, block in (('AVX512', 16), ('AVX2', 8), ('DEFAULT', 8)):   # the CPU's channel block
        monkeypatch.setattr(torch.backends.cpu, 'get_cpu_capability', lambda c=capability: c)
        assert cfg.for_device(torch.device('cpu')).channel_divisor == block
