"""``LWDNASRModel`` (in basicsr's ``MODEL_REGISTRY``): basicsr's ``SRModel`` whose ``net_g`` is
shrunk by LW-DNA when the option file has an ``lwdna:`` block.

The channel config is decided before ``SRModel`` builds anything: rank 0 scores the
baseline ``network_g`` on batches of the option file's own train dataset with the option
file's pixel loss (a resumed run reads the experiment's ``lwdna_channels.json`` instead), every
rank receives the same config, and ``network_g`` becomes ``LWDNANet`` with that config. So
``net_g`` (then wrapped for DDP), the EMA copy, the optimizers and the schedulers all see
the LW-DNA network, which trains from scratch with basicsr's loop. Without an ``lwdna:``
block the model is ``SRModel``. Either way, distributed runs also work on CPU (gloo).
"""
from __future__ import annotations

import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, Iterator, Tuple

import torch
from basicsr.archs import build_network
from basicsr.data import build_dataset
from basicsr.losses import build_loss
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY
from torch.nn.parallel import DistributedDataParallel

from ..core import LWDNAConfig, load_channel_config, shrink
from ..core.channel_config import summarize
from ..core.distributed import shared_decision
from ..core.errors import ChannelConfigMismatchError, ConfigError
from ..core.logs import engine_logs_to

CHANNELS_FILE = 'lwdna_channels.json'


@MODEL_REGISTRY.register()
class LWDNASRModel(SRModel):
    """See the module docstring. ``self.lwdna_channel_config`` holds the config (or None)."""

    def __init__(self, opt: Dict[str, Any]):
        self.lwdna_channel_config = None
        if opt.get('lwdna') is not None:
            if not opt['is_train']:
                raise ConfigError('the lwdna block is for training; to test an LW-DNA network use network_g: '
                                  '{type: LWDNANet, channel_config: experiments/NAME/lwdna_channels.json}')
            cfg = LWDNAConfig.from_dict(dict(opt['lwdna']))
            config = shared_decision(lambda: _decide_channel_config(opt, cfg))
            opt['network_g'] = OrderedDict(type='LWDNANet', channel_config=config, base=opt['network_g'])
            self.lwdna_channel_config = config
            get_root_logger().info('LW-DNA summary:\n' + '\n'.join(f'  {k}: {v}' for k, v in summarize(config).items()))
        super().__init__(opt)

    def model_to_device(self, net: torch.nn.Module) -> torch.nn.Module:
        """basicsr's DDP wrapper passes a CUDA device id; on CPU use DDP without one."""
        if self.opt['dist'] and self.device.type == 'cpu':
            return DistributedDataParallel(net.to(self.device),
                                           find_unused_parameters=self.opt.get('find_unused_parameters', False))
        return super().model_to_device(net)

    def test(self) -> None:
        """SRModel's inference on the bare ``net_g``: basicsr validates on rank 0 only, where a
        DDP forward would wait for the other ranks (it broadcasts buffers, e.g. BatchNorm's)."""
        wrapped, self.net_g = self.net_g, self.get_bare_model(self.net_g)
        try:
            super().test()
        finally:
            self.net_g = wrapped

    def load_network(self, net, load_path, strict=True, param_key='params') -> None:
        """basicsr's loading, with one clear error for a missing, corrupt or mismatched file."""
        try:
            super().load_network(net, load_path, strict, param_key)
        except Exception as e:
            arch = type(self.get_bare_model(net)).__name__
            raise ChannelConfigMismatchError(
                f'cannot load {load_path!r} into the {arch} of this option file: {type(e).__name__}: '
                f'{str(e)[:500]}') from None

    def _log_validation_metric_values(self, current_iter, dataset_name, tb_logger) -> None:
        super()._log_validation_metric_values(current_iter, dataset_name, tb_logger)
        if self.lwdna_channel_config is not None:
            s = summarize(self.lwdna_channel_config)
            metrics = ', '.join(f'{k} {v:.4f}' for k, v in self.metric_results.items())
            get_root_logger().info(
                f'LW-DNA result on {dataset_name} @ iter {current_iter}: {metrics}; {s["LW-DNA FLOPs (G)"]} GFLOPs '
                f'({s["FLOPs ratio (%)"]} % of the baseline), {s["LW-DNA params (M)"]} M params')


