"""Imported by the configs that tests write (``custom_imports``) in processes the tests start
(torchrun ranks): points mmpretrain's CIFAR md5 sums at the files the test wrote (the folder in
``LWDNA_TEST_CIFAR10_DIR``), so mmpretrain's integrity check still runs on them."""
import hashlib
import os
from pathlib import Path

from mmpretrain.datasets import CIFAR10


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


_folder = Path(os.environ['LWDNA_TEST_CIFAR10_DIR'])
CIFAR10.train_list = [[name, _md5(_folder / name)] for name, _ in CIFAR10.train_list]
CIFAR10.test_list = [[name, _md5(_folder / name)] for name, _ in CIFAR10.test_list]
CIFAR10.meta = {**CIFAR10.meta, 'md5': _md5(_folder / CIFAR10.meta['filename'])}
