"""Bad input gets one clear error: unsupported ops (naming the module), invalid settings,
infeasible targets, empty data, mismatched or corrupt channel configs."""
from __future__ import annotations


import pytest
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from lwdna_plugin import (ChannelConfigMismatchError, ConfigError, InfeasibleTargetError, LWDNAConfig,
                          UnsupportedModelError, apply_channel_config, shrink)
from lwdna_plugin.core import build_channel_graph


class ZeroPadShortcut(nn.Module):
    """ResNet-56 'option A': subsample and zero-pad the channels."""

    def __init__(self, extra):
        super().__init__()
        self.extra = extra

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.extra // 2, self.extra // 2))


class ChannelShuffle(nn.Module):
    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class BlockSwap(nn.Module):
    """A view into channel blocks and a permute that is not a channel shuffle's transpose(1, 2)
    followed by a view back: refused (a shuffle is supported, see the test below)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).permute(0, 2, 1, 4, 3).reshape(n, c, w, h)


class ChannelsToRowsNorm(nn.Module):
    """A LayerNorm after swapping channels and rows (only NCHW <-> NHWC is supported)."""

    def __init__(self, w):
        super().__init__()
        self.norm = nn.LayerNorm(w)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)


class _Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class CustomOp(nn.Module):
    def forward(self, x):
        return _Square.apply(x)


class Net(nn.Module):
    def __init__(self, middle: nn.Module, down: bool = False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.conv = nn.Conv2d(16, 32 if down else 16, 3, stride=2 if down else 1, padding=1)
        self.shortcut = middle
        self.head = nn.Linear(32 if down else 16, 10)

    def forward(self, x):
        x = self.stem(x)
        x = F.relu(self.conv(x) + self.shortcut(x))
        return self.head(x.mean((2, 3)))


@pytest.mark.parametrize('middle,down,module,what', [
    (ZeroPadShortcut(16), True, 'shortcut', 'padding of the channel dimension'),
    (BlockSwap(2), False, 'shortcut', 'permute'),
    (ChannelsToRowsNorm(32), False, 'shortcut', 'permute'),
    (CustomOp(), False, 'shortcut', 'not modelled'),
])
@pytest.mark.parametrize('keep', [False, True])
def test_channel_moving_ops_are_refused_naming_the_module(middle, down, module, what, keep, digit_batches):
    """Refused naming op and module; or, with the shortcut kept whole (the default), refused
    because every channel of this net passes through it, still naming both."""
    model = Net(middle, down)
    with pytest.raises(UnsupportedModelError) as err:
        shrink(model, digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9, keep_unmodelled_blocks=keep))
    assert f"'{module}" in str(err.value) and what in str(err.value)
    assert ('kept whole' in str(err.value)) == (keep and module == 'shortcut')


def test_supported_variant_of_the_same_net_shrinks(digit_batches):
    """The same Net with an identity shortcut is fine: the refusals above are specific."""
    result = shrink(Net(nn.Identity()), digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9))
    assert result.model.conv.out_channels == result.model.stem[0].out_channels


@pytest.mark.parametrize('kwargs,field', [
    (dict(width_mult=0.5, flops_target=0.9), 'width_mult'),
    (dict(rho=0.0, flops_target=0.9), 'rho'),
    (dict(rho=1.5, flops_target=0.9), 'rho'),
    (dict(tau=-0.1, flops_target=0.9), 'tau'),
    (dict(tau=1.01, flops_target=0.9), 'tau'),
    (dict(num_batches=0, flops_target=0.9), 'num_batches'),
    (dict(embedding_dim=0, flops_target=0.9), 'embedding_dim'),
    (dict(flops_target=-1), 'flops_target'),
    (dict(), 'one target'),
    (dict(flops_target=0.9, params_target=0.9), 'exactly one target'),
    (dict(flops_target=float('nan')), 'flops_target'),
    (dict(flops_target=0.9, width_mult=float('inf')), 'width_mult'),
    (dict(flops_target=0.9, criterion='random'), 'criterion'),
    (dict(flops_target=0.9, search_optimizer='lbfgs'), 'search_optimizer'),
    (dict(flops_target=0.9, search_lr=0), 'search_lr'),
    (dict(flops_target=0.9, search_momentum=1.0), 'search_momentum'),
    (dict(flops_target=0.9, search_weight_decay=-1e-4), 'search_weight_decay'),
    (dict(flops_target=0.9, seed=-1), 'seed'),
    (dict(flops_target=0.9, seed='0'), 'seed'),
    (dict(flops_target=0.9, seed=1.5), 'seed'),
    (dict(flops_target=0.9, width_mult=float('nan')), 'width_mult'),
])
def test_invalid_settings(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        LWDNAConfig(**kwargs)


def test_a_diverging_search_is_one_clear_error(digit_batches):
    model = timm.create_model('resnet18', num_classes=10)
    with pytest.raises(ConfigError, match=r'the search diverged.*also at search_lr 1e\+27, after 3 tenfold'):
        shrink(model, digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9, embedding_dim=2, search_lr=1e30))


def test_unknown_option_in_a_config_block():
    with pytest.raises(ConfigError, match='unknown lwdna option'):
        LWDNAConfig.from_dict({'flops_target': 0.9, 'rh0': 0.4})


@pytest.mark.parametrize('target,phrase', [(0.05, 'floors already keep'), (5.0, 'above the whole widened')])
def test_infeasible_targets_fail_before_scoring(target, phrase, digit_batches):
    model = timm.create_model('resnet18', num_classes=10)
    pulled, losses = [], []

    def batches():
        for batch in digit_batches:
            pulled.append(batch)
            yield batch

    def loss(output, target):
        losses.append(1)
        return F.cross_entropy(output, target)

    with pytest.raises(InfeasibleTargetError, match=phrase):
        shrink(model, batches(), loss, LWDNAConfig(flops_target=target, embedding_dim=2))
    assert len(pulled) == 1 and not losses   # only the example batch was read; nothing was scored


def test_empty_batches():
    model = timm.create_model('resnet18', num_classes=10)
    with pytest.raises(ConfigError, match='empty'):
        shrink(model, [], F.cross_entropy, LWDNAConfig(flops_target=0.9))


def test_malformed_batch(digit_batches):
    model = timm.create_model('resnet18', num_classes=10)
    with pytest.raises(ConfigError, match=r'\(inputs, targets\)'):
        shrink(model, [digit_batches[0][0]], F.cross_entropy, LWDNAConfig(flops_target=0.9))


def test_channel_config_for_another_model(digit_batches):
    result = shrink(timm.create_model('resnet18', num_classes=10), digit_batches, F.cross_entropy,
                    LWDNAConfig(flops_target=0.9, embedding_dim=2))
    with pytest.raises(ChannelConfigMismatchError, match='channel groups'):
        apply_channel_config(timm.create_model('resnet34', num_classes=10), result.channel_config)
    with pytest.raises(ChannelConfigMismatchError, match='num_units'):
        apply_channel_config(timm.create_model('resnet18', num_classes=100), result.channel_config)


@pytest.mark.parametrize('config,phrase', [
    ([1, 2], 'not an LW-DNA channel config'),
    ({'format': 'something-else'}, 'not an LW-DNA channel config'),
    ({'format': 'lwdna-channel-config', 'version': 99}, 'version 99'),
    ({'format': 'lwdna-channel-config', 'version': 1}, 'lacks the field'),
])
def test_corrupt_channel_config(config, phrase):
    with pytest.raises(ChannelConfigMismatchError, match=phrase):
        apply_channel_config(timm.create_model('resnet18', num_classes=10), config)


def test_channel_config_file_that_is_not_json(tmp_path):
    path = tmp_path / 'broken.json'
    path.write_text('{"format": "lwdna-channel-config", "version": 1, "groups": [')
    with pytest.raises(ChannelConfigMismatchError, match='not valid JSON'):
        apply_channel_config(timm.create_model('resnet18', num_classes=10), str(path))


def test_grouping_time_limit():
    model = timm.create_model('densenet121', num_classes=10)
    with pytest.raises(UnsupportedModelError, match='did not finish within'):
        build_channel_graph(model, torch.zeros(1, 3, 32, 32), timeout_s=0.05)


def test_ignored_layers_keep_their_width(digit_batches):
    model = timm.create_model('resnet18', num_classes=10)
    result = shrink(model, digit_batches, F.cross_entropy,
                    LWDNAConfig(flops_target=0.9, embedding_dim=2, ignored_layers=['layer3.0.conv1']))
    assert result.model.layer3[0].conv1.out_channels == model.layer3[0].conv1.out_channels
    assert result.model.layer3[1].conv1.out_channels != model.layer3[1].conv1.out_channels
    with pytest.raises(UnsupportedModelError, match='not a module'):
        shrink(model, digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9, ignored_layers=['layer9']))


def test_unpruned_layers_are_widened_and_kept_whole(digit_batches):
    model = timm.create_model('resnet18', num_classes=10)
    with pytest.raises(InfeasibleTargetError, match='drop unpruned_layers'):
        shrink(model, digit_batches, F.cross_entropy,
               LWDNAConfig(flops_target=0.9, embedding_dim=2, unpruned_layers=['conv1']))
    cfg = LWDNAConfig(flops_target=1.5, embedding_dim=2, unpruned_layers=['conv1'])
    result = shrink(model, digit_batches, F.cross_entropy, cfg)
    widened = 2 * model.conv1.out_channels
    # the stem shares its group with layer1's residual outputs: all kept at the widened width
    assert result.model.conv1.out_channels == widened
    assert result.model.layer1[1].conv2.out_channels == widened
    assert result.model.layer1[0].conv1.out_channels < widened     # other groups still pruned
    assert result.channel_config['hyperparameters']['unpruned_layers'] == ['conv1']
    assert abs(result.channel_config['flops']['lwdna'] / result.channel_config['flops']['baseline'] - 1.5) < 0.01
    with pytest.raises(UnsupportedModelError, match="unpruned layer 'layer9'"):
        shrink(model, digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9, unpruned_layers=['layer9']))
    with pytest.raises(ConfigError, match='unpruned_layers must be a list'):
        LWDNAConfig(flops_target=0.9, unpruned_layers='conv1')


def test_model_mode_is_restored(digit_batches):
    model = timm.create_model('resnet18', num_classes=10).train()
    model.layer1.eval()
    shrink(model, digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9, embedding_dim=2))
    assert model.training and not model.layer1.training and model.layer2.training


class SpatialFlattenSE(nn.Module):
    """Squeeze-excitation written with a spatial reshape: channels stay where they are."""

    def __init__(self, c):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, 4, 1), nn.Conv2d(4, c, 1)

    def forward(self, x):
        n, c = x.shape[:2]
        s = x.reshape(n, c, -1).mean(-1).view(n, c, 1, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


def test_spatial_reshapes_are_channel_preserving(digit_batches):
    from lwdna_plugin.core.masking import relative_error, zero_removed_channels

    result = shrink(Net(SpatialFlattenSE(16)), digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9))
    x = digit_batches[0][0]
    reference = zero_removed_channels(result.widened_graph, result.keep_unit).eval()
    with torch.no_grad():
        assert relative_error(result.searched_model.eval()(x), reference(x)) < 1e-5


def test_tampered_channel_configs_are_refused(digit_batches):
    """A hand-edited channel config never rebuilds into another network than it describes."""
    import copy

    model = timm.create_model('resnet10t', num_classes=10)
    config = shrink(model, digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9, embedding_dim=2)).channel_config
    output = next(g for g in config['groups'] if g['fixed'] and 'fc:out' in g['members'])
    prunable = next(g for g in config['groups'] if not g['fixed'])

    def tampered(change):
        bad = copy.deepcopy(config)
        change(bad)
        return bad

    def entry(bad, index):
        return next(g for g in bad['groups'] if g['index'] == index)

    cases = [
        (lambda c: entry(c, output['index']).update(kept_units=5), 'is fixed'),
        (lambda c: entry(c, prunable['index']).update(kept_units=5000), 'keeps 5000 units'),
        (lambda c: entry(c, prunable['index']).update(kept_units=2.7), 'keeps 2.7 units'),
        (lambda c: entry(c, prunable['index']).update(kept_units=0), 'keeps 0 units'),
        (lambda c: entry(c, prunable['index']).update(index=999), 'not a group of this model'),
        (lambda c: c['groups'].remove(entry(c, prunable['index'])), 'no entry for group'),
        (lambda c: c.update(width_mult=float('inf')), 'width_mult'),
        (lambda c: entry(c, prunable['index'])['kept_indices'].__setitem__(0, prunable['kept_indices'][1]),
         'kept_indices are not'),
        (lambda c: entry(c, prunable['index'])['kept_indices'].__setitem__(0, 10 ** 6), 'kept_indices are not'),
        (lambda c: entry(c, prunable['index'])['kept_indices'].pop(), 'kept_indices are not'),
        (lambda c: c.update(input_shape=[0, 3, 32, 32]), 'input_shape'),
        (lambda c: c.update(input_shape='1x3x32x32'), 'input_shape'),
    ]
    for change, phrase in cases:
        with pytest.raises(ChannelConfigMismatchError, match=phrase):
            apply_channel_config(timm.create_model('resnet10t', num_classes=10), tampered(change))
    rebuilt = apply_channel_config(timm.create_model('resnet10t', num_classes=10), config)
    assert rebuilt(digit_batches[0][0]).shape == (8, 10)


def test_a_loss_that_ignores_the_channels_is_refused(digit_batches):
    """All-zero scores (one class only, a constant loss) would give an arbitrary architecture."""
    model = timm.create_model('resnet18', num_classes=10)
    with pytest.raises(ConfigError, match='every channel scored 0'):
        shrink(model, digit_batches, lambda out, y: (out * 0).sum() + 1.0,
               LWDNAConfig(flops_target=0.9, embedding_dim=2, criterion='gradient_sum'))
    with pytest.raises(ConfigError, match='every channel scored 0'):
        shrink(model, digit_batches, lambda out, y: (out * 0).sum() + 1.0,
               LWDNAConfig(flops_target=0.9, embedding_dim=2))


def _nan_gradient_loss(output, target):
    """Finite (the cross-entropy) but its gradient is NaN: sqrt'(0) · 0."""
    return F.cross_entropy(output, target) + (output * 0).sum().sqrt()


