"""The LW-DNA hypernetwork: conv / linear weights generated from per-unit latent vectors,
and the scores of the units.

Per layer with output latents z_o (n) and input latents z_i (c) the reference computes
``o = z_o ⊗ z_i + b0``, ``o = o[..., None] * w1 + b1``, ``W = (w2 @ o[..., None]).squeeze + b2``.

Two forms, chosen by the search protocol (:class:`~lwdna_plugin.core.config.LWDNAConfig`
``criterion``):

- *trainable* (``'gradient'``, ``'magnitude'``): w1, w2 and the biases are parameters; every
  scoring batch is an optimizer step of latents, hypernetwork and the model's own parameters,
  as in the reference code;
- *contracted* (``'gradient_sum'``, no steps): with the biases at their zero initialisation
  ``W[n, c, k] = z_o[n] · z_i[c] · Σ_m w1[n, c, m] · w2[n, c, k, m]``, so w1 and w2 are
  contracted once over m and only that (n, c, k²) factor is kept: the same weights and the
  same gradients w.r.t. z at a fraction of the memory.

Both draw w1 and w2 from the same raw words, so at initialisation they generate the same weights.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch.func import functional_call

from .batches import CALL_ERRORS, check_inputs, check_loss, check_targets, describe
from .errors import ConfigError, SearchDivergedError, UnsupportedModelError
from .channel_graph import ChannelGraph
from .layer_types import CONV_TYPES
from .tracing import ForwardFn, default_forward

LossFn = Callable[[Any, Any], torch.Tensor]
OptimizerFactory = Callable[[List[torch.Tensor]], torch.optim.Optimizer]


@dataclass
class _GeneratedLayer:
    name: str
    out_units: torch.Tensor      # (n,) latent index per output channel
    in_units: torch.Tensor       # (n, c) or (1, c): latent index per weight input channel
    shape: Tuple[int, ...]
    factor: Optional[torch.Tensor] = None   # contracted form: (n, c, *kernel) Σ_m w1·w2
    hyper: Optional[nn.ParameterDict] = None   # trainable form: w1 (n, c, m), w2 (n, c, k, m), b0, b1, b2

    def weight(self, z: torch.Tensor) -> torch.Tensor:
        o = z[self.out_units][:, None] * z[self.in_units]            # (n, c)
        if self.hyper is None:
            return o.reshape(o.shape + (1,) * (self.factor.dim() - 2)) * self.factor
        h = self.hyper
        hidden = (o + h['b0'])[..., None] * h['w1'] + h['b1']          # (n, c, m)
        return (torch.einsum('nckm,ncm->nck', h['w2'], hidden) + h['b2']).reshape(self.shape)


class HyperScorer:
    """Latent vectors of one graph and the weights they generate."""

    def __init__(self, graph: ChannelGraph, embedding_dim: int = 8, seed: int = 0,
                 device: Optional[torch.device] = None, trainable: bool = False):
        self.graph = graph
        self.device = device or model_device(graph.model)
        n_units = len(graph.unit_group)
        specs = []   # (name, weight shape, out units, in units)
        extra = 0    # one latent element per depth-wise conv (its input latent, never shrunk)
        for name in generated_layer_names(graph):
            module = graph.modules[name]
            shape = tuple(module.weight.shape)
            n, c = shape[0], shape[1]
            out_units = torch.as_tensor(graph.units_of(name, 'out'), dtype=torch.long)
            in_all = torch.as_tensor(graph.units_of(name, 'in'), dtype=torch.long)
            groups = getattr(module, 'groups', 1)
            if groups > 1 and c == 1:
                in_units = torch.full((n, 1), n_units + extra, dtype=torch.long)
                extra += 1
            elif groups > 1:
                group_of_out = torch.arange(n) // (n // groups)
                in_units = in_all[(group_of_out[:, None] * c + torch.arange(c)[None, :])]
            else:
                in_units = in_all[None, :]   # the same input latents for every output channel
            specs.append((name + '.weight', shape, out_units, in_units, module.weight.dtype))
        # one independent random stream per layer (and one for the latents): the draws do not
        # depend on thread scheduling, and layers are drawn in parallel
        streams = np.random.SeedSequence(seed).spawn(len(specs) + 1)
        largest_first = sorted(range(len(specs)), key=lambda i: -math.prod(specs[i][1]))
        with ThreadPoolExecutor(max_workers=max(1, torch.get_num_threads())) as pool:
            draw = draw_hypernet if trainable else draw_factor
            drawn = dict(zip(largest_first, pool.map(
                lambda i: draw(specs[i][1][0], specs[i][1][1], math.prod(specs[i][1][2:]), embedding_dim,
                               _rng(streams[i])), largest_first)))
        self.layers = []
        for i, (name, shape, out_u, in_u, dtype) in enumerate(specs):
            layer = _GeneratedLayer(name, out_u.to(self.device), in_u.to(self.device), shape)
            if trainable:
                w1, w2 = drawn[i]
                n, c, k = w2.shape[:3]
                layer.hyper = nn.ParameterDict({
                    'w1': w1, 'w2': w2, 'b0': torch.zeros(n, c), 'b1': torch.zeros(n, c, embedding_dim),
                    'b2': torch.zeros(n, c, k)}).to(self.device, dtype)
            else:
                layer.factor = drawn[i].reshape(shape).to(self.device, dtype)
            self.layers.append(layer)
        latent = _rng(streams[-1]).standard_normal(n_units + extra, dtype=np.float32)
        self.latent = nn.Parameter(torch.from_numpy(latent).to(self.device))
        self.num_units = n_units
        self.batches_used = 0   # by the last score()

    def weights(self) -> Dict[str, torch.Tensor]:
        """Generated weight of every layer, differentiable w.r.t. ``self.latent`` (and the
        hypernetwork parameters in the trainable form)."""
        return {layer.name: layer.weight(self.latent) for layer in self.layers}

    def parameters(self) -> List[nn.Parameter]:
        """The latents and, in the trainable form, every hypernetwork weight and bias."""
        return [self.latent] + [p for layer in self.layers if layer.hyper is not None for p in layer.hyper.values()]

    def score(self, model: nn.Module, batches: Iterable, loss_fn: LossFn, num_batches: int = 2,
              batch_fraction: float = 1.0, forward_fn: Optional[ForwardFn] = None,
              progress: Optional[Callable[[int, float], None]] = None, criterion: str = 'gradient_sum',
              make_optimizer: Optional[OptimizerFactory] = None) -> np.ndarray:
        """Unit scores in train mode over ``num_batches`` batches (see the module docstring):
        ``'gradient_sum'``: |∂L/∂z| accumulated, no steps; ``'gradient'``: an optimizer step per
        batch (``make_optimizer(params)``, over the latents, the hypernetwork and the model's own
        parameters), |∂L/∂z| of the last batch; ``'magnitude'``: the same steps, then |z|."""
        forward_fn = forward_fn or default_forward
        steps = criterion != 'gradient_sum'
        if steps and (make_optimizer is None or any(layer.hyper is None for layer in self.layers)):
            raise ConfigError(f'criterion {criterion!r} takes optimizer steps: build the HyperScorer with '
                              'trainable=True and pass make_optimizer')
        generated = {layer.name for layer in self.layers}
        others = self.parameters()[1:] + [p for name, p in model.named_parameters()
                                          if name not in generated and p.requires_grad]
        optimizer = make_optimizer([self.latent] + others) if steps else None
        modes = {m: m.training for m in model.modules()}
        model.train()
        self.latent.grad = None
        used, last, first = 0, None, None
        try:
            for batch in batches:
                if used >= num_batches:
                    break
                inputs, targets = _split_batch(batch)
                inputs, targets = _to_device(_take_fraction(inputs, batch_fraction), self.device), \
                    _to_device(_take_fraction(targets, batch_fraction), self.device)
                check_inputs(inputs, model, used + 1, first)
                first = inputs if first is None else first
                if optimizer is not None:
                    optimizer.zero_grad(set_to_none=True)
                try:
                    output = forward_fn(_WithWeights(model, self.weights()), inputs)
                except CALL_ERRORS as e:
                    if used:
                        raise ConfigError(f'the widened model fails on batch {used + 1} ({describe(inputs)}) after '
                                          f'running on the first ({describe(first)}): {e}') from e
                    raise UnsupportedModelError(
                        f'the widened {type(model).__name__} does not run ({e}); its forward pass probably '
                        'hard-codes channel counts') from e
                check_targets(output, targets, used + 1)
                try:
                    loss = loss_fn(output, targets)
                except CALL_ERRORS as e:
                    raise ConfigError(f'the loss fails on batch {used + 1} (targets {describe(targets)}): {e}') from e
                check_loss(loss, used + 1)
                if not torch.isfinite(loss):
                    if optimizer is not None and used:
                        raise SearchDivergedError(f'the search diverged: the loss is {float(loss)} after {used} optimizer '
                                          'step(s); lower search_lr (or use the run\'s own optimizer)')
                    raise ConfigError(f'the loss must be finite, got {float(loss)}')
                loss.backward()
                last = self.latent.grad[:self.num_units].abs().detach().clone()
                if not torch.isfinite(last).all():
                    cause = (f'the search diverged after {used} optimizer step(s); lower search_lr' if optimizer is not None
                             and used else 'the loss has no finite gradient here (e.g. sqrt or log at 0)')
                    error = SearchDivergedError if optimizer is not None and used else ConfigError
                    raise error(f'the gradient of the loss w.r.t. the latents is not finite on batch {used + 1}: '
                                f'{cause}')
                if optimizer is not None:
                    if used + 2 >= num_batches:
                        # the last batch's score depends on the latents alone (their gradient, or
                        # their step): every other tensor takes its last step now, and is frozen
                        for p in others:
                            p.requires_grad_(False)
                    optimizer.step()
                used += 1
                if progress is not None:
                    progress(used, float(loss.detach()))
        finally:
            for m, mode in modes.items():
                m.training = mode
            if optimizer is not None:
                for p in others:
                    p.requires_grad_(True)
        self.batches_used = used
        if used == 0:
            raise ConfigError('no training batch to score the channels with: the batches / dataloader is empty')
        scores = self.latent.detach()[:self.num_units].abs() if criterion == 'magnitude' else last
        if not torch.isfinite(scores).all():
            raise SearchDivergedError(f'the search diverged: non-finite {criterion} scores after {used} batch(es); '
                              'lower search_lr (or use the run\'s own optimizer)')
        return scores.cpu().numpy()

    @torch.no_grad()
    def write_weights(self, model: nn.Module) -> None:
        """Copy the generated weights into the model's own parameters."""
        params = dict(model.named_parameters())
        for name, weight in self.weights().items():
            params[name].copy_(weight)


