"""CUDA checks (``pytest -m cuda``): skipped on machines without a GPU, run by benchmarks/gpu_check.sh."""
from __future__ import annotations

import copy

import pytest
import timm
import torch
import torch.nn.functional as F

from lwdna_plugin import LWDNAConfig, apply_channel_config, count_flops_params, shrink
from lwdna_plugin.core.masking import relative_error, zero_removed_channels

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')]


@pytest.fixture
def cuda_batches(digit_batches):
    return [(x.cuda(), y.cuda()) for x, y in digit_batches]


@pytest.mark.parametrize('criterion', ['gradient', 'magnitude', 'gradient_sum'])
def test_shrink_on_cuda_is_exact_and_on_budget(criterion, cuda_batches):
    torch.manual_seed(0)
    model = timm.create_model('resnet18', num_classes=10).cuda()
    result = shrink(model, cuda_batches, F.cross_entropy,
                    LWDNAConfig(flops_target=0.9, embedding_dim=2, criterion=criterion))
    assert all(p.is_cuda for p in result.model.parameters())
    assert result.channel_config['probe_relative_error'] < 1e-6
    x = cuda_batches[0][0]
    reference = zero_removed_channels(result.widened_graph, result.keep_unit).eval().double()
    with torch.no_grad():
        out = copy.deepcopy(result.searched_model).eval().double()(x.double())
        assert relative_error(out, reference(x.double())) < 1e-9
    base_flops, _ = count_flops_params(model, inputs=x[:1])
    flops, _ = count_flops_params(result.model, inputs=x[:1])
    assert abs(flops / (0.9 * base_flops) - 1) <= 0.005
    rebuilt = apply_channel_config(timm.create_model('resnet18', num_classes=10).cuda(), result.channel_config)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
        {k: v.shape for k, v in result.model.state_dict().items()}


def test_lwdna_model_trains_in_bfloat16_autocast(cuda_batches):
    model = timm.create_model('resnet18', num_classes=10).cuda()
    pruned = shrink(model, cuda_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9, embedding_dim=2)).model
    optimizer = torch.optim.SGD(pruned.parameters(), lr=0.01)
    x, y = cuda_batches[0]
    with torch.autocast('cuda', dtype=torch.bfloat16):
        loss = F.cross_entropy(pruned.train()(x), y)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)


def test_latency_target_on_cuda(cuda_batches, tmp_path, monkeypatch):
    """The latency table and the networks timed on the GPU (channel_divisor='auto': 8 on CUDA)."""
    monkeypatch.setenv('LWDNA_CACHE_DIR', str(tmp_path))
    torch.manual_seed(0)
    model = timm.create_model('resnet18', num_classes=10).cuda()
    cfg = LWDNAConfig(latency_target=0.8, latency_batch=32, embedding_dim=2, channel_divisor='auto')
    result = shrink(model, cuda_batches, F.cross_entropy, cfg)
    lat = result.channel_config['latency']
    assert lat['device'] == torch.cuda.get_device_name() and lat['batch'] == 32
    assert lat['table_points_measured'] > 0 and lat['measured_s'] > 0 and lat['predicted_s'] > 0
    assert result.channel_config['hyperparameters']['channel_divisor'] == 8
    assert all(e['lwdna_channels'] % 8 == 0 for e in result.channel_config['groups'] if not e['fixed'])
