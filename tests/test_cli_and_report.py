"""tools/shrink.py end to end on real data, its outputs, and its refusals."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
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
    # the saved weights are a fresh initialisation of the LW-DNA network (not the search's
    # weights, which reach 1e6 and more after its SGD steps): finite in eval, baseline-sized
    with torch.no_grad():
        assert torch.isfinite(model.eval()(torch.randn(2, 3, 32, 32))).all()
    assert max(float(p.abs().max()) for p in model.parameters()) < 10
    info = json.loads((work / 'lwdna_model.json').read_text())
    assert info['builder']['name'] == 'resnet18' and 'from scratch' in info['weights_are']


def test_a_config_that_does_not_parse_is_one_error_line(tmp_path):
    broken = tmp_path / 'broken.py'
    broken.write_text("model = dict(type='ImageClassifier',\n")
    proc = run_shrink(broken, '--data', 'digits', '--work-dir', tmp_path / 'work')
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]   # (mmcv warns on import)
    assert len(errors) == 1 and 'Traceback' not in proc.stderr
    assert errors[0].startswith('error: cannot build the model of config') and 'SyntaxError' in errors[0]
    assert not (tmp_path / 'work').exists() or not any((tmp_path / 'work').iterdir())


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


def load_shrink_tool():
    spec = importlib.util.spec_from_file_location('lwdna_shrink_tool', ROOT / 'tools' / 'shrink.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def image_folder(root: Path, classes: int, per_class: int = 6) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f'class{c}').mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(root / f'class{c}' / f'{i}.png')
    return root


def snapshot(folder: Path):
    """Every file under ``folder`` (relative path) with its bytes and mtime."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob('*')) if p.is_file()}


def unreadable_image(tmp_path):
    root = image_folder(tmp_path / 'bad_images', 2)
    (root / 'class0' / 'broken.png').write_bytes(b'not an image')
    return ['--data', root, '--batch-size', '16']


@pytest.mark.parametrize('args,phrase', [
    (['--data', 'no/such/dir'], "data directory 'no/such/dir' does not exist"),
    (['--rho', '1.5'], 'rho must be in (0, 1]'),
    (['--flops-target', '0.01'], 'floors already keep'),
    (['--flops-target', 'nan'], 'flops_target must be a positive number'),
    (['--width-mult', 'inf'], 'width_mult must be >= 1'),
    (['--seed', '-1'], 'seed must be an integer'),
    (['--input-size', '0'], '--input-size must be a positive'),
    (['--batch-size', '0'], '--batch-size must be at least 2'),
    (['--batch-size', '1'], '--batch-size must be at least 2'),
    (['--num-classes', '0'], '--num-classes must be at least 2'),
    (['--num-classes', '-3'], '--num-classes must be at least 2'),
    (['--num-classes', '5'], '--num-classes 5 is fewer than the 10 classes'),
    (['--device', 'nonsense'], "--device 'nonsense' is not usable here"),
    (lambda tmp: ['--data', image_folder(tmp / 'one_class', 1)], 'holds 1 class folder(s)'),
    (unreadable_image, "cannot read the data in"),
    (lambda tmp: ['--work-dir', tmp / 'work' / 'notes.txt'], 'is a file, not a directory'),
])
def test_bad_input_exits_2_and_keeps_the_work_dir(args, phrase, tmp_path, capsys):
    """The CLI's bad-input matrix (in process): one ``error:`` line, exit 2, and every file of
    the work dir as it was, including a user's own file named like a temporary of ours."""
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'notes.txt').write_text('keep me')
    (work / 'lwdna_channels.json.tmp').write_text('also mine')
    before = snapshot(work)
    args = args(tmp_path) if callable(args) else args
    code = load_shrink_tool().main(['resnet10t', '--work-dir', str(work), '--embedding-dim', '2',
                                    *map(str, args)])
    err = capsys.readouterr().err
    assert code == 2 and phrase in err and err.count('error:') == 1, err
    assert snapshot(work) == before and sorted(os.listdir(work)) == ['lwdna_channels.json.tmp', 'notes.txt']


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA machine can use --device cuda')
def test_cuda_device_on_a_machine_without_one(tmp_path, capsys):
    assert load_shrink_tool().main(['resnet10t', '--work-dir', str(tmp_path / 'w'), '--device', 'cuda']) == 2
    assert "--device 'cuda' is not usable here" in capsys.readouterr().err and not (tmp_path / 'w').exists()


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only directories')
def test_read_only_work_dir_fails_before_the_shrink(tmp_path, capsys):
    work = tmp_path / 'work'
    work.mkdir()
    work.chmod(0o555)
    try:
        assert load_shrink_tool().main(['resnet10t', '--work-dir', str(work)]) == 2
    finally:
        work.chmod(0o755)
    assert 'is not writable' in capsys.readouterr().err and os.listdir(work) == []


def test_ctrl_c_during_scoring_leaves_the_work_dir_as_it_was(tmp_path):
    """SIGINT while the search steps run: exit 130, one error line, nothing written or left."""
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'notes.txt').write_text('keep me')
    before = snapshot(work)
    proc = subprocess.Popen([sys.executable, str(ROOT / 'tools' / 'shrink.py'), 'resnet18', '--work-dir', str(work),
                             '--embedding-dim', '2', '--batch-size', '16', '--num-batches', '40'],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if 'scored batch 1/40' in line:
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=300)[1]
    assert proc.returncode == 130, ''.join(lines) + rest
    assert 'error: interrupted' in rest and 'Traceback' not in rest
    assert snapshot(work) == before and os.listdir(work) == ['notes.txt']


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


def test_layer_table_leaves_out_head_counts_of_zero():
    """HiViT's MLP-only blocks hold ``num_heads = 0``: no heads row (and no division by zero)."""
    from lwdna_plugin.core.report import layer_table
    block = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 4))
    block.num_heads = 0
    assert [r['layer'] for r in layer_table(block, block)] == ['0', '1']


def test_saved_weights_of_a_shared_module_load_strictly(tmp_path):
    """A module shared between blocks (EVA-02's rotary embedding) puts one tensor under several
    keys; safetensors refuses shared memory, so each key gets its own copy."""
    from safetensors.torch import load_file

    from lwdna_plugin.cli.shrink import save_weights
    shared = nn.Linear(3, 3)
    model = nn.Sequential(nn.Sequential(shared), nn.Sequential(shared))
    save_weights(model, tmp_path / 'w.safetensors')
    fresh = nn.Sequential(nn.Sequential(nn.Linear(3, 3)), nn.Sequential(nn.Linear(3, 3)))
    fresh.load_state_dict(load_file(tmp_path / 'w.safetensors'))   # strict: every key present
    assert torch.equal(fresh[1][0].weight, shared.weight)