@pytest.mark.parametrize('case,error,phrase', [
    ('wrong channels', ConfigError, "does not run on the first batch's inputs"),
    ('second batch with other channels', ConfigError, "batch 2: inputs .* do not fit the first batch"),
    ('too few targets', ConfigError, 'batch 1: 3 targets for 8 samples'),
    ('labels out of range', ConfigError, 'labels from 20 to 29, but the model outputs 10 classes'),
    ('batch size 1', ConfigError, 'holds 1 sample'),
    ('float64 inputs', ConfigError, 'float64 but the model.s parameters are float32'),
    ('detached loss', ConfigError, 'the loss does not depend on the model.s output'),
    ('nan gradient', ConfigError, 'not finite on batch 1: the loss has no finite gradient'),
    ('loss that fails', ConfigError, 'the loss fails on batch 1'),
])
def test_bad_batches_fail_with_one_clear_error(case, error, phrase, digit_batches):
    """Each row of the bad-batch matrix: an LWDNAError naming the batch, never a traceback of torch."""
    (x1, y1), (x2, y2) = digit_batches
    batches, loss = [(x1, y1), (x2, y2)], F.cross_entropy
    if case == 'wrong channels':
        batches = [(x[:, :1], y) for x, y in batches]
    elif case == 'second batch with other channels':
        batches = [(x1, y1), (x2[:, :1], y2)]
    elif case == 'too few targets':
        batches = [(x, y[:3]) for x, y in batches]
    elif case == 'labels out of range':
        batches = [(x, y + 20) for x, y in batches]
    elif case == 'batch size 1':
        batches = [(x[:1], y[:1]) for x, y in batches]
    elif case == 'float64 inputs':
        batches = [(x.double(), y) for x, y in batches]
    elif case == 'detached loss':
        loss = lambda out, y: F.cross_entropy(out.detach(), y)   # noqa: E731
    elif case == 'nan gradient':
        loss = _nan_gradient_loss
    elif case == 'loss that fails':
        loss = lambda out, y: F.cross_entropy(out, y.float())   # noqa: E731  (float class indices)
    with pytest.raises(error, match=phrase):
        shrink(timm.create_model('resnet10t', num_classes=10), batches, loss,
               LWDNAConfig(flops_target=0.9, embedding_dim=2, criterion='gradient_sum' if 'nan' in case else 'gradient'))


