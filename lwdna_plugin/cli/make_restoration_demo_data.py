"""Build the embedded restoration demo data from real photographs bundled with scikit-image.

    lwdna-make-restoration-demo-data [--out data/restoration_demo] [--scale 4]

(from a clone: ``python tools/make_restoration_demo_data.py``).

Writes (train and validation are different photographs):

- ``sr_x4/{train,val}/{HR,LR}/*.png``: paired ×4 super-resolution data. Training photos are
  cut into 128×128 HR sub-images (step 64) with the matching LR sub-images, as basicsr's
  DIV2K sub-image protocol does; validation photos are 256×256 centre crops. LR images are
  MATLAB-style bicubic down-samplings (``basicsr.utils.matlab_functions.imresize``).
- ``denoise/{train,val}/*.png``: clean gray images for ``GaussianDenoisingDataset`` (noise is
  added on the fly): 128×128 training sub-images, 256×256 validation crops.

Photos are first scaled so their longer side is at most 512 pixels. Nothing is overwritten:
an existing folder is accepted only if it holds this exact build (``manifest.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List

import numpy as np

from .help import HelpFormatter


RGB_TRAIN = ['chelsea', 'rocket', 'hubble_deep_field', 'immunohistochemistry', 'retina', 'motorcycle_left',
             'motorcycle_right']
RGB_VAL = ['astronaut', 'coffee']
GRAY_TRAIN = RGB_TRAIN + ['moon', 'coins', 'clock', 'brick', 'grass', 'gravel', 'page', 'text']
GRAY_VAL = ['camera'] + RGB_VAL
SUB_SIZE, SUB_STEP, VAL_SIZE, MAX_SIDE = 128, 64, 256, 512


def load_photo(name: str) -> np.ndarray:
    """A scikit-image photograph as float32 in [0, 1] (H×W×3 or H×W), longer side ≤ MAX_SIDE."""
    import cv2
    from skimage import data

    if name.startswith('motorcycle_'):
        left, right, _ = data.stereo_motorcycle()
        img = left if name == 'motorcycle_left' else right
    else:
        img = getattr(data, name)()
    img = img.astype(np.float32) / 255.0
    factor = MAX_SIDE / max(img.shape[:2])
    if factor < 1:
        size = (round(img.shape[1] * factor), round(img.shape[0] * factor))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img


def to_gray(img: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma (what OpenCV's gray conversion uses) for colour photos."""
    return img if img.ndim == 2 else img @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)


def crop_multiple(img: np.ndarray, multiple: int) -> np.ndarray:
    h, w = img.shape[0] - img.shape[0] % multiple, img.shape[1] - img.shape[1] % multiple
    return img[:h, :w]


def centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    top, left = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    return img[top:top + size, left:left + size]


def sub_image_origins(length: int, size: int, step: int) -> List[int]:
    """Top-left positions covering the whole side (the last one flush with the border)."""
    origins = list(range(0, length - size + 1, step))
    if origins[-1] != length - size:
        origins.append(length - size)
    return origins


def save(img: np.ndarray, path: str) -> None:
    import cv2

    out = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    if out.ndim == 3:
        out = out[..., ::-1]   # RGB -> BGR for OpenCV
    if not cv2.imwrite(path, out):
        raise OSError(f'cannot write {path}')


def build_sr(out: str, scale: int) -> Dict[str, int]:
    from basicsr.utils.matlab_functions import imresize

    counts = {}
    for split, names in (('train', RGB_TRAIN), ('val', RGB_VAL)):
        hr_dir, lr_dir = osp.join(out, split, 'HR'), osp.join(out, split, 'LR')
        os.makedirs(hr_dir)
        os.makedirs(lr_dir)
        n = 0
        for name in names:
            hr = load_photo(name)
            hr = crop_multiple(centre_crop(hr, VAL_SIZE) if split == 'val' else hr, scale)
            lr = np.clip(imresize(hr, 1 / scale), 0, 1)
            if split == 'val':
                save(hr, osp.join(hr_dir, f'{name}.png'))
                save(lr, osp.join(lr_dir, f'{name}.png'))
                n += 1
                continue
            k = SUB_SIZE // scale   # sub-images start on the LR grid, so HR and LR stay aligned
            for t in sub_image_origins(lr.shape[0], k, SUB_STEP // scale):
                for s in sub_image_origins(lr.shape[1], k, SUB_STEP // scale):
                    top, left = t * scale, s * scale
                    stem = f'{name}_s{top:04d}_{left:04d}.png'
                    save(hr[top:top + SUB_SIZE, left:left + SUB_SIZE], osp.join(hr_dir, stem))
                    save(lr[t:t + k, s:s + k], osp.join(lr_dir, stem))
                    n += 1
        counts[split] = n
    return counts


def build_denoise(out: str) -> Dict[str, int]:
    counts = {}
    for split, names in (('train', GRAY_TRAIN), ('val', GRAY_VAL)):
        folder = osp.join(out, split)
        os.makedirs(folder)
        n = 0
        for name in names:
            img = to_gray(load_photo(name))
            if split == 'val':
                save(centre_crop(img, VAL_SIZE), osp.join(folder, f'{name}.png'))
                n += 1
                continue
            for top in sub_image_origins(img.shape[0], SUB_SIZE, SUB_STEP):
                for left in sub_image_origins(img.shape[1], SUB_SIZE, SUB_STEP):
                    stem = f'{name}_s{top:04d}_{left:04d}.png'
                    save(img[top:top + SUB_SIZE, left:left + SUB_SIZE], osp.join(folder, stem))
                    n += 1
        counts[split] = n
    return counts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=HelpFormatter)
    p.add_argument('--out', default=osp.join('data', 'restoration_demo'), help='output folder')
    p.add_argument('--scale', type=int, default=4, choices=[2, 4], help='super-resolution scale')
    args = p.parse_args(argv)
    manifest_path = osp.join(args.out, 'manifest.json')
    params = {'scale': args.scale, 'sub_size': SUB_SIZE, 'sub_step': SUB_STEP, 'val_size': VAL_SIZE,
              'max_side': MAX_SIDE, 'sr_train': RGB_TRAIN, 'sr_val': RGB_VAL, 'denoise_train': GRAY_TRAIN,
              'denoise_val': GRAY_VAL}
    if osp.isfile(manifest_path):
        with open(manifest_path) as f:
            if json.load(f).get('params') == params:
                print(f'{args.out} already holds this demo data')
                return 0
    if osp.isdir(args.out) and os.listdir(args.out):
        print(f'error: {args.out!r} exists and holds other files; choose another --out', file=sys.stderr)
        return 2
    from lwdna_plugin.compat import patch_basicsr_import
    patch_basicsr_import()

    counts = {f'sr_x{args.scale}': build_sr(osp.join(args.out, f'sr_x{args.scale}'), args.scale),
              'denoise': build_denoise(osp.join(args.out, 'denoise'))}
    with open(manifest_path, 'w') as f:
        json.dump({'params': params, 'counts': counts}, f, indent=1)
    print(f'wrote {args.out}: {json.dumps(counts)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
