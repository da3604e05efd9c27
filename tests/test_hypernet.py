"""The hypernetwork generates exactly the reference formula and scores with |dL/dz|."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lwdna_plugin.core import build_channel_graph
from lwdna_plugin.core.hypernet import HyperScorer


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(6)
        self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False)
        self.bn2 = nn.BatchNorm2d(6)
        self.gconv = nn.Conv2d(6, 6, 1, groups=2, bias=False)
        self.bn3 = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.dw(x)))
        x = F.relu(self.bn3(self.gconv(x)))
        return self.fc(x.mean((2, 3)))


def reference_weight(z_out, z_in, w1, w2, kernel):
    """METHOD.md step 2 with zero biases, literally."""
    o = torch.outer(z_out, z_in)                       # (n, c)
    o = o[..., None] * w1                              # (n, c, m)
    w = (w2 @ o[..., None]).squeeze(-1)                # (n, c, k*k)
    return w.reshape(z_out.numel(), z_in.numel(), *kernel)


def test_generated_weights_follow_the_reference_formula():
    model = Small()
    graph = build_channel_graph(model, torch.zeros(1, 3, 8, 8))
    m, seed = 3, 7
    scorer = HyperScorer(graph, embedding_dim=m, seed=seed)
    weights = scorer.weights()
    assert set(weights) == {'conv1.weight', 'dw.weight', 'gconv.weight'}   # the classifier stays plain

    streams = np.random.SeedSequence(seed).spawn(len(scorer.layers) + 1)
    draws = {}
    for layer, stream in zip(scorer.layers, streams):   # one stream per layer, one chunk at this size
        rng = np.random.Generator(np.random.SFC64(stream))
        n, c = layer.shape[:2]
        k = math.prod(layer.shape[2:])
        values = n * c * (k + 1) * m
        # raw 64-bit words as int32 pairs, >> 8: uniform integers of [-2^23, 2^23), i.e. U(-1, 1)
        # on numpy's float32 grid, laid out (k + 1, m, n, c): the k rows of w2, then w1
        ints = rng.bit_generator.random_raw((values + 1) // 2).view(np.int32)[:values].astype(np.int64) >> 8
        u = torch.from_numpy(ints.reshape(k + 1, m, n, c)).double().permute(2, 3, 0, 1) * 2.0 ** -23
        b2 = math.sqrt(3) * math.sqrt(1 / (m * c * k))
        draws[layer.name] = ((math.sqrt(3) * u[:, :, k]).float(), (b2 * u[:, :, :k]).float())
    z = torch.from_numpy(np.random.Generator(np.random.SFC64(streams[-1])).standard_normal(scorer.latent.numel(), dtype=np.float32))
    assert torch.equal(z, scorer.latent.detach())

    # conv1: plain conv, input latents are the (fixed) image channels
    w1, w2 = draws['conv1.weight']
    out_u, in_u = graph.units_of('conv1', 'out'), graph.units_of('conv1', 'in')
    expected = reference_weight(z[out_u], z[in_u], w1, w2, (3, 3))
    torch.testing.assert_close(weights['conv1.weight'], expected, rtol=1e-5, atol=1e-6)

    # depth-wise: output latents of its group, one extra never-shrunk input latent
    w1, w2 = draws['dw.weight']
    dw_latent = z[graph.slot_unit.max() + 1:][:1]
    expected = torch.stack([reference_weight(z[u:u + 1], dw_latent, w1[j:j + 1], w2[j:j + 1], (3, 3))[0]
                            for j, u in enumerate(graph.units_of('dw', 'out'))])
    torch.testing.assert_close(weights['dw.weight'], expected, rtol=1e-5, atol=1e-6)

    # group conv: each output channel sees the latents of its own conv group's inputs
    w1, w2 = draws['gconv.weight']
    out_u, in_u = graph.units_of('gconv', 'out'), graph.units_of('gconv', 'in')
    rows = []
    for j in range(6):
        g = j // 3
        rows.append(reference_weight(z[out_u[j:j + 1]], z[in_u[3 * g:3 * g + 3]], w1[j:j + 1], w2[j:j + 1], (1, 1))[0])
    torch.testing.assert_close(weights['gconv.weight'], torch.stack(rows), rtol=1e-5, atol=1e-6)


def test_group_conv_channels_share_one_latent_unit():
    graph = build_channel_graph(Small(), torch.zeros(1, 3, 8, 8))
    units = graph.units_of('gconv', 'out')
    assert len(set(units[:3].tolist())) == 1 and len(set(units[3:].tolist())) == 1 and units[0] != units[3]
    assert np.array_equal(graph.units_of('gconv', 'in'), units)


def test_scores_are_gradients_in_train_mode(digit_batches):
    model = Small()
    graph = build_channel_graph(model, torch.zeros(1, 3, 32, 32))
    scorer = HyperScorer(graph, embedding_dim=4, seed=0)
    batches = [(x, y % 4) for x, y in digit_batches]
    running = model.bn1.running_mean.clone()
    model.eval()
    scores = scorer.score(model, batches, F.cross_entropy, num_batches=2)
    assert not model.training                                  # mode restored
    assert not torch.equal(model.bn1.running_mean, running)    # BN ran in train mode
    assert scores.shape == (len(graph.unit_group),) and (scores >= 0).all()
    prunable = np.concatenate([g.units for g in graph.prunable_groups])
    assert (scores[prunable] > 0).all()

    # the same numbers by hand: |d(sum of batch losses)/dz| through the generated weights
    manual = HyperScorer(graph, embedding_dim=4, seed=0)
    model.train()
    total = sum(F.cross_entropy(torch.func.functional_call(model, manual.weights(), (x,)), y) for x, y in batches)
    (grad,) = torch.autograd.grad(total, manual.latent)
    np.testing.assert_allclose(scores, grad.abs()[:len(scores)].numpy(), rtol=1e-4, atol=1e-7)



def test_scores_are_deterministic_per_seed(digit_batches):
    batches = [(x, y % 4) for x, y in digit_batches]

    def run(seed):
        torch.manual_seed(0)
        model = Small()
        graph = build_channel_graph(model, torch.zeros(1, 3, 32, 32))
        return HyperScorer(graph, embedding_dim=4, seed=seed).score(model, batches, F.cross_entropy)

    assert np.array_equal(run(0), run(0))
    assert not np.array_equal(run(0), run(1))


def test_num_batches_and_fraction(digit_batches):
    batches = [(x, y % 4) for x, y in digit_batches]
    seen = []
    model = Small()
    graph = build_channel_graph(model, torch.zeros(1, 3, 32, 32))

    def loss(out, y):
        seen.append(len(y))
        return F.cross_entropy(out, y)
    HyperScorer(graph, 4).score(model, batches * 3, loss, num_batches=3, batch_fraction=0.25)
    assert seen == [2, 2, 2]


def reference_weight_with_biases(z_out, z_in, h, shape):
    """METHOD.md step 2 with the biases, literally: o = z_o ⊗ z_i + b0, o·w1 + b1, w2 @ o + b2."""
    o = torch.outer(z_out, z_in) + h['b0']
    o = o[..., None] * h['w1'] + h['b1']
    return ((h['w2'] @ o[..., None]).squeeze(-1) + h['b2']).reshape(shape)


def by_hand_reference_search(model, graph, batches, criterion, lr=0.1, momentum=0.9, wd=1e-4):
    """The reference search written out: every batch zero_grad, forward in train mode, loss,
    backward, SGD step over latents, hypernetwork and the model's own parameters."""
    scorer = HyperScorer(graph, embedding_dim=4, seed=0, trainable=True)
    own = [p for name, p in model.named_parameters() if name not in {l.name for l in scorer.layers}]
    optimizer = torch.optim.SGD(scorer.parameters() + own, lr=lr, momentum=momentum, weight_decay=wd)
    model.train()
    for x, y in batches:
        optimizer.zero_grad()
        F.cross_entropy(torch.func.functional_call(model, scorer.weights(), (x,)), y).backward()
        grad = scorer.latent.grad.clone()
        optimizer.step()
    n = len(graph.unit_group)
    return (grad if criterion == 'gradient' else scorer.latent.detach()).abs()[:n].numpy(), scorer


