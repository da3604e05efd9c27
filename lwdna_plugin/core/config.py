"""Hyper-parameters of the LW-DNA shrink stage."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Union

import torch

from .errors import ConfigError

TARGET_FIELDS = ('flops_target', 'flops_target_abs', 'params_target', 'params_target_abs', 'latency_target',
                 'latency_target_ms')
LATENCY_DTYPES = ('float32', 'bfloat16', 'float16')
CRITERIA = ('gradient', 'magnitude', 'gradient_sum')
SEARCH_OPTIMIZERS = ('sgd', 'adam')


@dataclass
class LWDNAConfig:
    """Settings of one shrink run (names follow the paper / reference code).

    Exactly one target is given: ``flops_target`` / ``params_target`` / ``latency_target``
    are ratios of the **un-widened** baseline; ``flops_target_abs`` (multiply-adds) /
    ``params_target_abs`` / ``latency_target_ms`` (milliseconds per forward pass) are absolute
    values. Latency is measured on ``latency_device`` (default: the model's) in
    ``latency_dtype`` at batch ``latency_batch`` and the input size of the scoring batches
    (:mod:`lwdna_plugin.core.latency`: a per-layer table, cached on disk unless
    ``latency_cache`` is False). ``rho`` is the per-group floor (``remain_percentage``), ``tau`` the
    floor of the group feeding the final classifier (``linear_percentage``).
    ``channels_per_latent`` lets that many consecutive channels of every single-channel group
    share one latent element (one keep decision): 1 everywhere but the authors' CIFAR RegNet
    code, which uses 4. ``ignored_layers`` keep their channel groups at the baseline width
    (never widened or pruned); ``unpruned_layers`` are widened but their output channel
    groups are never pruned (the authors' RegNet code never prunes latents as long as the
    group width, which at width ×2 includes the stem and stage 1). ``keep_normalized_widths``
    keeps every group that a LayerNorm / GroupNorm normalises over its channels at its width (a
    transformer's embedding width, ConvNeXt's stage widths): such a norm's statistics change with
    the channels it keeps, so only with them fixed is the result exact (heads, MLP widths and
    every other group are still searched). ``keep_unmodelled_blocks`` (default True): where an op
    the grouping cannot follow runs inside a block that maps one tensor to one tensor (RepMLP's
    partition perceptron, a rotary embedding, MViT's pooling attention), that block is kept whole
    — not widened or pruned, with the channels it reads and writes — and the rest of the network
    is searched; the shrink warns naming it. False refuses such a model instead, naming the op and
    module.

    ``criterion`` chooses the search protocol (the reference code's, see METHOD.md step 3):

    - ``'gradient'`` (default): each of the ``num_batches`` scoring batches is an SGD step
      (``search_optimizer`` 'sgd' or 'adam', ``search_lr``, ``search_momentum`` (SGD),
      ``search_weight_decay``) of the hypernetwork model —
      latents, hypernetwork weights and biases, BatchNorm and the classifier all move — and a
      unit's score is |∂L/∂z| of the last batch (the authors' RegNet and CIFAR ResNet files);
    - ``'magnitude'``: the same steps, then |z| (the authors' ImageNet ResNet file);
    - ``'gradient_sum'``: no steps, |∂L/∂z| summed over the batches at initialisation
      (this plugin's protocol up to 0.2.0, kept for comparison).
    """

    width_mult: float = 2.0
    flops_target: Optional[float] = None
    flops_target_abs: Optional[float] = None
    params_target: Optional[float] = None
    params_target_abs: Optional[float] = None
    rho: float = 0.4
    tau: float = 0.45
    num_batches: int = 2
    batch_fraction: float = 1.0
    embedding_dim: int = 8
    channel_divisor: Union[int, str] = 1
    tolerance: float = 1e-3
    max_iterations: int = 100
    seed: int = 0
    ignored_layers: Sequence[str] = field(default_factory=tuple)
    unpruned_layers: Sequence[str] = field(default_factory=tuple)
    keep_normalized_widths: bool = False
    keep_unmodelled_blocks: bool = True
    grouping_timeout_s: float = 120.0
    channels_per_latent: int = 1
    criterion: str = 'gradient'
    search_optimizer: str = 'sgd'
    search_lr: float = 0.1
    search_momentum: float = 0.9
    search_weight_decay: float = 1e-4
    latency_target: Optional[float] = None
    latency_target_ms: Optional[float] = None
    latency_batch: int = 1
    latency_dtype: str = 'float32'
    latency_device: Optional[str] = None
    latency_cache: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        given = [f for f in TARGET_FIELDS if getattr(self, f) is not None]
        if len(given) == 0:
            raise ConfigError('LWDNAConfig needs one target: flops_target (ratio of the baseline), '
                              'flops_target_abs, params_target, params_target_abs, latency_target or '
                              'latency_target_ms')
        if len(given) > 1:
            raise ConfigError(f'LWDNAConfig takes exactly one target, got {given}')
        target = getattr(self, given[0])
        if not _is_number(target) or not target > 0:
            raise ConfigError(f'{given[0]} must be a positive number, got {target!r}')
        if not _is_number(self.width_mult) or not self.width_mult >= 1:
            raise ConfigError(f'width_mult must be >= 1, got {self.width_mult!r}')
        for name in ('rho', 'tau', 'batch_fraction'):
            value = getattr(self, name)
            if not _is_number(value) or not 0 < value <= 1:
                raise ConfigError(f'{name} must be in (0, 1], got {value!r}')
        for name in ('num_batches', 'embedding_dim', 'max_iterations', 'channels_per_latent', 'latency_batch') + \
                (('channel_divisor',) if self.channel_divisor != 'auto' else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f'{name} must be a positive integer, got {value!r}')
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 63:
            raise ConfigError(f'seed must be an integer from 0 to 2**63 - 1, got {self.seed!r}')
        if not _is_number(self.tolerance) or not 0 < self.tolerance < 1:
            raise ConfigError(f'tolerance must be in (0, 1), got {self.tolerance!r}')
        if not _is_number(self.grouping_timeout_s) or self.grouping_timeout_s <= 0:
            raise ConfigError(f'grouping_timeout_s must be positive, got {self.grouping_timeout_s!r}')
        if self.criterion not in CRITERIA:
            raise ConfigError(f'criterion must be one of {list(CRITERIA)}, got {self.criterion!r}')
        if self.search_optimizer not in SEARCH_OPTIMIZERS:
            raise ConfigError(f'search_optimizer must be one of {list(SEARCH_OPTIMIZERS)}, got {self.search_optimizer!r}')
        if not _is_number(self.search_lr) or not self.search_lr > 0:
            raise ConfigError(f'search_lr must be a positive number, got {self.search_lr!r}')
        if not _is_number(self.search_momentum) or not 0 <= self.search_momentum < 1:
            raise ConfigError(f'search_momentum must be in [0, 1), got {self.search_momentum!r}')
        if not _is_number(self.search_weight_decay) or not self.search_weight_decay >= 0:
            raise ConfigError(f'search_weight_decay must be >= 0, got {self.search_weight_decay!r}')
        if self.latency_dtype not in LATENCY_DTYPES:
            raise ConfigError(f'latency_dtype must be one of {list(LATENCY_DTYPES)}, got {self.latency_dtype!r}')
        if self.latency_device is not None:
            try:
                torch.device(self.latency_device)
            except (RuntimeError, TypeError):
                raise ConfigError(f'latency_device must be a torch device such as "cpu" or "cuda:0", '
                                  f'got {self.latency_device!r}') from None
        if not isinstance(self.latency_cache, bool):
            raise ConfigError(f'latency_cache must be true or false, got {self.latency_cache!r}')
        for name in ('keep_normalized_widths', 'keep_unmodelled_blocks'):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f'{name} must be true or false, got {getattr(self, name)!r}')
        for name in ('ignored_layers', 'unpruned_layers'):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f'{name} must be a list of module names, got {value!r}')
            setattr(self, name, tuple(value))

    def for_device(self, device: torch.device) -> 'LWDNAConfig':
        """This config with ``channel_divisor='auto'`` made a number for ``device``: the channel
        block its conv kernels work in (:func:`~lwdna_plugin.core.latency.channel_quantum`): 8 on
        CUDA (tensor-core tiles), 16 on AVX-512 CPUs, 8 on other CPUs. Measured on an AVX-512 CPU
        (docs/results.md): ÷16 was faster than ÷8 in 5 of 6 model / batch rows at the same FLOPs
        (MobileNetV2 batch 32: ÷1 1.126, ÷8 0.993, ÷16 0.944 of the baseline's latency)."""
        if self.channel_divisor != 'auto':
            return self
        from .latency import channel_quantum   # not at import: latency needs the graph modules

        return dataclasses.replace(self, channel_divisor=channel_quantum(torch.device(device)))

    @property
    def target_kind(self) -> str:
        """'flops', 'params' or 'latency'."""
        given = next(f for f in TARGET_FIELDS if getattr(self, f) is not None)
        return given.split('_')[0]

    def absolute_target(self, baseline: float) -> float:
        """The target in absolute units (MACs, parameters or seconds), ``baseline`` being the
        baseline's value of :attr:`target_kind`."""
        for ratio in ('flops_target', 'params_target', 'latency_target'):
            if getattr(self, ratio) is not None:
                return getattr(self, ratio) * baseline
        if self.latency_target_ms is not None:
            return self.latency_target_ms / 1e3
        return self.flops_target_abs if self.flops_target_abs is not None else self.params_target_abs

    def to_dict(self) -> Dict[str, Any]:
        out = dataclasses.asdict(self)
        out['ignored_layers'] = list(self.ignored_layers)
        out['unpruned_layers'] = list(self.unpruned_layers)
        return out

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> 'LWDNAConfig':
        """Build from a mapping (e.g. a zoo config's ``lwdna`` block); unknown keys are an error."""
        if not isinstance(values, dict):
            raise ConfigError(f'the lwdna block must be a mapping, got {type(values).__name__}')
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f'unknown lwdna option(s) {unknown}; valid options: {sorted(known)}')
        return cls(**values)


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool, NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
