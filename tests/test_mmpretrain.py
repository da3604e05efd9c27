"""mmpretrain integration end to end: our tools, mmpretrain's stock train script, resume,
test, two-process DDP (gloo), and bad input — all on the embedded digits data."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lwdna_plugin.core.safe_load import NAMED_SAFE_GLOBALS_TORCH, torch_version
from lwdna_plugin.mmpretrain import load_mmengine_checkpoint

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / 'configs' / 'lwdna' / 'demo_digits.py'
LATENCY_DEMO = ROOT / 'configs' / 'lwdna' / 'demo_digits_latency.py'
SHORT = ['--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1']


def run(*args, timeout=900):
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)
    return proc, proc.stdout + proc.stderr


def last_accuracy(log: str) -> float:
    return float(re.findall(r'accuracy/top1: ([0-9.]+)', log)[-1])


@pytest.mark.skipif(torch_version() < NAMED_SAFE_GLOBALS_TORCH,
                    reason='resume / test load mmengine checkpoints: refused before torch 2.6 (test_security)')
def test_train_resume_and_test_the_demo(tmp_path):
    work = tmp_path / 'work'
    proc, log = run('tools/train.py', DEMO, '--work-dir', work, *SHORT)
    assert proc.returncode == 0, log[-3000:]
    config = json.loads((work / 'lwdna_channels.json').read_text())
    assert abs(config['flops']['lwdna'] / (0.9 * config['flops']['baseline']) - 1) <= 0.005
    assert (work / 'lwdna_channels.png').read_bytes()[:4] == b'\x89PNG'
    assert '| layer' in (work / 'lwdna_report.md').read_text()
    assert (work / 'epoch_1.pth').is_file() and list(work.glob('*/*.log'))
    assert 'LW-DNA: scored batch 2/2' in log and 'LW-DNA result' in log and 'top-1 accuracy' in log
    meta = load_mmengine_checkpoint(work / 'epoch_1.pth')['meta']
    assert meta['lwdna_channel_config'] == config
    shapes = {k: v.shape for k, v in load_mmengine_checkpoint(work / 'epoch_1.pth')['state_dict'].items()}

    # resume: same architecture, no second scoring
    proc, log2 = run('tools/train.py', DEMO, '--work-dir', work, '--resume',
                     '--cfg-options', 'train_cfg.max_epochs=2', 'train_cfg.val_interval=1')
    assert proc.returncode == 0, log2[-3000:]
    assert 'scored batch' not in log2 and 'rebuilding the architecture from the channel config' in log2
    assert 'resumed epoch: 1' in log2
    resumed = load_mmengine_checkpoint(work / 'epoch_2.pth')['state_dict']
    assert {k: v.shape for k, v in resumed.items()} == shapes

    # test.py on the checkpoint reproduces the last validation accuracy
    proc, log3 = run('tools/test.py', DEMO, work / 'epoch_2.pth', '--work-dir', tmp_path / 'test')
    assert proc.returncode == 0, log3[-3000:]
    assert last_accuracy(log3) == pytest.approx(last_accuracy(log2), abs=1e-4)

    # a baseline checkpoint is refused by the LW-DNA config, clearly
    proc, log4 = run('tools/train.py', ROOT / 'configs' / 'baseline' / 'demo_digits.py', '--work-dir',
                     tmp_path / 'base', '--cfg-options', 'train_cfg.max_epochs=1')
    assert proc.returncode == 0, log4[-3000:]
    proc, log5 = run('tools/test.py', DEMO, tmp_path / 'base' / 'epoch_1.pth', '--work-dir', tmp_path / 'test2')
    assert proc.returncode == 2 and 'holds no LW-DNA channel config' in log5

    # LW-DNA + knowledge distillation from that baseline (the paper's KD rows)
    proc, log6 = run('tools/train.py', ROOT / 'configs' / 'lwdna' / 'demo_digits_kd.py', '--work-dir', tmp_path / 'kd',
                     '--cfg-options', 'train_cfg.max_epochs=1', f'model.teacher.checkpoint={tmp_path / "base" / "epoch_1.pth"}')
    assert proc.returncode == 0, log6[-3000:]
    assert 'loss_ce:' in log6 and 'loss_kd:' in log6 and 'scored batch 2/2' in log6
    kd_meta = load_mmengine_checkpoint(tmp_path / 'kd' / 'epoch_1.pth')['meta']
    assert kd_meta['lwdna_channel_config']['format'] == 'lwdna-channel-config'


def test_kd_loss_is_hintons():
    from lwdna_plugin.mmpretrain import kd_loss

    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        s, t = torch.randn(5, 10, generator=g) * 5, torch.randn(5, 10, generator=g) * 5
        q, log_p = torch.softmax(t / 4, 1), torch.log_softmax(s / 4, 1)
        manual = (q * (q.log() - log_p)).sum(1).mean() * 16
        assert torch.allclose(kd_loss(s, t, 4.0), manual, atol=1e-6)
        assert kd_loss(t, t, 4.0) == 0  # same logits: exactly no loss (log-space KL)


def test_stock_mmpretrain_train_script(tmp_path):
    import mmpretrain
    stock = Path(mmpretrain.__file__).parent / '.mim' / 'tools' / 'train.py'
    proc, log = run(stock, DEMO, '--work-dir', tmp_path, '--cfg-options', 'train_cfg.max_epochs=1',
                    'env_cfg.dist_cfg.backend=gloo')
    assert proc.returncode == 0, log[-3000:]
    assert json.loads((tmp_path / 'lwdna_channels.json').read_text())['format'] == 'lwdna-channel-config'
    assert (tmp_path / 'epoch_1.pth').is_file()


def test_two_process_ddp_builds_one_architecture(tmp_path):
    proc, log = run('-m', 'torch.distributed.run', '--nproc_per_node', '2', '--standalone',
                    'tools/train.py', DEMO, '--launcher', 'pytorch', '--work-dir', tmp_path,
                    '--cfg-options', 'train_cfg.max_epochs=1', 'train_dataloader.batch_size=32')
    assert proc.returncode == 0, log[-4000:]
    # DDP checks that every rank holds the same parameter shapes; only rank 0 scored
    assert log.count('scored batch 2/2') == 1
    assert (tmp_path / 'epoch_1.pth').is_file()


def test_latency_target_config_measures_on_the_training_device(tmp_path, monkeypatch):
    """configs/lwdna/demo_digits_latency.py: the budget is timed on the device the model trains
    on (CPU here) at the config's batch, the table cached where LWDNA_CACHE_DIR says, and the
    kept round recorded in the channel config and the checkpoint; floors that already cost more
    than the budget (rho 1: the widened widths) are refused before training."""
    monkeypatch.setenv('LWDNA_CACHE_DIR', str(tmp_path / 'cache'))
    work = tmp_path / 'work'
    proc, log = run('tools/train.py', LATENCY_DEMO, '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=1')
    assert proc.returncode == 0, log[-3000:]
    config = json.loads((work / 'lwdna_channels.json').read_text())
    lat = config['latency']
    assert config['target'] == {'kind': 'latency', 'value': pytest.approx(0.9 * lat['baseline_s'])}
    assert lat['batch'] == 64 and lat['dtype'] == 'float32' and lat['device'].endswith('threads)')
    assert 1 <= len(lat['rounds']) <= 4 and lat['measured_s'] == lat['rounds'][lat['chosen_round'] - 1]['measured_s']
    assert os.listdir(tmp_path / 'cache' / 'latency') == [lat['cache_file']]
    assert 'latency round 1: predicted' in log and 'LW-DNA result' in log
    if torch_version() >= NAMED_SAFE_GLOBALS_TORCH:   # mmengine checkpoints are refused before (test_security)
        assert load_mmengine_checkpoint(work / 'epoch_1.pth')['meta']['lwdna_channel_config'] == config
    proc, log = run('tools/train.py', LATENCY_DEMO, '--work-dir', tmp_path / 'refused', '--cfg-options',
                    'model.lwdna.rho=1.0')
    assert proc.returncode == 2 and 'below what the floors already keep' in log
    assert not (tmp_path / 'refused').exists()


@pytest.mark.parametrize('options,phrase', [
    (['model.lwdna.rho=2.0'], 'rho must be in (0, 1]'),
    (['model.lwdna.flops_target=0.05'], 'floors already keep'),
    (['model.lwdna.rh0=0.4'], 'unknown lwdna option'),
])
def test_bad_lwdna_block_fails_before_training(options, phrase, tmp_path):
    (tmp_path / 'keep.txt').write_text('earlier results')
    proc, log = run('tools/train.py', DEMO, '--work-dir', tmp_path, '--cfg-options', *options)
    assert proc.returncode == 2 and phrase in log
    assert 'Epoch(train)' not in log
    assert (tmp_path / 'keep.txt').read_text() == 'earlier results'
    assert sorted(os.listdir(tmp_path)) == ['keep.txt']   # no log folder of the refused run


def test_refused_run_creates_no_work_dir(tmp_path):
    proc, log = run('tools/train.py', DEMO, '--work-dir', tmp_path / 'new', '--cfg-options', 'model.lwdna.rho=2.0')
    assert proc.returncode == 2 and not (tmp_path / 'new').exists()


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / 'epoch_9.pth'
    bad.write_bytes(b'not a checkpoint')
    proc, log = run('tools/test.py', DEMO, bad, '--work-dir', tmp_path / 'w')
    assert proc.returncode == 2 and 'cannot read checkpoint' in log
