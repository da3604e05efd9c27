"""lwdna-plugin: LW-DNA (the Heterogeneity Hypothesis, CVPR 2021) for mmpretrain, basicsr, timm, pytracking."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r"__version__ = '([^']+)'", (HERE / 'lwdna_plugin' / 'version.py').read_text()).group(1)

# One set measured to install and import together on a fresh Python 3.11 machine
# (see ../shared/ENVIRONMENT.md and docs/install.md). torch and torchvision are a matching
# pair from the registry: torchvision 0.29.x needs torch 2.14+, so the CPU-only 2.13 wheel
# that some machines' pip config offers is never picked.
CORE = [
    'torch==2.15.0',
    'torchvision==0.29.2',
    'torch-pruning==1.6.1',
    'mmengine==0.10.7',
    'timm==1.0.31',
    'safetensors==0.7.0',
    'matplotlib>=3.8,<4',
    'numpy>=1.26,<3',
    'scipy>=1.11,<2',
    'scikit-learn>=1.4,<2',
    # mmengine resolves `_base_ = ['mmpretrain::...']` through pkg_resources, which setuptools
    # 81+ no longer ships; torch 2.15 needs setuptools >= 77.0.3.
    'setuptools>=77.0.3,<81',
]
EXTRAS = {
    'mmpretrain': ['mmpretrain==1.2.0', 'mmcv-lite==2.2.0'],
    'basicsr': ['basicsr==1.4.2', 'scikit-image>=0.22,<1', 'opencv-python>=4.8'],
    'test': ['pytest>=8'],
}
EXTRAS['all'] = sorted({req for reqs in EXTRAS.values() for req in reqs})

setup(
    name='lwdna-plugin',
    version=VERSION,
    description='Layer-wise differentiated networks (LW-DNA) as a plugin for existing model zoos',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['lwdna_plugin', 'lwdna_plugin.*']),
    python_requires='>=3.9',
    install_requires=CORE,
    extras_require=EXTRAS,
    license='Apache-2.0',
)
