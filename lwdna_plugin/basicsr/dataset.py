"""``GaussianDenoisingDataset`` (in basicsr's ``DATASET_REGISTRY``): clean images from a folder,
read as gray, with additive white Gaussian noise of standard deviation ``sigma`` (on the
0–255 scale) — drawn afresh for every training sample, fixed per image for validation."""
from __future__ import annotations

import os.path as osp
from typing import Any, Dict

import numpy as np
import torch
from basicsr.data.data_util import paths_from_folder
from basicsr.data.transforms import augment
from basicsr.utils import FileClient, imfrombytes
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils.data import Dataset

from ..core.errors import ConfigError


@DATASET_REGISTRY.register()
class GaussianDenoisingDataset(Dataset):
    """Options (basicsr dataset options):

    - ``dataroot_gt``: folder of clean images (any format OpenCV reads); read as gray.
    - ``sigma``: noise standard deviation on the 0–255 scale (the paper: 70).
    - ``phase``: ``train`` (set by basicsr): a random ``gt_size`` crop, optional flips /
      rotations (``use_hflip``, ``use_rot``) and fresh noise per sample from torch's RNG
      (per-worker seeded by the DataLoader); otherwise the whole image with noise drawn from
      ``numpy.random.default_rng([noise_seed, index])``, identical in every run.
    - ``noise_seed`` (default 0), ``io_backend`` (basicsr's, e.g. ``{type: disk}``).

    Items are basicsr's ``{'lq', 'gt', 'lq_path', 'gt_path'}`` with 1×H×W float tensors; the
    noisy ``lq`` is not clipped (the usual Gaussian denoising protocol).
    """

    def __init__(self, opt: Dict[str, Any]):
        super().__init__()
        self.opt = opt
        self.root = opt['dataroot_gt']
        self.sigma = float(opt['sigma'])
        self.train = opt['phase'] == 'train'
        self.gt_size = opt.get('gt_size')
        self.noise_seed = int(opt.get('noise_seed', 0))
        self.io_backend_opt = dict(opt.get('io_backend', {'type': 'disk'}))
        self.file_client = None
        if self.sigma < 0:
            raise ConfigError(f'dataset {opt.get("name")!r}: sigma must be >= 0, got {self.sigma}')
        if self.train and not isinstance(self.gt_size, int):
            raise ConfigError(f'dataset {opt.get("name")!r}: the train phase needs an integer gt_size (patch size)')
        if not osp.isdir(self.root):
            raise ConfigError(f'dataset {opt.get("name")!r}: dataroot_gt {self.root!r} is not a folder')
        self.paths = sorted(paths_from_folder(self.root))
        if not self.paths:
            raise ConfigError(f'dataset {opt.get("name")!r}: no images in {self.root!r}')

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        if self.file_client is None:
            backend = dict(self.io_backend_opt)
            self.file_client = FileClient(backend.pop('type'), **backend)
        path = self.paths[index]
        gt = imfrombytes(self.file_client.get(path, 'gt'), flag='grayscale', float32=True)
        if gt is None:
            raise ConfigError(f'cannot read image {path!r}')
        gt = gt[..., None]
        if self.train:
            gt = self._random_patch(gt, path)
            gt = torch.from_numpy(np.ascontiguousarray(gt.transpose(2, 0, 1)))
            noise = torch.randn(gt.shape) * (self.sigma / 255.0)
        else:
            gt = torch.from_numpy(np.ascontiguousarray(gt.transpose(2, 0, 1)))
            rng = np.random.default_rng([self.noise_seed, index])
            noise = torch.from_numpy(rng.standard_normal(gt.shape, dtype=np.float32)) * (self.sigma / 255.0)
        return {'lq': gt + noise, 'gt': gt, 'lq_path': path, 'gt_path': path}

    def _random_patch(self, img: np.ndarray, path: str) -> np.ndarray:
        h, w = img.shape[:2]
        size = self.gt_size
        if h < size or w < size:
            raise ConfigError(f'image {path!r} ({h}x{w}) is smaller than gt_size {size}')
        top, left = np.random.randint(0, h - size + 1), np.random.randint(0, w - size + 1)
        patch = np.ascontiguousarray(img[top:top + size, left:left + size])
        return augment(patch, self.opt.get('use_hflip', False), self.opt.get('use_rot', False))