def hypernet_bytes(graph: ChannelGraph, embedding_dim: int, trainable: bool) -> int:
    """Memory the hypernetwork of ``graph`` takes while scoring: per generated layer w1, w2 and
    the biases (trainable form) or the contracted factor, each with its gradient, in float32."""
    total = 0
    for name in generated_layer_names(graph):
        weight = graph.modules[name].weight
        n, c, k = weight.shape[0], weight.shape[1], math.prod(weight.shape[2:])
        per_layer = n * c * (k * embedding_dim + 2 * embedding_dim + k + 1) if trainable else n * c * k
        total += 2 * 4 * per_layer
    return total


def available_bytes(device: torch.device) -> Optional[int]:
    """Free memory of ``device`` (CUDA: the driver's figure; CPU on Linux: MemAvailable, capped
    by a cgroup v2 memory limit when the process runs under one), or None if unknown."""
    if device.type == 'cuda':
        return int(torch.cuda.mem_get_info(device)[0])
    free = []
    try:
        with open('/proc/meminfo') as f:
            free += [int(line.split()[1]) * 1024 for line in f if line.startswith('MemAvailable:')]
        with open('/sys/fs/cgroup/memory.max') as f, open('/sys/fs/cgroup/memory.current') as g:
            limit, used = f.read().strip(), g.read().strip()
        if limit.isdigit() and used.isdigit():
            free.append(int(limit) - int(used))
    except OSError:
        pass
    return min(free) if free else None


