"""The CIFAR configs read the standard CIFAR python files with mmpretrain's own dataset types.

The files are written here in the official layouts (``cifar-100-python/{train,test,meta}``,
``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``: pickled dicts with ``data``
as N×3072 uint8 rows and ``fine_labels`` / ``labels``). mmpretrain also checks the official
archives' md5 sums, which files written by a test cannot have: the test points those sums at
the written files, so the integrity check still runs on them.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
from mmengine.config import Config

import lwdna_plugin.mmpretrain  # noqa: F401  (registers the plugin)

ROOT = Path(__file__).resolve().parents[1]
from lwdna_plugin.cli.train import build_runner  # noqa: E402


CIFAR10_TRAIN_FILES = [f'data_batch_{i}' for i in range(1, 6)]
CIFAR10_CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*_cifar10*.py')   # the Table 1 rows
                         if '_base_' not in p.parts and 'cifar100' not in p.name
                         and not p.name.startswith('resnet18_8xb16'))   # mmpretrain's stock recipe


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar(folder: Path, batches: Dict[str, int], label_key: str, meta_name: str, meta: dict,
                seed: int = 0) -> Path:
    """Batch files ``{name: images}`` and the meta file in the official python format."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    classes = len(next(iter(meta.values())))
    for name, n in batches.items():
        labels = rng.integers(0, classes, n).tolist()
        entry = {'filenames': [f'{name}_{i}.png' for i in range(n)], 'batch_label': name, label_key: labels,
                 'data': rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)}
        if label_key == 'fine_labels':
            entry['coarse_labels'] = [f // 5 for f in labels]
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    (folder / meta_name).write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def trust_written_files(monkeypatch, dataset_cls, folder: Path, train: List[str], test: List[str]) -> None:
    """Point the dataset type's md5 sums at the written files (its integrity check still runs)."""
    monkeypatch.setattr(dataset_cls, 'train_list', [[f, _md5(folder / f)] for f in train])
    monkeypatch.setattr(dataset_cls, 'test_list', [[f, _md5(folder / f)] for f in test])
    monkeypatch.setattr(dataset_cls, 'meta', {**dataset_cls.meta, 'md5': _md5(folder / dataset_cls.meta['filename'])})


@pytest.fixture
def cifar100_root(tmp_path, monkeypatch):
    from mmpretrain.datasets import CIFAR100

    folder = write_cifar(tmp_path / 'cifar100' / 'cifar-100-python', {'train': 128, 'test': 50}, 'fine_labels',
                         'meta', {'fine_label_names': [f'class_{i}' for i in range(100)],
                                  'coarse_label_names': [f'super_{i}' for i in range(20)]})
    trust_written_files(monkeypatch, CIFAR100, folder, ['train'], ['test'])
    return folder.parent


@pytest.fixture
def cifar10_root(tmp_path, monkeypatch):
    from mmpretrain.datasets import CIFAR10

    batches = {**{f: 16 for f in CIFAR10_TRAIN_FILES}, 'test_batch': 20}
    folder = write_cifar(tmp_path / 'cifar10' / 'cifar-10-batches-py', batches, 'labels', 'batches.meta',
                         {'label_names': [f'class_{i}' for i in range(10)]})
    trust_written_files(monkeypatch, CIFAR10, folder, CIFAR10_TRAIN_FILES, ['test_batch'])
    return folder


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


@pytest.mark.parametrize('config', ['configs/lwdna/regnetx_400mf_cifar100.py',
                                    'configs/baseline/resnet56_cifar10.py'])
def test_missing_cifar_directory_is_a_clear_error(config, tmp_path):
    (tmp_path / 'keep.txt').write_text('earlier results')
    proc = subprocess.run([sys.executable, 'tools/train.py', config,
                           '--work-dir', str(tmp_path), '--cfg-options',
                           f'train_dataloader.dataset.data_root={tmp_path / "nowhere"}'],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 2 and re.search('Cannot find CIFAR10+ dataset', log), log[-2000:]
    assert 'Traceback' not in log and 'Epoch(train)' not in log
    assert (tmp_path / 'keep.txt').read_text() == 'earlier results'


def test_cifar10_configs_use_mmpretrain_cifar10():
    assert len(CIFAR10_CONFIGS) == 8   # DenseNet40 and ResNet56: baseline, baseline KD, LW-DNA, LW-DNA KD
    for path in CIFAR10_CONFIGS:
        cfg = Config.fromfile(path)
        for loader, split in (('train_dataloader', 'train'), ('val_dataloader', 'test'), ('test_dataloader', 'test')):
            dataset = cfg[loader].dataset
            assert (dataset.type, dataset.data_root, dataset.split) == ('CIFAR10', 'data/cifar10', split), path
        assert cfg.data_preprocessor.num_classes == 10 and cfg.train_dataloader.batch_size == 64


def test_resnet56_cifar10_baseline_trains_on_cifar10_files(cifar10_root):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(ROOT / 'configs/baseline/resnet56_cifar10.py')
    init_default_scope(cfg.default_scope)
    cfg.train_dataloader.dataset.data_root = str(cifar10_root.parent)
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.batch_size = 16   # one optimisation step on a smaller batch keeps the test fast
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    dataset = loader.dataset
    assert type(dataset).__name__ == 'CIFAR10' and len(dataset) == 5 * 16
    assert len(dataset.metainfo['classes']) == 10
    written = pickle.loads((cifar10_root / 'data_batch_2').read_bytes())
    info = dataset.get_data_info(16 + 3)                    # 4th image of the second batch file
    assert info['gt_label'] == written['labels'][3]
    assert np.array_equal(info['img'], written['data'][3].reshape(3, 32, 32).transpose(1, 2, 0))

    model = MODELS.build(cfg.model)
    model.init_weights()
    batch = next(iter(loader))
    data = model.data_preprocessor(batch, True)
    assert data['inputs'].shape == (16, 3, 32, 32)
    fc_before = model.head.fc.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss = model(**data, mode='loss')['loss']
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and model.head.fc.weight.shape == (10, 64)
    assert not torch.equal(model.head.fc.weight, fc_before)


def test_two_gloo_ranks_on_mmpretrain_cifar10_agree_on_the_architecture(tmp_path):
    """mmpretrain's CIFAR10 calls ``dist.barrier()`` while loading: every rank builds the scoring
    data, rank 0 alone scores, and both train the same LW-DNA network (DDP checks the shapes)."""
    batches = {**{f: 16 for f in CIFAR10_TRAIN_FILES}, 'test_batch': 20}
    folder = write_cifar(tmp_path / 'cifar10' / 'cifar-10-batches-py', batches, 'labels', 'batches.meta',
                         {'label_names': [f'class_{i}' for i in range(10)]})
    dataset = f"dict(type='CIFAR10', data_root={str(folder.parent)!r}, download=False, pipeline=[dict(type='PackInputs')]"
    config = tmp_path / 'lwdna_cifar10.py'
    config.write_text('\n'.join([
        f"_base_ = [{str(ROOT / 'configs' / 'lwdna' / 'demo_digits.py')!r}]",
        "custom_imports = dict(imports=['lwdna_plugin.mmpretrain', 'tests.trust_cifar_files'], allow_failed_imports=False)",
        f"train_dataloader = dict(_delete_=True, batch_size=8, num_workers=0, dataset={dataset}, split='train'),",
        "                        sampler=dict(type='DefaultSampler', shuffle=True))",
        f"val_dataloader = dict(_delete_=True, batch_size=10, num_workers=0, dataset={dataset}, split='test'),",
        "                      sampler=dict(type='DefaultSampler', shuffle=False))",
        "test_dataloader = val_dataloader",
        "train_cfg = dict(max_epochs=1, val_interval=1)",
    ]))
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'LWDNA_TEST_CIFAR10_DIR': str(folder)}
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                           '--standalone', 'tools/train.py', str(config), '--launcher', 'pytorch',
                           '--work-dir', str(tmp_path / 'work')],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert log.count('scored batch 2/2') == 1 and 'Epoch(train)' in log
    saved = json.loads((tmp_path / 'work' / 'lwdna_channels.json').read_text())
    assert saved['flops']['lwdna'] < saved['flops']['baseline']
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


def test_config_inheriting_mmpretrain_scope_builds_and_shrinks(cifar10_root, tmp_path):
    """``_base_ = ['mmpretrain::...']`` (mmengine's package scope) works in the environment the
    README installs, and the wrapped stock model shrinks on mmpretrain's CIFAR10."""
    cfg = _point_at(Config.fromfile(ROOT / 'configs/lwdna/resnet18_8xb16_cifar10.py'), cifar10_root.parent,
                    tmp_path / 'work')
    assert cfg.model.architecture.backbone.type == 'ResNet_CIFAR' and cfg.train_dataloader.dataset.type == 'CIFAR10'
    runner = build_runner(cfg)
    config = runner.model.lwdna_channel_config
    assert abs(config['flops']['lwdna'] / (0.9 * config['flops']['baseline']) - 1) <= 0.005
    assert type(runner.model).__name__ == 'ImageClassifier'