def test_warnings_are_logged_and_recorded(digit_batches, caplog):
    """Fewer batches than num_batches, and a search that cannot reach the tolerance: a correct
    result, with warnings in the log and in the channel config."""
    model = timm.create_model('resnet10t', num_classes=10)
    with caplog.at_level('WARNING', logger='lwdna_plugin'):
        result = shrink(model, digit_batches, F.cross_entropy,
                        LWDNAConfig(flops_target=0.9, embedding_dim=2, num_batches=5, tolerance=1e-9))
    warnings = result.channel_config['warnings']
    assert len(warnings) == 2 and 'only 2 of the 5 scoring batches' in warnings[0]
    assert 'from the flops target (tolerance 1e-07 %)' in warnings[1] and not result.search.converged
    assert all(w in caplog.text for w in warnings)
    clean = shrink(model, digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9, embedding_dim=2))
    assert clean.channel_config['warnings'] == []


@pytest.mark.parametrize('content,phrase', [(b'\x89PNG\r\n\x1a\n\x00\xff\xfe garbage', 'not a UTF-8 text file'),
                                            (None, 'does not exist')])
def test_unreadable_channel_config_file(content, phrase, tmp_path):
    path = tmp_path / 'lwdna_channels.json'
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ChannelConfigMismatchError, match=phrase):
        apply_channel_config(timm.create_model('resnet10t', num_classes=10), str(path))


