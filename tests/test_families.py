"""Every claimed architecture family: exact pruning, shapes, gradients, budget, rebuild."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from lwdna_plugin import LWDNAConfig, apply_channel_config, count_flops_params, shrink
from lwdna_plugin.core.masking import over_kept_channels, relative_error, zero_removed_channels
from lwdna_plugin.core.tracing import default_forward
from tests.families import FAMILIES

TARGET = 0.9


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_family_shrink_is_exact_and_on_budget(family, digit_batches, sr_batches, tmp_path):
    build, forward_fn, data, loss_fn = FAMILIES[family]
    call = forward_fn or default_forward
    torch.manual_seed(0)
    model = build()
    shapes_before = {k: v.shape for k, v in model.state_dict().items()}
    batches = digit_batches if data == 'digits' else sr_batches
    x, y = batches[0]
    result = shrink(model, batches, loss_fn, LWDNAConfig(width_mult=2.0, flops_target=TARGET, embedding_dim=2),
                    forward_fn=forward_fn)

    # the baseline is untouched
    assert {k: v.shape for k, v in model.state_dict().items()} == shapes_before
    # some channels were really removed, and widths differ from the baseline
    assert not result.keep_unit.all()
    assert any(r['percent'] != 100 for r in result.table)

    # exact: pruned == widened (after the search steps) with the removed channels zeroed; in
    # float64, since the trained hypernetwork weights amplify float32 rounding in deep nets
    # (with LayerNorm / GroupNorm over the channels or a channel gate, whose output depends on the
    # channel count by design: those layers of the reference run on the kept channels)
    reference = zero_removed_channels(result.widened_graph, result.keep_unit).eval()
    pruned = result.searched_model.eval()
    reference = over_kept_channels(reference, pruned, result.widened_graph, result.keep_unit)
    with torch.no_grad():
        out = call(copy.deepcopy(pruned).double(), x.double())
        ref = call(copy.deepcopy(reference).double(), x.double())
        base = call(model.eval(), x)
    assert relative_error(out, ref) < 1e-9
    assert out.shape == base.shape

    # a PReLU keeps its kind: one shared slope stays one, a per-channel one follows its channels
    for (name, before), after in zip(model.named_modules(), pruned.modules()):
        if isinstance(before, torch.nn.PReLU):
            assert after.num_parameters == (1 if before.num_parameters == 1 else after.weight.numel()), name
            assert after.weight.numel() == after.num_parameters

    # the result is a usable network: the searched architecture, freshly initialised like the
    # baseline (not the search's weights), finite in eval mode in float32, and trainable:
    # forward + backward finite
    lwdna = result.model
    assert {k: v.shape for k, v in lwdna.state_dict().items()} == {k: v.shape for k, v in pruned.state_dict().items()}
    with torch.no_grad():
        assert torch.isfinite(call(lwdna.eval(), x)).all()
    assert _largest_weight(lwdna) <= 2 * _largest_weight(model) + 1
    lwdna.train()
    loss = loss_fn(call(lwdna, x), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in lwdna.parameters() if p.grad is not None)

    # the FLOPs budget, counted on the pruned network
    base_flops, _ = count_flops_params(model, inputs=x[:1], forward_fn=forward_fn)
    flops, params = count_flops_params(lwdna, inputs=x[:1], forward_fn=forward_fn)
    assert abs(flops / (TARGET * base_flops) - 1) <= 0.005, (flops, base_flops)
    assert result.channel_config['flops']['lwdna'] == flops
    assert result.channel_config['params']['lwdna'] == params

    # rebuild from the saved JSON on a fresh baseline: identical parameter shapes
    paths = result.save(tmp_path)
    with open(paths['channel_config']) as f:
        config = json.load(f)
    rebuilt = apply_channel_config(build(), config, forward_fn=forward_fn)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
        {k: v.shape for k, v in pruned.state_dict().items()}
    with torch.no_grad():
        assert call(rebuilt.eval(), x).shape == base.shape


def _largest_weight(model: torch.nn.Module) -> float:
    return max(float(p.detach().abs().max()) for p in model.parameters())


def _mm_deploy(model):
    model.backbone.switch_to_deploy()


def _timm_deploy(model):
    import timm
    timm.utils.reparameterize_model(model, inplace=True)


@pytest.mark.parametrize('build,forward_fn,deploy', [
    (FAMILIES['mmpretrain-repvgg-a0'][0], FAMILIES['mmpretrain-repvgg-a0'][1], _mm_deploy),
    (lambda: __import__('timm').create_model('repvgg_a0', num_classes=10), None, _timm_deploy),
    (lambda: __import__('timm').create_model('mobileone_s0', num_classes=10), None, _timm_deploy),
], ids=['mmpretrain-repvgg-a0', 'timm-repvgg_a0', 'timm-mobileone_s0'])
def test_reparameterisation_of_lwdna_models(build, forward_fn, deploy, digit_batches):
    """The zoo's own branch fusion reads wrapper attributes (in/out channels, groups): they follow
    the resized layers, and the fused LW-DNA model computes what the multi-branch one does."""
    call = forward_fn or default_forward
    torch.manual_seed(0)
    baseline = build()
    result = shrink(baseline, digit_batches, torch.nn.functional.cross_entropy,
                    LWDNAConfig(flops_target=TARGET, embedding_dim=2), forward_fn=forward_fn)
    x = digit_batches[0][0]
    for model in (result.model, apply_channel_config(build(), result.channel_config, forward_fn=forward_fn)):
        model.eval()
        with torch.no_grad():
            before = call(model, x)
            deploy(model)
            after = call(model, x)
        assert relative_error(after, before) < 1e-5


def test_shared_latents_keep_whole_blocks_of_channels(digit_batches):
    """``channels_per_latent=4`` (the authors' CIFAR RegNet): stage-width groups decide per 4
    channels, group-conv groups keep their per-group units; the prune stays exact and the
    channel config rebuilds the same widths."""
    build, forward_fn, _, loss_fn = FAMILIES['mmpretrain-regnetx-400mf']
    torch.manual_seed(0)
    model = build()
    cfg = LWDNAConfig(width_mult=2.0, flops_target=TARGET, embedding_dim=2, channels_per_latent=4)
    result = shrink(model, digit_batches, loss_fn, cfg, forward_fn=forward_fn)
    entries = result.channel_config['groups']
    shared = [g for g in entries if not g['fixed'] and g['unit_channels'] == 4]
    grouped = [g for g in entries if not g['fixed'] and g['unit_channels'] not in (1, 4)]
    assert shared and grouped and not [g for g in entries if not g['fixed'] and g['unit_channels'] == 1]
    assert all(g['lwdna_channels'] % 4 == 0 and g['baseline_units'] * 4 == g['baseline_channels'] for g in shared)
    assert result.channel_config['hyperparameters']['channels_per_latent'] == 4

    x = digit_batches[0][0]
    reference = zero_removed_channels(result.widened_graph, result.keep_unit).eval()
    with torch.no_grad():
        out = forward_fn(copy.deepcopy(result.searched_model).eval().double(), x.double())
        ref = forward_fn(copy.deepcopy(reference).double(), x.double())
    assert relative_error(out, ref) < 1e-9
    rebuilt = apply_channel_config(build(), result.channel_config, forward_fn=forward_fn)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
        {k: v.shape for k, v in result.model.state_dict().items()}


def test_weight_standardised_convs_are_compared_over_their_kept_inputs(digit_batches):
    from tests.families import _weight_standardised_net
    torch.manual_seed(0)
    model = _weight_standardised_net()
    result = shrink(model, digit_batches, torch.nn.functional.cross_entropy,
                    LWDNAConfig(width_mult=1.5, flops_target=0.8, embedding_dim=2))
    assert result.widened_graph.weights_computed == {'0', '3.conv1', '3.conv2', '4.conv1', '4.conv2'}
    assert result.channel_config['probe_channel_mixing'] == ['GroupNorm', 'StdConv2d']
    # the weight's batch norm is not a feature-map op: convs, the classifier and the ReLUs only
    flops, _ = count_flops_params(model, inputs=digit_batches[0][0][:1])
    convs = sum(m.weight.numel() * 32 * 32 for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert flops == convs + 48 * 10 + 32 * 32 * (48 + 2 * 24)