def check_hypernet_memory(needed: int, available: Optional[int]) -> None:
    """Raise :class:`ConfigError` when the hypernetwork alone would not fit (the process would be
    killed by the system instead of failing with a message)."""
    if available is not None and needed > available:
        raise ConfigError(f'the hypernetwork of the widened model needs about {needed / 2 ** 30:.1f} GiB (embedding_dim x '
                          f'the widened weights, with gradients) but {available / 2 ** 30:.1f} GiB are free: lower '
                          'embedding_dim or width_mult, or keep the largest layers out (ignored_layers)')


def generated_layer_names(graph: ChannelGraph) -> List[str]:
    """Layers whose weight the hypernetwork generates: every conv and every linear layer the
    forward pass uses, except the final classifier (kept plain, as in the reference)."""
    classifiers = set(graph.classifiers)
    return [name for name, module in graph.modules.items()
            if name in graph.traced and name not in classifiers
            and isinstance(module, CONV_TYPES + (nn.Linear,))
            and not isinstance(module, nn.modules.conv._ConvTransposeNd)]


class _WithWeights:
    """Calls ``model`` with its generated weights substituted (torch.func.functional_call)."""

    def __init__(self, model: nn.Module, weights: Dict[str, torch.Tensor]):
        self._model = model
        self._weights = weights

    def __call__(self, *args, **kwargs):
        return functional_call(self._model, self._weights, args, kwargs, strict=False)

    def __getattr__(self, name):
        return getattr(self._model, name)