def test_a_channel_shuffle_in_a_shortcut_is_exact(digit_batches):
    """The channel shuffle that 0.6 refused (torch-pruning raised ZeroDivisionError on
    torchvision's ShuffleNetV2) is an exact permutation now."""
    result = shrink(Net(ChannelShuffle(4)), digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9))
    assert result.channel_config['probe_relative_error'] < 1e-9


class ScaleByChannelCount(nn.Module):
    """Channel-preserving ops whose constant comes from the channel count: grouping cannot see it."""

    def forward(self, x):
        return x * (4.0 / x.shape[1])


class ScaleByOutChannels(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 16, 1)

    def forward(self, x):
        return self.conv(x) * (8.0 / self.conv.out_channels)


@pytest.mark.parametrize('middle', [ScaleByChannelCount(), ScaleByOutChannels()])
def test_a_silently_inexact_prune_is_refused_by_the_probe(middle, digit_batches):
    """The self-check after every shrink: the pruned model must equal the widened one with the
    removed channels zeroed (0.3.0 returned these models, relative error 3e-4 to 0.7)."""
    with pytest.raises(UnsupportedModelError, match='does not compute what the widened network'):
        shrink(Net(middle), digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9, embedding_dim=2))


def test_the_probe_error_is_recorded(digit_batches):
    result = shrink(Net(nn.Identity()), digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.8, embedding_dim=2))
    assert 0 <= result.channel_config['probe_relative_error'] < 1e-9


