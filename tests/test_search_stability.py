"""A search that does not diverge by default: networks without BatchNorm, on which the authors'
SGD at lr 0.1 blows the generated weights up, shrink through plain ``shrink()`` defaults at a
lower rate chosen on the same batches (said in the log and the channel config); stable
networks keep the authors' rate."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from lwdna_plugin import LWDNAConfig, apply_channel_config, shrink
from lwdna_plugin.core.masking import relative_error, zero_removed_channels
from tests.conftest import import_basicsr


def _basicsr(name):
    import_basicsr()
    from basicsr.archs.rcan_arch import RCAN
    from basicsr.archs.rrdbnet_arch import RRDBNet
    from basicsr.archs.srvgg_arch import SRVGGNetCompact
    return {'RRDBNet': lambda: RRDBNet(3, 3, num_feat=16, num_block=2, num_grow_ch=8, scale=4),
            'RCAN': lambda: RCAN(3, 3, num_feat=16, num_group=2, num_block=2, squeeze_factor=4, upscale=4),
            'SRVGGNetCompact': lambda: SRVGGNetCompact(3, 3, num_feat=16, num_conv=4, upscale=4, act_type='prelu'),
            }[name]()


def _torchvision(name):
    import torchvision
    model = getattr(torchvision.models, name)(num_classes=10)
    if name == 'alexnet':   # its convs as they are; its 9216×4096 classifier narrowed (90 s of hypernetwork here)
        model.classifier = torch.nn.Sequential(torch.nn.Dropout(), torch.nn.Linear(256 * 6 * 6, 256), torch.nn.ReLU(),
                                               torch.nn.Dropout(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                               torch.nn.Linear(256, 10))
    return model


@pytest.mark.parametrize('zoo,name', [('basicsr', 'RRDBNet'), ('basicsr', 'RCAN'), ('basicsr', 'SRVGGNetCompact'),
                                      ('torchvision', 'squeezenet1_0'), ('torchvision', 'alexnet')])
def test_networks_without_batchnorm_shrink_with_the_defaults(zoo, name, sr_batches, caplog):
    build = _basicsr if zoo == 'basicsr' else _torchvision
    from lwdna_plugin.data import digit_batches as digits
    batches, loss = (sr_batches, F.mse_loss) if zoo == 'basicsr' else (digits(size=64, batch=4, count=2), F.cross_entropy)
    torch.manual_seed(0)
    model = build(name)
    cfg = LWDNAConfig(width_mult=1.5, flops_target=0.8, embedding_dim=2)   # the default search protocol
    assert cfg.criterion == 'gradient' and cfg.search_lr == 0.1 and cfg.search_optimizer == 'sgd'
    with caplog.at_level('WARNING', logger='lwdna_plugin'):
        result = shrink(model, batches, loss, cfg)
    protocol = result.channel_config['protocol']
    # the rate used is recorded, and so is every divergence that lowered it
    lowered = [w for w in result.channel_config['warnings'] if w.startswith('the search diverged at search_lr')]
    assert protocol['search_lr'] == pytest.approx(0.1 / 10 ** len(lowered))
    assert f'lr={protocol["search_lr"]:g}' in protocol['optimizer']
    assert all(w in caplog.text for w in lowered)
    # exact: the searched network equals the widened one with the removed channels zeroed
    x = batches[0][0]
    reference = zero_removed_channels(result.widened_graph, result.keep_unit).eval().double()
    with torch.no_grad():
        out = copy.deepcopy(result.searched_model).eval().double()(x.double())
        assert relative_error(out, reference(x.double())) < 1e-9
        # usable: the LW-DNA network is finite in eval (float32), and so is its rebuild
        assert torch.isfinite(result.model.eval()(x)).all()
        rebuilt = apply_channel_config(build(name), result.channel_config)
        rebuilt.load_state_dict(result.model.state_dict())
        assert torch.isfinite(rebuilt.eval()(x)).all()
    assert abs(result.channel_config['flops']['lwdna'] / result.channel_config['target']['value'] - 1) <= 0.005


def test_a_stable_network_keeps_the_authors_rate(digit_batches):
    import timm
    result = shrink(timm.create_model('resnet18', num_classes=10), digit_batches, F.cross_entropy,
                    LWDNAConfig(flops_target=0.9, embedding_dim=2))
    assert result.channel_config['protocol']['search_lr'] == 0.1
    assert not [w for w in result.channel_config['warnings'] if 'diverged' in w]


def test_a_callers_optimizer_is_not_second_guessed(digit_batches):
    """With ``make_optimizer`` the rate is the caller's: a divergence is an error naming it."""
    from lwdna_plugin.core.errors import SearchDivergedError
    with pytest.raises(SearchDivergedError, match='diverged'):
        shrink(_torchvision('squeezenet1_0'), digit_batches, F.cross_entropy,
               LWDNAConfig(width_mult=1.5, flops_target=0.8, embedding_dim=2),
               make_optimizer=lambda params: torch.optim.SGD(params, lr=10.0))
