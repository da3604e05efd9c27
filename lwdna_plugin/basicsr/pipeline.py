"""Run basicsr's own ``train_pipeline`` / ``test_pipeline`` with the plugin, checking the
options before anything is written and making three basicsr 1.4.2 steps work on CPU:

- ``--launcher pytorch`` without CUDA: a gloo process group (basicsr's ``init_dist`` calls
  ``torch.cuda.set_device`` and defaults to NCCL);
- loading ``resume_state``: onto the CPU when there is no GPU (basicsr maps it to
  ``torch.cuda.current_device()``), with ``weights_only=True`` and one clear error for a
  missing or corrupt file;
- options: an invalid ``lwdna:`` block, an unreachable target, missing data folders and a train
  set smaller than one batch fail before basicsr creates or archives the experiment folder.

The replacements live only while :func:`train` / :func:`test` run.
"""
from __future__ import annotations

import copy
import os.path as osp
import sys
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

import torch

from ..core import LWDNAConfig, check_target
from ..core.distributed import init_cpu_process_group, run_and_close, shared_decision
from ..core.errors import ChannelConfigMismatchError, ConfigError, LWDNAError
from ..core.logs import engine_logs_to

STATE_KEYS = ('epoch', 'iter', 'optimizers', 'schedulers')


def train(root_path: str) -> int:
    """basicsr's ``train_pipeline(root_path)`` (experiments under ``root_path/experiments``).
    Returns 0, or 2 after printing one ``error:`` line for bad input."""
    import basicsr.train
    return _run(basicsr.train, basicsr.train.train_pipeline, root_path)


def test(root_path: str) -> int:
    """basicsr's ``test_pipeline(root_path)`` (results under ``root_path/results``)."""
    import basicsr.test
    return _run(basicsr.test, basicsr.test.test_pipeline, root_path)


def _run(module, pipeline, root_path: str) -> int:
    def run() -> int:
        try:
            with _patched(module):
                pipeline(root_path)
        except LWDNAError as e:
            print(f'error: {e}', file=sys.stderr)
            return 2
        return 0
    return run_and_close(run)