def _decide_channel_config(opt: Dict[str, Any], cfg: LWDNAConfig) -> Dict[str, Any]:
    """A resumed run: the experiment's saved config. A new run: shrink, save JSON/report/plot."""
    logger = get_root_logger()
    experiment = opt['path']['experiments_root']
    saved = osp.join(experiment, CHANNELS_FILE)
    if opt['path'].get('resume_state'):
        if not osp.isfile(saved):
            raise ChannelConfigMismatchError(
                f'cannot resume {opt["path"]["resume_state"]!r}: the LW-DNA channel config {saved!r} is missing')
        logger.info(f'LW-DNA: resuming; rebuilding the architecture from {saved} (no new scoring)')
        return load_channel_config(saved)
    if opt['path'].get('pretrain_network_g'):
        raise ConfigError('an lwdna block trains a new LW-DNA network from scratch; pretrain_network_g cannot be '
                          'loaded into it (to continue a run use resume_state; to load an LW-DNA network use '
                          'network_g: {type: LWDNANet, channel_config: ...} without an lwdna block)')
    result = _shrink(opt, cfg)
    paths = result.save(experiment)
    logger.info(f'LW-DNA: wrote {paths["channel_config"]}, {paths["report"]} and {paths["plot"]}')
    return result.channel_config


def training_device(opt: Dict[str, Any]) -> torch.device:
    """The device basicsr trains on (this rank's GPU, or the CPU with ``num_gpu: 0``)."""
    return torch.device('cuda' if opt['num_gpu'] != 0 else 'cpu')


def _shrink(opt: Dict[str, Any], cfg: LWDNAConfig):
    logger = get_root_logger()
    pixel_opt = opt['train']['pixel_opt']   # checked with the options
    device = training_device(opt)
    dataset_opt = opt['datasets']['train']
    loader = torch.utils.data.DataLoader(
        build_dataset(dataset_opt), batch_size=dataset_opt['batch_size_per_gpu'], shuffle=True, drop_last=True,
        num_workers=0, generator=torch.Generator().manual_seed(cfg.seed))
    baseline = build_network(opt['network_g']).to(device)
    loss = build_loss(pixel_opt).to(device)
    with engine_logs_to(lambda level, message: logger.log(level, f'LW-DNA: {message}')):
        return shrink(baseline, _batches(loader, device), loss, cfg, model_name=opt['network_g']['type'],
                      builder={'zoo': 'basicsr', 'network_g': dict(opt['network_g'])},
                      make_optimizer=run_optimizer(opt))


SEARCH_SETTINGS = ('search_optimizer', 'search_lr', 'search_momentum', 'search_weight_decay')
OPTIMIZERS = {'Adam': torch.optim.Adam, 'AdamW': torch.optim.AdamW, 'SGD': torch.optim.SGD}
OPTIMIZER_KWARGS = ('lr', 'weight_decay', 'betas', 'eps', 'momentum', 'nesterov', 'amsgrad')


def run_optimizer(opt: Dict[str, Any]):
    """The search steps use the run's own optimizer (``train:optim_g``), as the reference search
    does, unless the lwdna block sets ``search_*`` itself. Only torch's Adam / AdamW / SGD with
    their numeric settings (an option file is data)."""
    if any(key in (opt.get('lwdna') or {}) for key in SEARCH_SETTINGS):
        return None
    optim = dict(opt['train'].get('optim_g') or {})
    kind = optim.pop('type', None)
    if kind not in OPTIMIZERS:
        raise ConfigError(f'train:optim_g type {kind!r} cannot drive the LW-DNA search steps; use one of '
                          f'{sorted(OPTIMIZERS)} or set search_optimizer / search_lr in the lwdna block')
    unknown = sorted(set(optim) - set(OPTIMIZER_KWARGS))
    if unknown:
        raise ConfigError(f'train:optim_g settings {unknown} are not used by the LW-DNA search; set search_* in the '
                          'lwdna block instead')
    if 'betas' in optim:
        optim['betas'] = tuple(optim['betas'])
    return lambda params: OPTIMIZERS[kind](params, **optim)


def _batches(loader, device: torch.device) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    for data in loader:
        yield data['lq'].to(device), data['gt'].to(device)
