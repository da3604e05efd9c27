"""The CIFAR10 configs read the standard CIFAR-10 python files with mmpretrain's ``CIFAR10``.

The files are written here in the official layout (``cifar-10-batches-py/data_batch_1..5``,
``test_batch``: pickled dicts with ``data`` as N×3072 uint8 rows and ``labels``; ``batches.meta``
with ``label_names``). mmpretrain checks the official archives' md5 sums, which files written by
a test cannot have: the test points those sums at the written files, so the check still runs.
"""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

import lwdna_plugin  # noqa: F401  (registers the plugin)

ROOT = Path(__file__).resolve().parents[1]
CIFAR10_CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*_cifar10*.py')
                         if '_base_' not in p.parts and 'cifar100' not in p.name)
TRAIN_FILES = [f'data_batch_{i}' for i in range(1, 6)]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar10(root: Path, per_batch: int, n_test: int, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py/`` in the official layout; returns that folder."""
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name, n in [(f, per_batch) for f in TRAIN_FILES] + [('test_batch', n_test)]:
        entry = {'batch_label': name, 'labels': rng.integers(0, 10, n).tolist(),
                 'data': rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
                 'filenames': [f'{name}_{i}.png' for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    (folder / 'batches.meta').write_bytes(pickle.dumps({'label_names': [f'class_{i}' for i in range(10)],
                                                        'num_vis': 3072}, protocol=2))
    return folder


@pytest.fixture
def cifar10_root(tmp_path, monkeypatch):
    from mmpretrain.datasets import CIFAR10

    folder = write_cifar10(tmp_path / 'cifar10', per_batch=16, n_test=20)
    monkeypatch.setattr(CIFAR10, 'train_list', [[f, _md5(folder / f)] for f in TRAIN_FILES])
    monkeypatch.setattr(CIFAR10, 'test_list', [['test_batch', _md5(folder / 'test_batch')]])
    monkeypatch.setattr(CIFAR10, 'meta', {**CIFAR10.meta, 'md5': _md5(folder / 'batches.meta')})
    return folder


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
