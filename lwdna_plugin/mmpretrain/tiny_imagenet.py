"""Tiny-ImageNet (the standard ``tiny-imagenet-200`` download) as an mmpretrain dataset."""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

IMAGE_SUFFIXES = ('.jpeg', '.jpg', '.png')


@DATASETS.register_module()
class TinyImageNet(BaseDataset):
    """Tiny-ImageNet-200 (64×64 images, 200 classes) read from the layout of its download::

        data_root/                      e.g. data/tiny-imagenet-200
        ├── wnids.txt                   one WordNet id per line (the 200 classes)
        ├── train/<wnid>/images/*.JPEG  500 images per class
        └── val/images/*.JPEG           10,000 images, labelled by
            val/val_annotations.txt     <file> TAB <wnid> TAB <box> per line

    ``split``: 'train' or 'val' (the test split has no labels). Labels index the sorted
    WordNet ids (the class order of torchvision's ``ImageFolder``, which the authors used);
    ``metainfo['classes']`` holds those ids. A missing directory or file raises
    ``FileNotFoundError`` naming it.
    """

    def __init__(self, data_root: str = 'data/tiny-imagenet-200', split: str = 'train', **kwargs):
        if split not in ('train', 'val'):
            raise ValueError(f"TinyImageNet split must be 'train' or 'val', got {split!r}")
        self.split = split
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        root = Path(self.data_root).expanduser()
        wnids = _read_wnids(root)
        self._metainfo['classes'] = tuple(wnids)
        label = {wnid: i for i, wnid in enumerate(wnids)}
        samples = _train_samples(root, wnids) if self.split == 'train' else _val_samples(root)
        data_list = []
        for path, wnid in samples:
            if wnid not in label:
                raise ValueError(f'{path}: class {wnid!r} is not listed in {root / "wnids.txt"}')
            data_list.append(dict(img_path=str(path), gt_label=label[wnid]))
        if not data_list:
            raise FileNotFoundError(f'no Tiny-ImageNet {self.split} images found under {root}')
        return data_list


def _read_wnids(root: Path) -> List[str]:
    path = root / 'wnids.txt'
    if not path.is_file():
        raise FileNotFoundError(
            f'Tiny-ImageNet not found: {path} does not exist. Unpack tiny-imagenet-200.zip so that '
            f'{root} holds wnids.txt, train/ and val/ (or point the dataset\'s data_root at it).')
    return sorted(set(path.read_text().split()))


def _train_samples(root: Path, wnids: List[str]) -> List[Tuple[Path, str]]:
    samples = []
    for wnid in wnids:
        folder = root / 'train' / wnid / 'images'
        if not folder.is_dir():
            raise FileNotFoundError(f'Tiny-ImageNet train folder {folder} does not exist')
        samples += [(p, wnid) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    return samples


def _val_samples(root: Path) -> List[Tuple[Path, str]]:
    annotations = root / 'val' / 'val_annotations.txt'
    if not annotations.is_file():
        raise FileNotFoundError(f'Tiny-ImageNet validation labels {annotations} do not exist')
    samples = []
    for number, line in enumerate(annotations.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split('\t')
        if len(fields) < 2:
            raise ValueError(f'{annotations}, line {number}: expected <file> TAB <wnid>, got {line!r}')
        samples.append((root / 'val' / 'images' / fields[0], fields[1]))
    return samples
