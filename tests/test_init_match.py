"""Rebuilt LW-DNA networks start from their architecture's own initialisation scheme."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lwdna_plugin import LWDNAConfig, apply_channel_config, shrink
from lwdna_plugin.core.groups import CONV_TYPES
from lwdna_plugin.core.init_match import fan_mode, fans
from tests.families import MM_FORWARD, _mm


def _basicsr(arch):
    from tests.conftest import import_basicsr
    import_basicsr()
    from basicsr.archs.edsr_arch import EDSR
    from basicsr.archs.rrdbnet_arch import RRDBNet
    if arch == 'RRDBNet':   # 0.1-scaled Kaiming in its dense blocks, PyTorch's default elsewhere
        return RRDBNet(3, 3, scale=4, num_feat=32, num_block=2, num_grow_ch=16)
    return EDSR(3, 3, num_feat=32, num_block=2, upscale=4)


CASES = {
    'basicsr-edsr': (lambda: _basicsr('EDSR'), None, 'sr', F.l1_loss),
    'basicsr-rrdbnet': (lambda: _basicsr('RRDBNet'), None, 'sr', F.l1_loss),
    'mmpretrain-resnet18-cifar': (lambda: _mm(dict(type='ResNet_CIFAR', depth=18, base_channels=32), 256),
                                  MM_FORWARD, 'digits', F.cross_entropy),
}


def layer_statistics(baseline: nn.Module, rebuilt: nn.Module):
    """Per resized conv / linear weight: (its std, the std the baseline layer's scheme gives at
    the new fan); per resized constant parameter: (its values, the baseline's value)."""
    mode = 0 if fan_mode(baseline) == 'fan_in' else 1
    old = dict(baseline.named_modules())
    stds, constants = [], []
    for name, layer in rebuilt.named_modules():
        before = old[name]
        for pname, p in layer.named_parameters(recurse=False):
            q = getattr(before, pname)
            if p.shape == q.shape:
                continue
            if float(q.std()) == 0:
                constants.append((p.detach(), float(q.flatten()[0])))
            elif pname == 'weight' and isinstance(layer, CONV_TYPES + (nn.Linear,)) and p.numel() >= 2000:
                ratio = fans(q)[mode] / fans(p)[mode]
                stds.append((float(p.std()), float(q.std()) * math.sqrt(ratio)))
    return stds, constants


@pytest.mark.parametrize('case', sorted(CASES))
def test_rebuilt_layers_follow_the_baseline_init(case, digit_batches, sr_batches):
    build, forward_fn, data, loss = CASES[case]
    batches = digit_batches if data == 'digits' else sr_batches
    torch.manual_seed(0)
    config = shrink(build(), batches, loss, LWDNAConfig(flops_target=0.8, embedding_dim=2),
                    forward_fn=forward_fn).channel_config
    torch.manual_seed(1)
    baseline = build()
    rebuilt = apply_channel_config(baseline, config, forward_fn=forward_fn)
    stds, constants = layer_statistics(baseline, rebuilt)
    assert len(stds) >= 3
    for std, expected in stds:
        assert std == pytest.approx(expected, rel=0.1)
    for values, value in constants:
        assert torch.all(values == value)

    if case == 'basicsr-rrdbnet':   # PyTorch's default init would be ~2.4x too large there
        from lwdna_plugin.core.groups import build_channel_graph
        from lwdna_plugin.core.resize import resize_groups
        graph = build_channel_graph(baseline, batches[0][0][:1])
        default = resize_groups(graph, {g['index']: g['kept_units'] for g in config['groups']},
                                init_like_baseline=False)
        default_stds, _ = layer_statistics(baseline, default)
        assert max(s / e for s, e in default_stds) > 2