def test_step_protocol_criteria_match_the_reference_search(digit_batches):
    from lwdna_plugin.core.shrink import search_optimizer
    from lwdna_plugin import LWDNAConfig

    batches = [(x, y % 4) for x, y in digit_batches]
    for criterion in ('gradient', 'magnitude'):
        torch.manual_seed(0)
        model = Small()
        graph = build_channel_graph(model, torch.zeros(1, 3, 32, 32))
        scorer = HyperScorer(graph, embedding_dim=4, seed=0, trainable=True)
        z0 = scorer.latent.detach().clone()
        cfg = LWDNAConfig(flops_target=0.9, criterion=criterion)
        scores = scorer.score(model, batches, F.cross_entropy, num_batches=2, criterion=criterion,
                              make_optimizer=search_optimizer(cfg))
        assert not torch.equal(scorer.latent.detach(), z0)                     # the latents moved
        for layer in scorer.layers:                                            # so did the biases
            assert all(layer.hyper[b].abs().sum() > 0 for b in ('b0', 'b1', 'b2'))

        torch.manual_seed(0)
        reference_model = Small()
        expected, reference = by_hand_reference_search(reference_model, graph_of(reference_model), batches,
                                                       criterion)
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-7)
        # the generated weights after the steps still follow the formula, now with biases
        z = scorer.latent.detach()
        layer = next(l for l in scorer.layers if l.name == 'conv1.weight')
        expected_w = reference_weight_with_biases(z[layer.out_units], z[layer.in_units[0]],
                                                  {k: v.detach() for k, v in layer.hyper.items()}, layer.shape)
        torch.testing.assert_close(scorer.weights()['conv1.weight'].detach(), expected_w, rtol=1e-5, atol=1e-6)