def test_gradient_checkpointing_does_not_change_the_scores(digit_batches):
    """A checkpointed block would recompute its forward with never-written weights: the scoring
    copy runs without checkpointing, and the LW-DNA model keeps the baseline's setting."""
    cfg = LWDNAConfig(flops_target=0.9, embedding_dim=2)
    torch.manual_seed(0)
    plain = timm.create_model('resnet10t', num_classes=10)
    checkpointed = timm.create_model('resnet10t', num_classes=10)
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.set_grad_checkpointing(True)
    torch.manual_seed(1)   # the widened classifier's init
    a = shrink(plain, digit_batches, F.cross_entropy, cfg)
    torch.manual_seed(1)
    b = shrink(checkpointed, digit_batches, F.cross_entropy, cfg)
    assert [g['kept_indices'] for g in a.channel_config['groups']] == \
        [g['kept_indices'] for g in b.channel_config['groups']]
    assert b.model.grad_checkpointing is True and a.model.grad_checkpointing is False


def test_equal_split_pieces_share_their_units():
    """Res2Net cuts ``conv1``'s output into 8 pieces of ``self.width``: the pieces must stay
    equal, so channel j of every piece is one unit (one group repeated 8 times in the layer)."""
    from lwdna_plugin.core.groups import dim_layout
    model = timm.create_model('res2net50_14w_8s', num_classes=10)
    graph = build_channel_graph(model, torch.zeros(1, 3, 64, 64))
    layout = dim_layout(graph, graph.dims[('layer1.1.conv1', 'out')])
    assert len(layout) == 8 and len({g for g, _, _ in layout}) == 1 and layout[0][2] == model.layer1[1].width
    assert [s.sizes(lambda g, c: c) for s in graph.splits if s.module == 'layer1.1' and not s.concat] == [[14] * 8]