@contextmanager
def _patched(module) -> Iterator[None]:
    import basicsr.utils.options as options

    original_init_dist, original_parse = options.init_dist, module.parse_options

    def init_dist(launcher: str, backend: str = 'nccl', **kwargs: Any) -> None:
        if launcher == 'pytorch' and init_cpu_process_group():
            return
        original_init_dist(launcher, backend, **kwargs)

    def parse_options(root_path: str, is_train: bool = True):
        opt, args = original_parse(root_path, is_train)
        check_options(opt)
        return opt, args

    replaced = [(options, 'init_dist', init_dist), (module, 'parse_options', parse_options)]
    if hasattr(module, 'load_resume_state'):   # basicsr.train only
        replaced.append((module, 'load_resume_state', load_resume_state))
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in replaced]
    for owner, name, value in replaced:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def check_options(opt: Dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for an invalid ``lwdna:`` block, a missing data folder or a
    train set smaller than one batch."""
    from basicsr.utils.registry import MODEL_REGISTRY

    from .model import LWDNASRModel, run_optimizer

    lwdna = None
    if opt.get('lwdna') is not None:
        lwdna = LWDNAConfig.from_dict(dict(opt['lwdna']))
        if opt['model_type'] not in MODEL_REGISTRY.keys() or \
                not issubclass(MODEL_REGISTRY.get(opt['model_type']), LWDNASRModel):
            raise ConfigError(f'the lwdna block needs model_type: LWDNASRModel (got {opt["model_type"]!r})')
        if opt['network_g'].get('type') == 'LWDNANet':
            raise ConfigError('with an lwdna block, network_g is the baseline arch (not LWDNANet)')
        if opt['is_train']:
            if not opt['train'].get('pixel_opt'):
                raise ConfigError('LW-DNA scores channels with the pixel loss: the option file needs train:pixel_opt')
            run_optimizer(opt)   # an optim_g the search steps cannot use fails here, before any folder
    for phase, dataset_opt in opt['datasets'].items():
        for key in ('dataroot_gt', 'dataroot_lq'):
            root = dataset_opt.get(key)
            if root is not None and not osp.exists(root):
                raise ConfigError(f'datasets:{phase}:{key}: {root!r} does not exist (run from the folder the '
                                  'option paths are relative to)')
    if opt['is_train']:
        _check_train_set(opt)
        if lwdna is not None:   # rank 0 decides: ranks timing a latency target apart could disagree
            shared_decision(lambda: _check_target(opt, lwdna))


def _check_target(opt: Dict[str, Any], cfg: LWDNAConfig) -> None:
    """An unreachable target fails before basicsr creates or archives anything: the floors' cost
    is known from the baseline network alone (FLOPs ratios of these fully convolutional networks
    do not depend on the input size; a latency target is timed on the training device at the
    training patch size, and the layer table it builds is cached for the shrink)."""
    from .lwdna_arch import arch_constructor
    from .model import training_device

    network_g = copy.deepcopy(dict(opt['network_g']))
    network = arch_constructor(network_g.pop('type'))(**network_g)
    first = next((m for m in network.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if first is None:
        raise ConfigError(f'network_g {opt["network_g"]["type"]!r} has no convolution to resize')
    size = max(16, opt['datasets']['train'].get('gt_size', 64) // opt.get('scale', 1))
    device = training_device(opt)
    with engine_logs_to(lambda level, message: print(f'LW-DNA option check: {message}', file=sys.stderr)):
        check_target(network.to(device), torch.zeros(1, first.in_channels, size, size, device=device), cfg)


def _check_train_set(opt: Dict[str, Any]) -> None:
    from basicsr.utils.registry import DATASET_REGISTRY

    dataset_opt = opt['datasets'].get('train')
    if dataset_opt is None:
        raise ConfigError('the option file has no datasets:train')
    try:   # the class itself: build_dataset would log before basicsr sets up its log file
        size = len(DATASET_REGISTRY.get(dataset_opt['type'])(copy.deepcopy(dataset_opt)))
    except LWDNAError:
        raise
    except Exception as e:
        raise ConfigError(f'cannot build the train dataset: {type(e).__name__}: {e}') from None
    batch = dataset_opt['batch_size_per_gpu'] * opt['world_size']
    if size * dataset_opt.get('dataset_enlarge_ratio', 1) < batch:
        raise ConfigError(f'the train dataset {dataset_opt.get("name")!r} has {size} samples, fewer than one batch '
                          f'({batch})')


def load_resume_state(opt: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """basicsr's ``load_resume_state``: ``--auto_resume`` takes the latest state of the
    experiment, else ``path:resume_state``; loaded with ``weights_only=True`` onto the GPU if
    the run uses one, else the CPU."""
    from basicsr.utils import check_resume, scandir

    path = None
    if opt['auto_resume']:
        folder = opt['path']['training_states']
        states = list(scandir(folder, suffix='state', recursive=False, full_path=False)) if osp.isdir(folder) else []
        if states:
            path = osp.join(folder, f'{max(int(s.split(".state")[0]) for s in states)}.state')
            opt['path']['resume_state'] = path
    else:
        path = opt['path'].get('resume_state')
    if path is None:
        return None
    if not osp.isfile(path):
        raise ConfigError(f'resume_state {path!r} does not exist')
    device = f'cuda:{torch.cuda.current_device()}' if opt['num_gpu'] != 0 and torch.cuda.is_available() else 'cpu'
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:
        raise ChannelConfigMismatchError(f'cannot read resume_state {path!r}: {type(e).__name__}: {e}') from None
    if not isinstance(state, dict) or any(k not in state for k in STATE_KEYS):
        raise ChannelConfigMismatchError(f'{path!r} is not a basicsr training state (keys {list(STATE_KEYS)})')
    check_resume(opt, state['iter'])
    return state
