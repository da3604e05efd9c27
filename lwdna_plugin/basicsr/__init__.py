"""basicsr adapter. Importing it makes ``import basicsr`` work on current torchvision and
registers: ``LWDNASRModel`` (MODEL_REGISTRY), ``LWDNANet``, ``DnCNN``, ``RestorationUNet``
(ARCH_REGISTRY) and ``GaussianDenoisingDataset`` (DATASET_REGISTRY). Run training through
``tools/train_basicsr.py`` (basicsr's own train pipeline; see :mod:`.pipeline`)."""
from ..compat import patch_basicsr_import

patch_basicsr_import()

from .archs import DnCNN, RestorationUNet  # noqa: E402
from .dataset import GaussianDenoisingDataset  # noqa: E402
from .lwdna_arch import LWDNANet  # noqa: E402
from .model import LWDNASRModel  # noqa: E402

__all__ = ['LWDNASRModel', 'LWDNANet', 'DnCNN', 'RestorationUNet', 'GaussianDenoisingDataset']