def test_what_is_not_a_float32_network_is_one_clear_error(digit_batches):
    with pytest.raises(ConfigError, match='needs an nn.Module'):
        shrink(lambda x: x, digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9))
    half = timm.create_model('resnet10t', num_classes=10).half()
    with pytest.raises(ConfigError, match=r'float16 parameters: the search runs in float32 \(call model.float'):
        shrink(half, digit_batches, F.cross_entropy, LWDNAConfig(flops_target=0.9))


def test_a_channel_config_must_be_a_json_object(tmp_path):
    from lwdna_plugin.core import load_channel_config
    path = tmp_path / 'lwdna_channels.json'
    path.write_text('[{"format": "lwdna-channel-config"}]')
    with pytest.raises(ChannelConfigMismatchError, match='holds a JSON list, not an object'):
        load_channel_config(path)


def test_a_zoo_gate_refused_without_its_adapter_names_the_import(digit_batches):
    """timm's ECA is a registered channel gate only once ``lwdna_plugin.timm`` is imported: in a
    process that never imported it the refusal says so."""
    code = ('import timm, torch.nn.functional as F\n'
            'from lwdna_plugin import LWDNAConfig, UnsupportedModelError, shrink\n'
            'from lwdna_plugin.data import digit_batches\n'
            'try:\n'
            "    shrink(timm.create_model('ecaresnet26t', num_classes=10), digit_batches(32, 4, 2), F.cross_entropy,\n"
            '           LWDNAConfig(flops_target=0.9, embedding_dim=2, keep_unmodelled_blocks=False))\n'
            'except UnsupportedModelError as e:\n'
            '    print(e)\n')
    import subprocess
    import sys
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300).stdout
    assert '`import lwdna_plugin.timm` registers the channel gates of timm' in out
