"""The embedded demo data as an mmpretrain dataset."""
from __future__ import annotations

from typing import List

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from ..data.digits import digits_split


@DATASETS.register_module()
class DigitsClassification(BaseDataset):
    """scikit-learn's 1797 real handwritten digits as 3-channel ``size``×``size`` uint8 images.

    ``split``: 'train' (80 %) or 'val' (20 %), a fixed seeded split. No files are read;
    ``ann_file`` and ``data_root`` are accepted for config compatibility and ignored.
    """

    METAINFO = {'classes': tuple(str(i) for i in range(10))}

    def __init__(self, split: str = 'train', size: int = 32, seed: int = 0, ann_file: str = '', **kwargs):
        if split not in ('train', 'val'):
            raise ValueError(f"DigitsClassification split must be 'train' or 'val', got {split!r}")
        self.split, self.size, self.seed = split, size, seed
        super().__init__(ann_file=ann_file, **kwargs)

    def load_data_list(self) -> List[dict]:
        images, labels = digits_split(self.split, self.size, seed=self.seed)
        pixels = (images * 255).round().byte().expand(-1, 3, -1, -1).permute(0, 2, 3, 1).numpy()   # N, H, W, 3
        return [dict(img=np.ascontiguousarray(img), gt_label=int(label)) for img, label in zip(pixels, labels)]
