"""``LWDNARunner``: mmengine's Runner that hands ``LWDNAClassifier`` its scoring data and any
channel config saved by an earlier run (resume, test, load_from)."""
from __future__ import annotations

import contextlib
import copy
import os
import os.path as osp
import re
import shutil
from typing import Any, Dict, Iterator, Optional

import torch
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import find_latest_checkpoint

from ..core import ChannelConfigMismatchError, LWDNAError, load_channel_config
from ..core.distributed import init_cpu_process_group
from .checkpoint import channel_config_from_checkpoint, mmengine_checkpoint_loading
from .hooks import CHANNELS_FILE, LWDNAHook
from .model import ATTR


def init_cpu_distributed(launcher: str) -> None:
    """torchrun on a machine without CUDA: start the gloo process group ourselves, because
    mmengine's pytorch launcher always calls ``torch.cuda.set_device``."""
    if launcher == 'pytorch':
        init_cpu_process_group()


def cpu_model_wrapper_cfg(launcher: str, model_wrapper_cfg: Optional[Dict[str, Any]],
                          find_unused_parameters: bool = False) -> Optional[Dict[str, Any]]:
    """Distributed runs without CUDA: DDP without ``device_ids`` (mmengine's default passes
    the local rank as a CUDA device id)."""
    if launcher != 'none' and not torch.cuda.is_available() and model_wrapper_cfg is None:
        return dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
                    find_unused_parameters=find_unused_parameters)
    return model_wrapper_cfg


RUN_FOLDER = re.compile(r'^\d{8}_\d{6}$')   # mmengine's per-run log folder (its timestamp)


@contextlib.contextmanager
def no_trace_of_refused_runs(work_dir: str) -> Iterator[None]:
    """If the block raises an :class:`LWDNAError` (bad input refused), remove the log folders
    mmengine created for this run in ``work_dir``, and ``work_dir`` itself if this run created
    it; nothing that was there before is touched."""
    existed = osp.isdir(work_dir)
    before = set(os.listdir(work_dir)) if existed else set()
    try:
        yield
    except LWDNAError:
        if osp.isdir(work_dir):
            for entry in set(os.listdir(work_dir)) - before:
                if RUN_FOLDER.match(entry) and osp.isdir(osp.join(work_dir, entry)):
                    shutil.rmtree(osp.join(work_dir, entry), ignore_errors=True)
            if not existed and not os.listdir(work_dir):
                os.rmdir(work_dir)
        raise


@RUNNERS.register_module()
class LWDNARunner(Runner):
    """Use with ``runner_type = 'LWDNARunner'`` (our ``tools/train.py`` and mmpretrain's stock
    one both honour it). Resume and ``load_from`` read checkpoints with ``weights_only=True``
    and only the message-hub types allowed, for the duration of that load. Everything else
    is mmengine's Runner."""

    def setup_env(self, env_cfg: Dict[str, Any]) -> None:
        init_cpu_distributed(self.launcher)
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg, model):
        return super().wrap_model(cpu_model_wrapper_cfg(self.launcher, model_wrapper_cfg,
                                                        self.cfg.get('find_unused_parameters', False)), model)

    def load_checkpoint(self, filename: str, *args: Any, **kwargs: Any):
        with mmengine_checkpoint_loading(filename):
            return super().load_checkpoint(filename, *args, **kwargs)

    def resume(self, filename: str, *args: Any, **kwargs: Any) -> None:
        with mmengine_checkpoint_loading(filename):
            super().resume(filename, *args, **kwargs)

    def build_model(self, model: Any):
        if isinstance(model, dict):
            model = copy.deepcopy(model)
            lwdna = _lwdna_model_cfg(model)
            if lwdna is not None:
                if lwdna.get('channel_config') is None:
                    lwdna['channel_config'] = self._saved_channel_config()
                if lwdna['channel_config'] is None:
                    lwdna.setdefault('scoring_dataloader', self._train_dataloader_cfg)
        return super().build_model(model)

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        """Add :class:`LWDNAHook` for LW-DNA models unless the config lists it already."""
        custom_hooks = list(custom_hooks or [])
        model = self.model.module if hasattr(self.model, 'module') else self.model
        if hasattr(model, ATTR) and not any(
                (isinstance(h, dict) and h.get('type') == 'LWDNAHook') or isinstance(h, LWDNAHook)
                for h in custom_hooks):
            custom_hooks.append(dict(type='LWDNAHook'))
        super().register_hooks(default_hooks, custom_hooks)

    def _saved_channel_config(self) -> Optional[Dict[str, Any]]:
        """Resume: from the checkpoint resumed from, else the work dir's JSON. load_from /
        test: from the checkpoint's meta. A fresh run: None (the shrink stage runs)."""
        checkpoint = None
        if self._resume:
            checkpoint = self._load_from or find_latest_checkpoint(self.work_dir)
        elif self._load_from is not None:
            checkpoint = self._load_from
        if checkpoint is not None:
            config = channel_config_from_checkpoint(checkpoint)
            if config is None:
                raise ChannelConfigMismatchError(
                    f'checkpoint {checkpoint!r} holds no LW-DNA channel config; it was not saved from an '
                    'LW-DNA model (train it with an lwdna config, or load it with its baseline config)')
            self.logger.info(f'LW-DNA: rebuilding the architecture from the channel config in {checkpoint}')
            return config
        saved = osp.join(self.work_dir, CHANNELS_FILE)
        if self._resume and osp.isfile(saved):
            self.logger.info(f'LW-DNA: no checkpoint to resume from; reusing {saved} (no new scoring)')
            return load_channel_config(saved)
        return None

    @property
    def _train_dataloader_cfg(self) -> Optional[Dict[str, Any]]:
        loader = self._train_dataloader
        return copy.deepcopy(loader) if isinstance(loader, dict) else None


def _lwdna_model_cfg(model: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The ``LWDNAClassifier`` dict: the model itself, or the student of a ``KDClassifier``."""
    if model.get('type') == 'LWDNAClassifier':
        return model
    student = model.get('student')
    return student if isinstance(student, dict) and student.get('type') == 'LWDNAClassifier' else None
