"""The CIFAR configs read the standard CIFAR python files with mmpretrain's own dataset types.

The files are written here in the official format (pickled dicts with ``data`` as N×3072 uint8
rows and ``labels`` / ``fine_labels``, plus the meta file). mmpretrain also checks the official
archives' md5 sums, which files written by a test cannot have: the test points those sums at
the written files, so the integrity check still runs on them.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

import lwdna_plugin  # noqa: F401  (registers the plugin)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
from train import build_runner  # noqa: E402


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar100(root: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """``root/cifar-100-python/{train,test,meta}`` in the official layout."""
    folder = root / 'cifar-100-python'
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name, n in (('train', n_train), ('test', n_test)):
        fine = rng.integers(0, 100, n).tolist()
        entry = {'filenames': [f'img_{i}.png' for i in range(n)], 'batch_label': f'{name} batch',
                 'fine_labels': fine, 'coarse_labels': [f // 5 for f in fine],
                 'data': rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {'fine_label_names': [f'class_{i}' for i in range(100)],
            'coarse_label_names': [f'super_{i}' for i in range(20)]}
    (folder / 'meta').write_bytes(pickle.dumps(meta, protocol=2))
    return folder


@pytest.fixture
def cifar100_root(tmp_path, monkeypatch):
    from mmpretrain.datasets import CIFAR100

    folder = write_cifar100(tmp_path / 'cifar100', n_train=128, n_test=50)
    monkeypatch.setattr(CIFAR100, 'train_list', [['train', _md5(folder / 'train')]])
    monkeypatch.setattr(CIFAR100, 'test_list', [['test', _md5(folder / 'test')]])
    monkeypatch.setattr(CIFAR100, 'meta', {**CIFAR100.meta, 'md5': _md5(folder / 'meta')})
    return folder.parent


def _point_at(cfg: Config, data_root: Path, work_dir: Path) -> Config:
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(data_root)
        cfg[loader].num_workers = 0
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = 1
    cfg.launcher = 'none'
    return cfg


def test_lwdna_regnetx_400mf_cifar100_trains_on_cifar_files(cifar100_root, tmp_path):
    cfg = _point_at(Config.fromfile(ROOT / 'configs/lwdna/regnetx_400mf_cifar100.py'), cifar100_root,
                    tmp_path / 'work')
    runner = build_runner(cfg)
    dataset = runner.train_dataloader.dataset
    assert type(dataset).__name__ == 'CIFAR100' and len(dataset) == 128
    written = pickle.loads((cifar100_root / 'cifar-100-python' / 'train').read_bytes())
    info = dataset.get_data_info(5)
    assert info['gt_label'] == written['fine_labels'][5] and len(dataset.metainfo['classes']) == 100
    assert np.array_equal(info['img'], written['data'][5].reshape(3, 32, 32).transpose(1, 2, 0))
    runner.train()
    assert 0.0 <= runner.message_hub.get_scalar('val/accuracy/top1').current() <= 100.0
    config = json.loads((tmp_path / 'work' / 'lwdna_channels.json').read_text())
    assert abs(config['flops']['lwdna'] / (0.9813 * config['flops']['baseline']) - 1) <= 0.005
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


def test_missing_cifar_directory_is_a_clear_error(tmp_path):
    (tmp_path / 'keep.txt').write_text('earlier results')
    proc = subprocess.run([sys.executable, 'tools/train.py', 'configs/lwdna/regnetx_400mf_cifar100.py',
                           '--work-dir', str(tmp_path), '--cfg-options',
                           f'train_dataloader.dataset.data_root={tmp_path / "nowhere"}'],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 2 and 'Cannot find CIFAR100 dataset' in log, log[-2000:]
    assert 'Traceback' not in log and 'Epoch(train)' not in log
    assert (tmp_path / 'keep.txt').read_text() == 'earlier results'
