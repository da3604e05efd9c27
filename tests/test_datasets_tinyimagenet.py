"""The Tiny-ImageNet and ImageNet configs read the standard layouts of those downloads.

Each test writes a small tree in the exact layout (real JPEG files, made with PIL from crops
of scikit-image's photographs, one of them grayscale as some Tiny-ImageNet images are) and
loads it through the config's own dataloader.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmengine.runner import Runner
from PIL import Image

import lwdna_plugin.mmpretrain  # noqa: F401  (registers the plugin)
from lwdna_plugin.mmpretrain import TinyImageNet

ROOT = Path(__file__).resolve().parents[1]
from lwdna_plugin.cli.train import build_runner, main as train_main  # noqa: E402


def _photo_crops(count: int, size: Tuple[int, int], seed: int) -> List[np.ndarray]:
    """``count`` RGB crops (height, width) of scikit-image's bundled photographs."""
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(count):
        img = photos[i % len(photos)]
        ch, cw = min(2 * size[0], img.shape[0] - 1), min(2 * size[1], img.shape[1] - 1)
        y, x = rng.integers(0, img.shape[0] - ch), rng.integers(0, img.shape[1] - cw)
        crop = Image.fromarray(img[y:y + ch, x:x + cw]).resize((size[1], size[0]), Image.BILINEAR)
        crops.append(np.asarray(crop))
    return crops


def write_tiny_imagenet(root: Path, n_classes: int = 200, n_val: int = 12, seed: int = 0) -> Dict:
    """``root/tiny-imagenet-200`` as in tiny-imagenet-200.zip: wnids.txt (unsorted), words.txt,
    train/<wnid>/images/<wnid>_0.JPEG + <wnid>_boxes.txt, val/images/val_<i>.JPEG +
    val_annotations.txt, test/images. One training image per class; the first is grayscale."""
    folder = root / 'tiny-imagenet-200'
    rng = np.random.default_rng(seed)
    wnids = [f'n{n:08d}' for n in rng.choice(10 ** 7, n_classes, replace=False)]
    (folder / 'val' / 'images').mkdir(parents=True)
    (folder / 'test' / 'images').mkdir(parents=True)
    (folder / 'wnids.txt').write_text(''.join(f'{w}\n' for w in wnids))
    (folder / 'words.txt').write_text(''.join(f'{w}\tclass {i}\n' for i, w in enumerate(wnids)))
    for i, (wnid, img) in enumerate(zip(wnids, _photo_crops(n_classes, (64, 64), seed))):
        images = folder / 'train' / wnid / 'images'
        images.mkdir(parents=True)
        Image.fromarray(img).convert('L' if i == 0 else 'RGB').save(images / f'{wnid}_0.JPEG')
        (folder / 'train' / wnid / f'{wnid}_boxes.txt').write_text(f'{wnid}_0.JPEG\t0\t0\t63\t63\n')
    val_wnids = [wnids[i] for i in rng.integers(0, n_classes, n_val)]
    lines = []
    for i, (wnid, img) in enumerate(zip(val_wnids, _photo_crops(n_val, (64, 64), seed + 1))):
        Image.fromarray(img).save(folder / 'val' / 'images' / f'val_{i}.JPEG')
        lines.append(f'val_{i}.JPEG\t{wnid}\t3\t5\t60\t61\n')
    (folder / 'val' / 'val_annotations.txt').write_text(''.join(lines))
    Image.fromarray(_photo_crops(1, (64, 64), seed + 2)[0]).save(folder / 'test' / 'images' / 'test_0.JPEG')
    return dict(root=folder, wnids=wnids, val_wnids=val_wnids)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return write_tiny_imagenet(tmp_path_factory.mktemp('data'))


def _loader(loader_cfg, data_root: Path, **overrides):
    init_default_scope('mmpretrain')   # the configs' default_scope
    loader_cfg = loader_cfg.copy()
    loader_cfg.dataset.data_root = str(data_root)
    loader_cfg.update(num_workers=0, persistent_workers=False, **overrides)
    return Runner.build_dataloader(loader_cfg, seed=0)


def _pixels(path: str) -> torch.Tensor:
    """The image as mmpretrain loads it (BGR, 3 channels), channels first."""
    return torch.from_numpy(mmcv.imread(path)).permute(2, 0, 1)


