"""The paper's reference figures (supplementary Tables 1 and 2; FLOPs are multiply-adds), keyed
by the project's config that reproduces each row."""
from __future__ import annotations

from typing import NamedTuple


class PaperRow(NamedTuple):
    """One row: the dataset's input size, baseline GFLOPs / M params, LW-DNA GFLOPs / M params."""

    input_size: int
    gflops: float
    mparams: float
    lwdna_gflops: float
    lwdna_mparams: float


# configs/baseline/<key>.py and configs/lwdna/<key>.py
TABLE1 = {
    'resnet50_in1k': PaperRow(224, 4.1177, 25.557, 3.7307, 23.741),
    'regnetx_4.0gf_in1k': PaperRow(224, 4.0005, 22.118, 3.8199, 15.285),
    'mobilenet_v3_small_in1k': PaperRow(224, 0.0612, 3.108, 0.0605, 3.049),
    'mobilenet_v1_tinyimagenet': PaperRow(64, 0.0478, 3.412, 0.0460, 1.265),
    'mobilenet_v2_tinyimagenet': PaperRow(64, 0.0930, 2.480, 0.0872, 2.230),
    'mobilenet_v3_large_tinyimagenet': PaperRow(64, 0.0860, 4.121, 0.0797, 3.561),
    'mobilenet_v3_small_tinyimagenet': PaperRow(64, 0.0207, 2.083, 0.0178, 1.799),
    'mnasnet_tinyimagenet': PaperRow(64, 0.0271, 3.359, 0.0250, 1.258),
    'regnety_200mf_cifar100': PaperRow(32, 0.2259, 2.831, 0.2095, 1.524),
    'regnety_400mf_cifar100': PaperRow(32, 0.4585, 3.947, 0.4468, 2.466),
    'regnetx_200mf_cifar100': PaperRow(32, 0.2255, 2.353, 0.2075, 1.239),
    'regnetx_400mf_cifar100': PaperRow(32, 0.4698, 4.810, 0.4610, 4.404),
    'efficientnet_b0_cifar100': PaperRow(32, 0.4161, 4.136, 0.3850, 2.121),
    'densenet40_cifar100': PaperRow(32, 0.2901, 1.100, 0.2638, 1.016),
    'densenet40_cifar10': PaperRow(32, 0.2901, 1.059, 0.2632, 0.963),
    'resnet56_cifar10': PaperRow(32, 0.1274, 0.856, 0.1262, 0.536),
}

# configs/basicsr/{baseline,lwdna}/<key>.yml (supplementary Table 2, denoising σ=70; gray input,
# FLOPs at 128×128 as the authors' scripts report them)
TABLE2 = {
    'dncnn_sigma70_div2k': PaperRow(128, 9.10, 0.56, 5.43, 0.33),
    'unet_sigma70_div2k': PaperRow(128, 3.41, 7.76, 3.26, 5.86),
}
