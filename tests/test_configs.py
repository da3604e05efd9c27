"""Every config under configs/ loads and builds; baselines match Table 1; LW-DNA configs carry
the paper's FLOPs ratio."""
from __future__ import annotations

from pathlib import Path

import pytest
from mmengine.config import Config

import lwdna_plugin  # noqa: F401  (registers the plugin)
from lwdna_plugin import count_flops_params
from lwdna_plugin.mmpretrain.model import tensor_forward

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)

# baseline config -> (input size, paper GFLOPs, paper params M, paper LW-DNA GFLOPs)
TABLE1 = {
    'baseline/regnetx_400mf_cifar100.py': (32, 0.4698, 4.810, 0.4610),
    'baseline/regnety_200mf_cifar100.py': (32, 0.2259, 2.831, 0.2095),
    'baseline/regnety_400mf_cifar100.py': (32, 0.4585, 3.947, 0.4468),
    'baseline/regnetx_200mf_cifar100.py': (32, 0.2255, 2.353, 0.2075),
    'baseline/efficientnet_b0_cifar100.py': (32, 0.4161, 4.136, 0.3850),
    'baseline/densenet40_cifar100.py': (32, 0.2901, 1.100, 0.2638),
    'baseline/densenet40_cifar10.py': (32, 0.2901, 1.059, 0.2632),
    'baseline/resnet56_cifar10.py': (32, 0.1274, 0.856, 0.1262),
    'baseline/resnet50_in1k.py': (224, 4.1177, 25.557, 3.7307),
    'baseline/regnetx_4.0gf_in1k.py': (224, 4.0005, 22.118, 3.8199),
    'baseline/mobilenet_v3_small_in1k.py': (224, 0.0612, 3.108, 0.0605),
    'baseline/mobilenet_v1_tinyimagenet.py': (64, 0.0478, 3.412, 0.0460),
    'baseline/mobilenet_v2_tinyimagenet.py': (64, 0.0930, 2.480, 0.0872),
    'baseline/mobilenet_v3_large_tinyimagenet.py': (64, 0.0860, 4.121, 0.0797),
    'baseline/mobilenet_v3_small_tinyimagenet.py': (64, 0.0207, 2.083, 0.0178),
    'baseline/mnasnet_tinyimagenet.py': (64, 0.0271, 3.359, 0.0250),
}

# Rows whose FLOPs miss Table 1 by more than 1 % (see docs/table1_deviations.md). The paper's
# figures for these networks count one FLOP per activation output element and none for
# residual additions or pooling; our convention (the one that gives ResNet50's 4.1177 G) does
# the opposite. Parameters match within 0.02 %; tests/test_table1_paper_flops.py shows the
# paper's figures are reproduced to 0.15 % under the paper's convention.
_ACT = 'paper counts activations, we count adds/pooling'
KNOWN_DEVIATIONS = {
    'baseline/mobilenet_v3_small_in1k.py': f'0.06029 vs 0.0612 GFLOPs (-1.48 %): {_ACT}',
    'baseline/mobilenet_v2_tinyimagenet.py': f'0.09159 vs 0.0930 GFLOPs (-1.52 %): {_ACT}',
    'baseline/mobilenet_v3_large_tinyimagenet.py': f'0.08508 vs 0.0860 GFLOPs (-1.07 %): {_ACT}',
    'baseline/mobilenet_v3_small_tinyimagenet.py': f'0.02044 vs 0.0207 GFLOPs (-1.26 %): {_ACT}',
    'baseline/mnasnet_tinyimagenet.py': f'0.02674 vs 0.0271 GFLOPs (-1.34 %): {_ACT}',
}


def build_model_cfg(cfg):
    """The classifier a config trains (for KD configs: the student; for LW-DNA: its baseline)."""
    from mmpretrain.registry import MODELS

    model = cfg.model
    if model['type'] == 'KDClassifier':
        assert Path(ROOT / model['teacher']['config']).is_file()
        model = model['student']
    if model['type'] == 'LWDNAClassifier':
        model = model['architecture']
    return MODELS.build(model)


@pytest.mark.parametrize('path', CONFIGS, ids=[str(p.relative_to(ROOT / 'configs')) for p in CONFIGS])
def test_config_builds(path):
    from mmpretrain.registry import DATASETS

    cfg = Config.fromfile(path)
    assert cfg.work_dir.startswith('./work_dirs/') and cfg.custom_imports.imports == ['lwdna_plugin']
    assert DATASETS.get(cfg.train_dataloader.dataset.type) is not None
    model = build_model_cfg(cfg)
    assert hasattr(model, 'head')
    if cfg.model['type'] == 'LWDNAClassifier' or cfg.model.get('student', {}).get('type') == 'LWDNAClassifier':
        assert cfg.runner_type == 'LWDNARunner'


@pytest.mark.parametrize('name', [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DEVIATIONS[n])) if n in KNOWN_DEVIATIONS else n
    for n in sorted(TABLE1)])
def test_baseline_matches_table1(name):
    size, gflops, mparams, lwdna_gflops = TABLE1[name]
    model = build_model_cfg(Config.fromfile(ROOT / 'configs' / name))
    flops, params = count_flops_params(model, input_shape=(1, 3, size, size), forward_fn=tensor_forward)
    assert abs(params / 1e6 / mparams - 1) <= 0.01, params
    lwdna = Config.fromfile(ROOT / 'configs' / name.replace('baseline/', 'lwdna/'))
    assert lwdna.model.lwdna.flops_target == pytest.approx(lwdna_gflops / gflops, abs=1e-4)
    assert abs(flops / 1e9 / gflops - 1) <= 0.01, flops   # last: the known deviations fail only here
