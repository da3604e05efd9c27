"""tools/shrink.py end to end on real data, its outputs, and its refusals."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]


def run_shrink(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / 'tools' / 'shrink.py'), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_timm_model_on_digits(tmp_path):
    work = tmp_path / 'work'
    proc = run_shrink('resnet18', '--data', 'digits', '--work-dir', work, '--embedding-dim', '2', '--batch-size', '32')
    assert proc.returncode == 0, proc.stderr
    assert 'FLOPs ratio (%)' in proc.stdout
    config = json.loads((work / 'lwdna_channels.json').read_text())
    assert config['format'] == 'lwdna-channel-config' and config['version'] == 1
    assert abs(config['flops']['lwdna'] / (0.9 * config['flops']['baseline']) - 1) <= 0.005
    assert set(config['timings']) >= {'grouping_s', 'scoring_s', 'search_s', 'total_s'}
    import lwdna_plugin
    assert config['environment']['lwdna_plugin'] == lwdna_plugin.__version__   # same seed, same draws per version
    assert (work / 'lwdna_channels.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    report = (work / 'lwdna_report.md').read_text()
    assert '| layer' in report and 'layer4.1.conv2' in report

    from lwdna_plugin.timm import create_lwdna_model
    model = create_lwdna_model(work / 'lwdna_channels.json')
    model.load_state_dict(load_file(work / 'lwdna_model.safetensors'), strict=True)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert json.loads((work / 'lwdna_model.json').read_text())['builder']['name'] == 'resnet18'


def test_mmpretrain_config_on_an_image_folder(tmp_path):
    from PIL import Image
    from lwdna_plugin.data import DigitsDataset

    ds = DigitsDataset('train', size=32)
    for i in range(48):
        label = int(ds.targets[i]) % 3
        folder = tmp_path / 'images' / f'class{label}'
        folder.mkdir(parents=True, exist_ok=True)
        img = ((ds.images[i, 0] * 0.4 + 0.3).clamp(0, 1) * 255).byte().numpy()
        Image.fromarray(img).convert('RGB').save(folder / f'{i}.png')
    cfg = tmp_path / 'resnet18_cifar_3cls.py'
    cfg.write_text("model = dict(type='ImageClassifier', backbone=dict(type='ResNet_CIFAR', depth=18),\n"
                   "             neck=dict(type='GlobalAveragePooling'),\n"
                   "             head=dict(type='LinearClsHead', num_classes=3, in_channels=512,\n"
                   "                       loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))\n")
    proc = run_shrink(cfg, '--data', tmp_path / 'images', '--work-dir', tmp_path / 'work', '--batch-size', '16',
                      '--embedding-dim', '2', '--flops-target', '0.8')
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / 'work' / 'lwdna_channels.json').read_text())
    assert config['model']['builder'] == {'zoo': 'mmpretrain', 'config': cfg.name}
    assert abs(config['flops']['lwdna'] / (0.8 * config['flops']['baseline']) - 1) <= 0.005


@pytest.mark.parametrize('args,phrase', [
    (['--data', 'no/such/dir'], "data directory 'no/such/dir' does not exist"),
    (['--rho', '1.5'], 'rho must be in (0, 1]'),
    (['--flops-target', '0.01'], 'floors already keep'),
])
def test_bad_input_exits_2_and_keeps_the_work_dir(args, phrase, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'notes.txt').write_text('keep me')
    proc = run_shrink('resnet18', '--work-dir', work, '--embedding-dim', '2', *args)
    assert proc.returncode == 2
    assert phrase in proc.stderr and proc.stderr.count('error:') == 1
    assert sorted(os.listdir(work)) == ['notes.txt'] and (work / 'notes.txt').read_text() == 'keep me'


def test_earlier_results_are_not_overwritten(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'lwdna_channels.json').write_text('{"earlier": true}')
    proc = run_shrink('resnet18', '--work-dir', work)
    assert proc.returncode == 2 and '--overwrite' in proc.stderr
    assert (work / 'lwdna_channels.json').read_text() == '{"earlier": true}'


def test_unknown_model_name(tmp_path):
    proc = run_shrink('no_such_net', '--work-dir', tmp_path / 'w')
    assert proc.returncode == 2 and 'neither a timm model name' in proc.stderr