def test_tinyimagenet_config_reads_the_download_layout(tiny):
    cfg = Config.fromfile(ROOT / 'configs/baseline/mobilenet_v1_tinyimagenet.py')
    classes = tuple(sorted(tiny['wnids']))

    train = _loader(cfg.train_dataloader, tiny['root'], batch_size=50)
    dataset = train.dataset
    assert type(dataset) is TinyImageNet and len(dataset) == 200 and dataset.metainfo['classes'] == classes
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert classes[info['gt_label']] == Path(info['img_path']).parts[-3]   # train/<wnid>/images/x
    batch = next(iter(train))
    assert all(img.shape == (3, 64, 64) and img.dtype == torch.uint8 for img in batch['inputs'])
    # what the model sees: the config's data preprocessor (BGR -> RGB, the authors' normalisation)
    preprocessor = MODELS.build(dict(type='ClsDataPreprocessor', **cfg.data_preprocessor))
    inputs = preprocessor(batch, training=True)['inputs']
    mean, std = torch.tensor(cfg.data_preprocessor.mean), torch.tensor(cfg.data_preprocessor.std)
    expected = (batch['inputs'][0].flip(0).float() - mean[:, None, None]) / std[:, None, None]
    assert inputs.shape == (50, 3, 64, 64) and torch.allclose(inputs[0], expected)

    # the grayscale JPEG arrives with 3 equal channels
    gray = next(i for i in range(len(dataset)) if dataset.get_data_info(i)['img_path'].endswith(
        f'{tiny["wnids"][0]}_0.JPEG'))
    gray_img = dataset[gray]['inputs']
    assert gray_img.shape == (3, 64, 64) and torch.equal(gray_img[0], gray_img[1])

    # training: horizontal flip only (each draw is the image or its mirror, and both occur)
    np.random.seed(0)
    image = _pixels(dataset.get_data_info(3)['img_path'])
    draws = [dataset[3]['inputs'] for _ in range(16)]
    assert all(torch.equal(d, image) or torch.equal(d, image.flip(-1)) for d in draws)
    assert any(torch.equal(d, image) for d in draws) and any(torch.equal(d, image.flip(-1)) for d in draws)

    # validation: labels from val_annotations.txt, images unchanged
    val = _loader(cfg.val_dataloader, tiny['root'])
    assert type(val.dataset) is TinyImageNet and len(val.dataset) == len(tiny['val_wnids'])
    batch = next(iter(val))
    assert len(batch['inputs']) == len(tiny['val_wnids'])
    labels = [int(s.gt_label) for s in batch['data_samples']]
    assert labels == [classes.index(w) for w in tiny['val_wnids']]
    assert torch.equal(batch['inputs'][5], _pixels(str(tiny['root'] / 'val/images/val_5.JPEG')))


def test_missing_tinyimagenet_directory_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match='wnids.txt'):
        TinyImageNet(data_root=str(tmp_path / 'nowhere'), split='train')

    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / 'keep.txt').write_text('earlier results')
    code = train_main(['configs/lwdna/mobilenet_v1_tinyimagenet.py', '--work-dir', str(work_dir), '--cfg-options',
                       f'train_dataloader.dataset.data_root={tmp_path / "nowhere"}'])
    err = capsys.readouterr().err
    assert code == 2 and 'Tiny-ImageNet not found' in err and 'wnids.txt' in err, err[-2000:]
    assert (work_dir / 'keep.txt').read_text() == 'earlier results'
    assert not list(work_dir.rglob('*.pth'))


def test_lwdna_mobilenet_v3_small_trains_on_tinyimagenet_files(tiny, tmp_path):
    cfg = Config.fromfile(ROOT / 'configs/lwdna/mobilenet_v3_small_tinyimagenet.py')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(tiny['root'])
        cfg[loader].num_workers = 0
    # 2 batches of 16 (CPU time): the 2 scoring batches, then one epoch of 2 iterations
    cfg.train_dataloader.batch_size, cfg.train_dataloader.dataset.indices = 16, 32
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = 1
    cfg.launcher = 'none'
    runner = build_runner(cfg)
    assert type(runner.train_dataloader.dataset).__name__ == 'TinyImageNet'
    runner.train()
    hook = next(h for h in runner.hooks if type(h).__name__ == 'LWDNAHook')
    assert hook.accuracy is not None and 0.0 <= hook.accuracy <= 100.0
    config = json.loads((tmp_path / 'work' / 'lwdna_channels.json').read_text())
    assert abs(config['flops']['lwdna'] / (0.8599 * config['flops']['baseline']) - 1) <= 0.005
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


def test_imagenet_config_reads_the_meta_layout(tmp_path):
    """data/imagenet with train/<wnid>/*.JPEG, flat val/*.JPEG and meta/{train,val}.txt."""
    root = tmp_path / 'imagenet'
    (root / 'meta').mkdir(parents=True)
    (root / 'val').mkdir()
    train_lines, val_lines = [], []
    for i, img in enumerate(_photo_crops(4, (240, 300), seed=3)):
        wnid, label = ('n01440764', 0) if i % 2 else ('n01443537', 1)
        (root / 'train' / wnid).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / 'train' / wnid / f'{wnid}_{i}.JPEG')
        train_lines.append(f'{wnid}/{wnid}_{i}.JPEG {label}\n')
        Image.fromarray(img.transpose(1, 0, 2).copy()).save(root / 'val' / f'ILSVRC2012_val_{i + 1:08d}.JPEG')
        val_lines.append(f'ILSVRC2012_val_{i + 1:08d}.JPEG {100 + i}\n')
    (root / 'meta' / 'train.txt').write_text(''.join(train_lines))
    (root / 'meta' / 'val.txt').write_text(''.join(val_lines))

    cfg = Config.fromfile(ROOT / 'configs/baseline/resnet50_in1k.py')
    for loader_cfg, labels in ((cfg.train_dataloader, [1, 0, 1, 0]), (cfg.val_dataloader, [100, 101, 102, 103])):
        loader = _loader(loader_cfg, root, batch_size=4, sampler=dict(type='DefaultSampler', shuffle=False))
        assert type(loader.dataset).__name__ == 'ImageNet' and len(loader.dataset.metainfo['classes']) == 1000
        batch = next(iter(loader))
        assert [tuple(img.shape) for img in batch['inputs']] == [(3, 224, 224)] * 4
        assert [int(s.gt_label) for s in batch['data_samples']] == labels