def draw_factor(n: int, c: int, k: int, m: int, rng: np.random.Generator,
                chunk: int = 1 << 19) -> torch.Tensor:
    """Σ_m w1·w2 of shape (n, c, k) with w1 ~ U(±√3) of shape (n, c, m) and
    w2 ~ U(±√3·√(1/(m·c·k))) of shape (n, c, k, m), drawn from ``rng``'s raw 64-bit words
    (:func:`_raw_chunks`). Σ_m is summed on the integer-valued floats and scaled once by
    √3·b·2⁻⁴⁶."""
    scale = math.sqrt(3.0) * math.sqrt(3.0 / (m * c * k)) * 2.0 ** -46
    out = torch.empty(n, c, k)
    for start, stop, s in _raw_chunks(n, c, k, m, rng, chunk):
        acc = s[:k, 0] * s[k, 0]
        for i in range(1, m):
            acc += s[:k, i] * s[k, i]
        out[start:stop] = torch.from_numpy(acc).t().reshape(stop - start, c, k)
    return out.mul_(scale)


def draw_hypernet(n: int, c: int, k: int, m: int, rng: np.random.Generator,
                  chunk: int = 1 << 19) -> Tuple[torch.Tensor, torch.Tensor]:
    """w1 (n, c, m) and w2 (n, c, k, m) themselves, from the same raw words as :func:`draw_factor`
    (so Σ_m w1·w2 is its factor, up to float rounding)."""
    w1, w2 = torch.empty(n, c, m), torch.empty(n, c, k, m)
    for start, stop, s in _raw_chunks(n, c, k, m, rng, chunk):
        rows = stop - start
        w2[start:stop] = torch.from_numpy(s[:k]).permute(2, 0, 1).reshape(rows, c, k, m)
        w1[start:stop] = torch.from_numpy(s[k]).t().reshape(rows, c, m)
    return w1.mul_(math.sqrt(3.0) * 2.0 ** -23), w2.mul_(math.sqrt(3.0) * math.sqrt(1.0 / (m * c * k)) * 2.0 ** -23)


def _raw_chunks(n: int, c: int, k: int, m: int, rng: np.random.Generator, chunk: int):
    """Output channels in chunks of ``rows`` (about ``chunk`` values, ⌈values / 2⌉ fresh words
    each) as integer-valued float32 laid out (k + 1, m, rows·c): value [j, i, r·c + ch] is
    w2[start + r, ch, j, i] for j < k and w1[start + r, ch, i] for j = k, unscaled.

    Each word is viewed as two int32; ``s = int32 >> 8`` is uniform on the integers of
    [−2²³, 2²³), so ``s·2⁻²³`` takes exactly the values of numpy's float32 uniform mapped to
    [−1, 1), each with the same probability."""
    rows = max(1, chunk // (c * (k + 1) * m))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        size = (stop - start) * c
        words = rng.bit_generator.random_raw(((k + 1) * m * size + 1) // 2)
        ints = words.view(np.int32)[:(k + 1) * m * size]
        np.right_shift(ints, 8, out=ints)
        yield start, stop, ints.astype(np.float32).reshape(k + 1, m, size)


def _rng(seed: np.random.SeedSequence) -> np.random.Generator:
    """SFC64: the fastest of numpy's bit generators here (the draws are bound by its raw words)."""
    return np.random.Generator(np.random.SFC64(seed))


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device('cpu')


def _split_batch(batch: Any) -> Tuple[Any, Any]:
    if isinstance(batch, dict) and 'inputs' in batch:
        return batch['inputs'], batch.get('targets', batch.get('data_samples'))
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ConfigError('each batch must be an (inputs, targets) pair, got '
                      f'{type(batch).__name__}{"" if not hasattr(batch, "__len__") else f" of length {len(batch)}"}')


def _take_fraction(x: Any, fraction: float) -> Any:
    """The first ``fraction`` of a batch: tensors along dim 0, lists per sample, tuples per field."""
    if fraction >= 1.0:
        return x
    if torch.is_tensor(x) and x.dim() > 0:
        return x[:max(1, int(math.ceil(x.shape[0] * fraction)))]
    if isinstance(x, list):
        return x[:max(1, int(math.ceil(len(x) * fraction)))]
    if isinstance(x, tuple):
        return tuple(_take_fraction(t, fraction) for t in x)
    if isinstance(x, dict):
        return {k: _take_fraction(v, fraction) for k, v in x.items()}
    return x


def _to_device(x: Any, device: torch.device) -> Any:
    if torch.is_tensor(x):
        return x.to(device)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(t, device) for t in x)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x