def graph_of(model):
    return build_channel_graph(model, torch.zeros(1, 3, 32, 32))


def test_contracted_and_trainable_forms_generate_the_same_initial_weights():
    graph = graph_of(Small())
    contracted = HyperScorer(graph, embedding_dim=3, seed=5).weights()
    trainable = HyperScorer(graph, embedding_dim=3, seed=5, trainable=True).weights()
    for name in contracted:
        torch.testing.assert_close(trainable[name].detach(), contracted[name].detach(), rtol=1e-5, atol=1e-7)


def test_criteria_choose_differently_and_are_recorded(digit_batches):
    import timm
    from lwdna_plugin import LWDNAConfig, shrink

    configs = {}
    for criterion in ('gradient_sum', 'gradient', 'magnitude'):
        torch.manual_seed(0)
        result = shrink(timm.create_model('resnet10t', num_classes=10), digit_batches, F.cross_entropy,
                        LWDNAConfig(flops_target=0.9, embedding_dim=2, criterion=criterion))
        configs[criterion] = result.channel_config
        assert result.channel_config['hyperparameters']['criterion'] == criterion
        assert result.channel_config['protocol']['criterion'] == criterion
        assert (result.channel_config['protocol']['optimizer'] is None) == (criterion == 'gradient_sum')
    kept = {c: [g['kept_indices'] for g in configs[c]['groups']] for c in configs}
    assert kept['gradient'] != kept['gradient_sum'] and kept['magnitude'] != kept['gradient']


def test_a_0_2_0_channel_config_still_rebuilds_unchanged():
    """Written by lwdna_plugin 0.2.0 (gradient summed at initialisation, before the step
    protocol): rebuilding never re-scores, so it gives 0.2.0's architecture."""
    import json
    from pathlib import Path

    from lwdna_plugin.timm import create_lwdna_model

    data = Path(__file__).parent / 'data'
    config = json.loads((data / 'resnet10t_digits_0.2.0_channels.json').read_text())
    assert config['environment']['lwdna_plugin'] == '0.2.0' and 'criterion' not in config['hyperparameters']
    model = create_lwdna_model(data / 'resnet10t_digits_0.2.0_channels.json')
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == json.loads((data / 'resnet10t_digits_0.2.0_shapes.json').read_text())


def test_hypernetwork_memory_is_checked_before_it_is_built():
    """A hypernetwork larger than the free memory is one ConfigError (torchvision's vgg11_bn ×2:
    ~30 GiB, which the system would otherwise kill the process for)."""
    from lwdna_plugin.core import ConfigError
    from lwdna_plugin.core.hypernet import available_bytes, check_hypernet_memory, hypernet_bytes

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(16, 4))
    graph = build_channel_graph(model, torch.zeros(1, 3, 8, 8))
    m = 2
    conv1, conv2 = 8 * 3 * (9 * m + 2 * m + 9 + 1), 16 * 8 * (1 * m + 2 * m + 1 + 1)   # the classifier is plain
    assert hypernet_bytes(graph, m, trainable=True) == 2 * 4 * (conv1 + conv2)
    assert hypernet_bytes(graph, m, trainable=False) == 2 * 4 * (8 * 3 * 9 + 16 * 8)
    free = available_bytes(torch.device('cpu'))
    assert free is None or free > 0
    check_hypernet_memory(10 ** 6, 10 ** 9)
    check_hypernet_memory(10 ** 9, None)
    with pytest.raises(ConfigError, match='needs about 0.9 GiB .* but 0.0 GiB are free'):
        check_hypernet_memory(10 ** 9, 10 ** 6)
