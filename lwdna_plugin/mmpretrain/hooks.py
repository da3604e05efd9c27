"""``LWDNAHook``: writes the channel config, report and plot to the work dir, logs the
summary (logger + visualizer, e.g. TensorBoard) and stores the config in checkpoint meta."""
from __future__ import annotations

import json
import os
import os.path as osp
import time
from typing import Any, Dict, Optional

from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from ..core.channel_config import save_channel_config, summarize
from ..core.report import format_table, layer_widths, plot_widths
from .checkpoint import META_KEY

CHANNELS_FILE = 'lwdna_channels.json'
REPORT_FILE = 'lwdna_report.md'
PLOT_FILE = 'lwdna_channels.png'


@HOOKS.register_module()
class LWDNAHook(Hook):
    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.accuracy: Optional[float] = None

    @staticmethod
    def channel_config(runner) -> Optional[Dict[str, Any]]:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return getattr(model, 'lwdna_channel_config', None)

    def before_run(self, runner) -> None:
        config = self.channel_config(runner)
        if config is None:
            return
        summary = summarize(config)
        runner.logger.info('LW-DNA summary:\n' + '\n'.join(f'  {k}: {v}' for k, v in summary.items()))
        runner.visualizer.add_scalars({f'lwdna/{k}': v for k, v in self.scalars(config).items()})
        self.write_files(runner, config)

    @master_only
    def write_files(self, runner, config: Dict[str, Any]) -> None:
        path = osp.join(runner.work_dir, CHANNELS_FILE)
        if osp.isfile(path):
            with open(path) as f:
                try:
                    same = json.load(f) == config
                except json.JSONDecodeError:
                    same = False
            if not same:   # keep an earlier run's config instead of overwriting it
                os.replace(path, osp.join(runner.work_dir, f'lwdna_channels.{time.strftime("%Y%m%d_%H%M%S")}.json'))
        save_channel_config(config, path)
        rows = _rows(config, runner)
        with open(osp.join(runner.work_dir, REPORT_FILE), 'w') as f:
            f.write('# LW-DNA channel report\n\n' + format_table(rows, summarize(config)))
        plot_widths(rows, osp.join(runner.work_dir, PLOT_FILE), title=f'LW-DNA {config["model"].get("name") or ""}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        config = self.channel_config(runner)
        if config is not None:
            checkpoint.setdefault('meta', {})[META_KEY] = config

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        for key, value in (metrics or {}).items():
            if 'top1' in key:
                self.accuracy = float(value)

    def after_run(self, runner) -> None:
        config = self.channel_config(runner)
        if config is None:
            return
        lines = [f'  {k}: {v}' for k, v in summarize(config).items()]
        if self.accuracy is not None:
            lines.append(f'  LW-DNA top-1 accuracy (last validation): {self.accuracy:.2f}')
        runner.logger.info('LW-DNA result:\n' + '\n'.join(lines))

    @staticmethod
    def scalars(config: Dict[str, Any]) -> Dict[str, float]:
        f, p = config['flops'], config['params']
        return {'flops_ratio': f['lwdna'] / f['baseline'], 'params_ratio': p['lwdna'] / p['baseline'],
                'lwdna_gflops': f['lwdna'] / 1e9, 'lwdna_mparams': p['lwdna'] / 1e6,
                'shrink_time_s': config['timings']['total_s']}


def _rows(config: Dict[str, Any], runner):
    """Per-layer rows: a layer's width scales with its group's units, so its baseline width is
    width × baseline units / kept units."""
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    widths = layer_widths(model)
    scale = {}
    for group in config['groups']:
        for member in group['members']:
            name, kind = member.rsplit(':', 1)
            if kind == 'out':
                scale[name] = group['baseline_units'] / group['kept_units']
    rows = []
    for name, width in widths.items():
        base = int(round(width * scale.get(name, 1.0)))
        rows.append({'layer': name, 'baseline': base, 'lwdna': width, 'percent': round(100.0 * width / base, 2)})
    return rows
