"""Per-layer width table and the supplementary's Fig. 2 plot."""
from __future__ import annotations

import os
from typing import Any, Dict, List

import torch.nn as nn

from .layer_types import CONV_TYPES


def layer_widths(model: nn.Module) -> Dict[str, int]:
    """Output channels of every conv / linear layer and the heads of every attention module
    (``'<module> (heads)'``: a module holding an int ``num_heads`` and layers), in module order."""
    widths = {}
    for name, m in model.named_modules():
        heads = vars(m).get('num_heads')
        if type(heads) is int and heads > 0 and any(isinstance(c, CONV_TYPES + (nn.Linear,)) for c in m.modules()):
            widths[f'{name} (heads)'] = heads
        if isinstance(m, CONV_TYPES):
            widths[name] = m.out_channels
        elif isinstance(m, nn.Linear):
            widths[name] = m.out_features
    return widths


def layer_table(baseline: nn.Module, lwdna: nn.Module) -> List[Dict[str, Any]]:
    """Rows of (layer, baseline width, LW-DNA width, percent of baseline)."""
    base, new = layer_widths(baseline), layer_widths(lwdna)
    return [{'layer': name, 'baseline': base[name], 'lwdna': new[name],
             'percent': round(100.0 * new[name] / base[name], 2)} for name in base if name in new]


def format_table(rows: List[Dict[str, Any]], summary: Dict[str, Any] = None) -> str:
    """Markdown table of the per-layer widths, with an optional summary header."""
    lines = []
    if summary:
        lines += [f'- {k}: {v}' for k, v in summary.items()] + ['']
    width = max([len(r['layer']) for r in rows] + [5])
    lines.append(f'| {"layer".ljust(width)} | baseline | LW-DNA | % of baseline |')
    lines.append(f'|{"-" * (width + 2)}|---------:|-------:|--------------:|')
    for r in rows:
        lines.append(f'| {r["layer"].ljust(width)} | {r["baseline"]:8d} | {r["lwdna"]:6d} | {r["percent"]:13.2f} |')
    return '\n'.join(lines) + '\n'


def plot_widths(rows: List[Dict[str, Any]], path: str | os.PathLike, title: str = 'LW-DNA') -> None:
    """Bar plot of the percentage of remaining output channels per layer (PNG)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(max(6.0, 0.12 * len(rows) + 2), 3.6), dpi=120)
    xs = range(len(rows))
    ax.bar(xs, [r['percent'] for r in rows], color='#3b75af', width=0.8)
    ax.axhline(100, color='#c44e52', lw=1, ls='--', label='baseline width')
    ax.set_xlabel('layer index')
    ax.set_ylabel('remaining output channels (%)')
    ax.set_title(title)
    ax.set_xlim(-0.8, len(rows) - 0.2)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc='upper right', fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
