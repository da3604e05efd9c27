"""The latency target: the search on a synthetic, deterministic latency, the layer table's disk
cache (keyed, invalidated, data only), config validation, and the wall-clock path's report."""
from __future__ import annotations

import json
import logging
import os
from math import prod

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F

from lwdna_plugin import LWDNAConfig, count_flops_params, shrink
from lwdna_plugin.core.errors import ConfigError, InfeasibleTargetError
from lwdna_plugin.core.latency import LayerSpec, LayerTable, WallClockProfiler, cache_dir, paired_seconds

SECONDS_PER_MAC = 1e-9
OVERHEAD_S = 2e-4


class SyntheticProfiler:
    """A device whose layer takes 1 ns per multiply-add at the batch, and whose network takes
    1 ns per FLOP of the paper's convention plus a fixed overhead: deterministic."""

    quantum = 8   # the channel block: widths are looked up rounded up to it

    def __init__(self, batch: int = 4, version: str = 'synthetic-1'):
        self.batch, self.version = batch, version
        self.layer_calls, self.network_calls = [], 0

    def cache_key(self):
        return {'device': 'synthetic', 'batch': self.batch, 'version': self.version}

    def layer(self, spec: LayerSpec, ci: int, co: int) -> float:
        self.layer_calls.append((spec, ci, co))
        per_out = ci // (co // spec.out_per_group) if spec.grouped else ci
        return SECONDS_PER_MAC * self.batch * prod(spec.shape) * co * per_out * prod(spec.kernel or (1,))

    def networks(self, models, example, forward_fn=None, rounds=None):
        self.network_calls += len(models)
        return [SECONDS_PER_MAC * self.batch * count_flops_params(m, inputs=example, forward_fn=forward_fn)[0]
                + OVERHEAD_S for m in models]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('LWDNA_CACHE_DIR', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


def _resnet():
    torch.manual_seed(0)
    return timm.create_model('resnet18', num_classes=10)


def test_latency_target_hits_its_budget_on_a_synthetic_device(digit_batches, cache):
    model = _resnet()
    x = digit_batches[0][0][:1]
    profiler = SyntheticProfiler()
    base_s = profiler.networks([model], x)[0]
    cfg = LWDNAConfig(latency_target=0.6, width_mult=1.5, embedding_dim=2, channel_divisor=8)
    result = shrink(model, digit_batches, F.cross_entropy, cfg, latency_profiler=profiler)
    lat = result.channel_config['latency']
    assert lat['baseline_s'] == pytest.approx(base_s)
    measured = profiler.networks([result.model], x)[0]
    assert measured == pytest.approx(lat['measured_s'])           # the report measured this network
    assert measured / base_s <= 0.6 * 1.01                         # on budget as measured
    assert measured / base_s >= 0.6 * 0.95
    assert abs(lat['predicted_s'] / measured - 1) <= 0.10          # the table's prediction
    assert 1 <= len(lat['rounds']) <= 4
    assert result.channel_config['target'] == {'kind': 'latency', 'value': pytest.approx(0.6 * base_s)}
    summary = result.summary()
    assert summary['latency target ratio (%)'] == pytest.approx(60.0)
    assert summary['latency ratio measured (%)'] == pytest.approx(100 * measured / base_s, rel=1e-3)
    # on this device latency is FLOPs: the latency-target network costs what its measurement says
    assert count_flops_params(result.model, inputs=x)[0] == pytest.approx(
        (measured - OVERHEAD_S) / (SECONDS_PER_MAC * profiler.batch))
    # each distinct layer is measured at the corners of its range once; the networks a few times
    assert len(profiler.layer_calls) == len(set(profiler.layer_calls))
    assert profiler.network_calls <= 2 + 2 * 4 + 1


class BumpProfiler(SyntheticProfiler):
    """The synthetic device with a slowdown the table cannot see: zero at the baseline and at
    the floors network (which the rest is fitted on), up to ``bump`` in between."""

    def __init__(self, base_flops: float, low_flops: float, bump: float = 0.12):
        super().__init__()
        self.base_flops, self.low_flops, self.bump = base_flops, low_flops, bump

    def networks(self, models, example, forward_fn=None, rounds=None):
        seconds = super().networks(models, example, forward_fn)
        flops = [count_flops_params(m, inputs=example, forward_fn=forward_fn)[0] for m in models]
        where = [min(max((f - self.low_flops) / (self.base_flops - self.low_flops), 0), 1) for f in flops]
        return [s * (1 + self.bump * np.sin(np.pi * w)) for s, w in zip(seconds, where)]


def test_latency_rounds_correct_a_table_that_misses(digit_batches, cache):
    """The first search lands ~10 % over on this device; the measured rounds bring the kept
    network under the budget (at most 1 % over as measured), every round before it outside
    the window, and the report names the round kept."""
    model = _resnet()
    x = digit_batches[0][0][:1]
    cfg = LWDNAConfig(latency_target=0.6, width_mult=1.5, embedding_dim=2, channel_divisor=8)
    floors = shrink(model, digit_batches, F.cross_entropy, cfg, latency_profiler=SyntheticProfiler())
    low_flops = floors.channel_config['latency']['floors_s']   # on the synthetic device: seconds -> FLOPs
    base_flops = count_flops_params(model, inputs=x)[0]
    profiler = BumpProfiler(base_flops, (low_flops - OVERHEAD_S) / (SECONDS_PER_MAC * 4))
    result = shrink(model, digit_batches, F.cross_entropy, cfg, latency_profiler=profiler)
    lat = result.channel_config['latency']
    rounds, target = lat['rounds'], lat['target_s']
    assert len(rounds) >= 2 and rounds[0]['measured_s'] > target * 1.01
    assert all(r['predicted_s'] <= target * 1.001 for r in rounds)   # every search: under the budget as predicted
    assert all(not 0.97 <= r['measured_s'] / target <= 1.01 for r in rounds[:-1])
    kept = rounds[lat['chosen_round'] - 1]
    assert kept['measured_s'] == lat['measured_s'] <= target * 1.01
    assert profiler.networks([model, result.model], x)[1] == pytest.approx(lat['measured_s'])
    assert not any('network measured' in w for w in result.channel_config['warnings'])


class JitteryProfiler(SyntheticProfiler):
    """The synthetic device whose candidate measurements swing +20 % / -15 % in turn: more
    timing noise than the rounds' window (the calibration networks are exact)."""

    def __init__(self):
        super().__init__()
        self.candidates = 0

    def networks(self, models, example, forward_fn=None, rounds=None):
        seconds = super().networks(models, example, forward_fn)
        if rounds is None:   # a round's measurement: [baseline, candidate]
            seconds[1] *= (1.20, 0.85)[self.candidates % 2]
            self.candidates += 1
        return seconds


def test_latency_rounds_on_a_device_noisier_than_the_window(digit_batches, cache):
    """No round lands in the window: all four are measured, the kept one is the slowest measured
    under the budget, and the warning says the network keeps fewer channels than allowed."""
    cfg = LWDNAConfig(latency_target=0.6, width_mult=1.5, embedding_dim=2, channel_divisor=8)
    result = shrink(_resnet(), digit_batches, F.cross_entropy, cfg, latency_profiler=JitteryProfiler())
    lat = result.channel_config['latency']
    measured = [r['measured_s'] / lat['target_s'] for r in lat['rounds']]
    assert len(measured) == 4 and all(m > 1.01 or m < 0.97 for m in measured)
    under = [m for m in measured if m <= 1.01]
    assert under and lat['measured_s'] / lat['target_s'] == pytest.approx(max(under))
    assert any('keeps fewer channels than the budget allows' in w for w in result.channel_config['warnings'])
    assert not any('the search ended' in w for w in result.channel_config['warnings'])   # the window decides


def test_paired_seconds_cancels_drift_between_rounds():
    """Each round runs the reference and the others back to back: a round twice as slow for
    all (the machine's drift) leaves the ratio; the reference is its own median."""
    rounds = np.array([[1.0, 0.90, 1.10], [2.0, 1.80, 2.20], [1.0, 0.91, 1.12], [1.1, 0.99, 1.21], [3.0, 2.6, 3.3]])
    reference, faster, slower = paired_seconds(rounds)
    assert reference == pytest.approx(1.1)
    assert faster == pytest.approx(1.1 * 0.90) and slower == pytest.approx(1.1 * 1.10)
    assert paired_seconds(rounds[:, :1]) == [pytest.approx(1.1)]


def test_absolute_latency_target_in_milliseconds(digit_batches, cache):
    model = _resnet()
    profiler = SyntheticProfiler()
    base_s = profiler.networks([model], digit_batches[0][0][:1])[0]
    cfg = LWDNAConfig(latency_target_ms=1e3 * 0.7 * base_s, width_mult=1.5, embedding_dim=2, channel_divisor=8)
    lat = shrink(model, digit_batches, F.cross_entropy, cfg, latency_profiler=profiler).channel_config['latency']
    assert lat['target_s'] == pytest.approx(0.7 * base_s)
    assert lat['measured_s'] <= 0.7 * base_s * 1.01


def test_unreachable_latency_target_fails_before_scoring(digit_batches, cache, monkeypatch):
    from lwdna_plugin.core import hypernet

    def never(*args, **kwargs):
        raise AssertionError('scored although the target is unreachable')
    monkeypatch.setattr(hypernet.HyperScorer, 'score', never)
    cfg = LWDNAConfig(latency_target=0.05, width_mult=1.5, embedding_dim=2)
    with pytest.raises(InfeasibleTargetError, match='latency target .* below what the floors already keep'):
        shrink(_resnet(), digit_batches, F.cross_entropy, cfg, latency_profiler=SyntheticProfiler())


def test_layer_table_cache_is_keyed_and_reused(tmp_path):
    spec = LayerSpec('conv2d', (8, 8), (3, 3), (1, 1), (1, 1), (1, 1))
    first = SyntheticProfiler()
    table = LayerTable(first, str(tmp_path))
    values = [table(spec, 16, c) for c in (8, 16, 24)]
    assert table.measured == 3 and table.reused == 0
    table.save()
    assert os.path.isfile(table.path) and os.path.dirname(table.path) == str(tmp_path / 'latency')
    again = SyntheticProfiler()
    cached = LayerTable(again, str(tmp_path))
    assert [cached(spec, 16, c) for c in (8, 16, 24)] == values
    assert again.layer_calls == [] and cached.reused == 3
    # another batch or library version is another table: measured again, the first file kept
    for other in (SyntheticProfiler(batch=8), SyntheticProfiler(version='synthetic-2')):
        fresh = LayerTable(other, str(tmp_path))
        assert fresh.path != table.path
        fresh(spec, 16, 8)
        assert len(other.layer_calls) == 1
    # no cache directory: nothing read or written
    none = LayerTable(SyntheticProfiler(), None)
    none(spec, 16, 8)
    none.save()
    assert none.path is None


@pytest.mark.parametrize('content', [
    '{not json',
    json.dumps({'key': {'device': 'another'}, 'layers': {}}),
    json.dumps({'key': None, 'layers': []}),
    'BAD-KEY',
    'NEGATIVE',
])
def test_corrupt_or_foreign_cache_is_ignored_and_rewritten(tmp_path, caplog, content):
    spec = LayerSpec('linear', (), bias=True)
    profiler = SyntheticProfiler()
    table = LayerTable(profiler, str(tmp_path))
    os.makedirs(os.path.dirname(table.path))
    if content == 'BAD-KEY':
        content = json.dumps({'key': profiler.cache_key(), 'layers': {f'{spec.name()}|4|4': 'os.system("x")'}})
    if content == 'NEGATIVE':
        content = json.dumps({'key': profiler.cache_key(), 'layers': {f'{spec.name()}|4|4': -1.0}})
    with open(table.path, 'w') as f:
        f.write(content)
    with caplog.at_level(logging.WARNING, logger='lwdna_plugin'):
        reread = LayerTable(profiler, str(tmp_path))
    assert 'ignoring the latency cache' in caplog.text
    assert reread(spec, 4, 4) > 0 and len(profiler.layer_calls) == 1
    reread.save()
    with open(reread.path) as f:
        data = json.load(f)
    assert data['key'] == profiler.cache_key() and list(data['layers']) == [f'{spec.name()}|4|4']


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv('LWDNA_CACHE_DIR', str(tmp_path / 'a'))
    assert cache_dir() == str(tmp_path / 'a')
    monkeypatch.delenv('LWDNA_CACHE_DIR')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert cache_dir() == str(tmp_path / 'xdg' / 'lwdna_plugin')


@pytest.mark.parametrize('values, message', [
    (dict(latency_target=0.8, flops_target=0.8), 'exactly one target'),
    (dict(latency_target=-1), 'latency_target must be a positive number'),
    (dict(latency_target_ms=float('nan')), 'latency_target_ms must be a positive number'),
    (dict(latency_target=0.8, latency_batch=0), 'latency_batch must be a positive integer'),
    (dict(latency_target=0.8, latency_dtype='int8'), 'latency_dtype must be one of'),
    (dict(latency_target=0.8, latency_device='gpu7'), 'latency_device must be a torch device'),
    (dict(latency_target=0.8, latency_cache='yes'), 'latency_cache must be true or false'),
])
def test_latency_config_validation(values, message):
    with pytest.raises(ConfigError, match=message):
        LWDNAConfig.from_dict(values)


def test_wall_clock_latency_target_reports_prediction_and_measurement(digit_batches, cache):
    """The real timer: a cached table, the rounds, predicted and measured latency recorded (how
    close they come is the benchmark's business: benchmarks/latency.py)."""
    model = _resnet()
    cfg = LWDNAConfig(latency_target=0.8, width_mult=1.5, embedding_dim=2, channel_divisor='auto', latency_batch=2)
    result = shrink(model, digit_batches, F.cross_entropy, cfg)
    lat = result.channel_config['latency']
    assert lat['device'].endswith('threads)') and lat['dtype'] == 'float32' and lat['batch'] == 2
    assert lat['table_points_measured'] > 0 and lat['cache_file'] in os.listdir(cache / 'latency')
    assert 0 < lat['floors_s'] and 0 < lat['baseline_s'] and lat['predicted_s'] > 0 and lat['measured_s'] > 0
    assert len(lat['rounds']) == len([r for r in lat['rounds'] if r['measured_s'] > 0]) <= 4
    assert result.channel_config['timings']['latency_model_s'] > 0
    block = result.channel_config['hyperparameters']['channel_divisor']   # 'auto': 8 or 16 here
    assert block in (8, 16)
    assert all(e['lwdna_channels'] % block == 0 for e in result.channel_config['groups'] if not e['fixed'])
    again = shrink(model, digit_batches, F.cross_entropy, cfg).channel_config['latency']
    assert again['table_points_measured'] == 0 and again['table_points_cached'] > 0


def test_shrink_cli_takes_a_latency_target(tmp_path, cache, capsys):
    from lwdna_plugin.cli.shrink import main

    work = tmp_path / 'work'
    assert main(['resnet10t', '--work-dir', str(work), '--embedding-dim', '2', '--batch-size', '8',
                 '--latency-target', '0.9', '--latency-batch', '2', '--width-mult', '1.5']) == 0
    config = json.loads((work / 'lwdna_channels.json').read_text())
    assert config['target']['kind'] == 'latency' and config['latency']['batch'] == 2
    assert config['hyperparameters']['latency_target'] == 0.9
    assert 'latency ratio measured (%)' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(['resnet10t', '--work-dir', str(tmp_path / 'w2'), '--latency-target', '0.9', '--latency-dtype', 'int8'])
    assert exit_.value.code == 2 and not (tmp_path / 'w2').exists()
