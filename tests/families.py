"""The model families the engine must cover, each as (builder, forward_fn, batches, loss)."""
from __future__ import annotations

import torch.nn.functional as F


def _mm(backbone, in_channels, num_classes=10, head=None, pool=True):
    from mmpretrain.models import build_classifier

    import lwdna_plugin.mmpretrain  # noqa: F401  (registers the plugin's CIFAR backbones and mmpretrain's gates)
    head = head or dict(type='LinearClsHead', num_classes=num_classes, in_channels=in_channels)
    neck = dict(type='GlobalAveragePooling') if head['type'] == 'LinearClsHead' and pool else None
    model = build_classifier(dict(type='ImageClassifier', backbone=backbone, neck=neck, head=head))
    model.init_weights()
    return model


def _timm(name):
    import timm

    import lwdna_plugin.timm  # noqa: F401  (registers timm's ECA / CECA channel gates)
    return timm.create_model(name, num_classes=10)


def _basicsr(name):
    from tests.conftest import import_basicsr
    import_basicsr()
    if name == 'EDSR':
        from basicsr.archs.edsr_arch import EDSR
        return EDSR(3, 3, num_feat=32, num_block=2, upscale=4, res_scale=1)
    if name == 'SRVGGNetCompact':   # per-channel PReLU after every conv
        from basicsr.archs.srvgg_arch import SRVGGNetCompact
        return SRVGGNetCompact(3, 3, num_feat=16, num_conv=4, upscale=4, act_type='prelu')
    from basicsr.archs.srresnet_arch import MSRResNet
    return MSRResNet(3, 3, num_feat=32, num_block=2, upscale=4)


def _shared_prelu_net():
    """Conv -> PReLU with one shared slope -> Conv -> per-channel PReLU -> classifier."""
    import torch.nn as nn
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.PReLU(1),
                         nn.Conv2d(32, 48, 3, padding=1), nn.PReLU(48), nn.Conv2d(48, 48, 3, padding=1), nn.PReLU(1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(48, 10))


def _elementwise_ops_net():
    """Squeeze-excitation indexed as ``s[:, :, None, None]`` and a ``torch.maximum`` of two branches."""
    import torch
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.a1, self.a2, self.b = nn.Conv2d(c, 2 * c, 3, padding=1), nn.Conv2d(2 * c, c, 3, padding=1), \
                nn.Conv2d(c, c, 1)
            self.fc1, self.fc2 = nn.Linear(c, 8), nn.Linear(8, c)

        def forward(self, x):
            y = torch.maximum(self.a2(torch.relu(self.a1(x))), self.b(x))
            s = torch.sigmoid(self.fc2(torch.relu(self.fc1(y.mean((2, 3))))))
            return torch.relu(x + y * s[:, :, None, None])

    return nn.Sequential(nn.Conv2d(3, 24, 3, padding=1), nn.BatchNorm2d(24), nn.ReLU(), Block(24), Block(24),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


def _flatten_head_net():
    """VGG-style: conv features flattened (channel major) into a hidden Linear layer."""
    import torch.nn as nn
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 48, 3, padding=1), nn.BatchNorm2d(48), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(48 * 4, 96), nn.ReLU(), nn.Dropout(0.5), nn.Linear(96, 10))


def _weight_standardised_net():
    """BiT-style: timm's StdConv2d (each filter standardised over its inputs) with GroupNorm, and a residual."""
    import torch.nn as nn
    from timm.layers import StdConv2d

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1, self.norm1 = StdConv2d(c, c // 2, 1), nn.GroupNorm(c // 4, c // 2)   # 2 channels per group
            self.conv2, self.norm2 = StdConv2d(c // 2, c, 3, padding=1), nn.GroupNorm(1, c)

        def forward(self, x):
            return x + self.norm2(self.conv2(self.norm1(self.conv1(x)).relu()))

    return nn.Sequential(StdConv2d(3, 48, 3, padding=1), nn.GroupNorm(1, 48), nn.ReLU(), Block(48), Block(48),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(48, 10))


def _channel_pieces_net():
    """Channel splits and concatenations, each reading its split size from an attribute as the
    zoos do: a CSP stage (``split(self.expand_chs // 2)``), a Res2Net block (``split(self.width)``,
    an add chain, the last piece passed straight into the concat), MixNet's mixed kernels
    (``split(self.splits)`` with unequal pieces) and a DLA root (``cat([x, x])``)."""
    import torch
    import torch.nn as nn

    def cbr(cin, cout, k=1):
        return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    class CSP(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.expand_chs = 2 * c
            self.conv_exp, self.block, self.transition = cbr(c, 2 * c), cbr(c, c, 3), cbr(2 * c, c)

        def forward(self, x):
            xs, xb = self.conv_exp(x).split(self.expand_chs // 2, dim=1)
            return self.transition(torch.cat([xs, xb + self.block(xb)], dim=1))

    class Res2(nn.Module):
        def __init__(self, c, width=8, scale=3):
            super().__init__()
            self.width = width
            self.conv1, self.conv3 = cbr(c, width * scale), cbr(width * scale, c)
            self.convs = nn.ModuleList(cbr(width, width, 3) for _ in range(scale - 1))

        def forward(self, x):
            pieces, outs, sp = torch.split(self.conv1(x), self.width, 1), [], None
            for i, conv in enumerate(self.convs):
                sp = conv(pieces[i] if sp is None else sp + pieces[i])
                outs.append(sp)
            return x + self.conv3(torch.cat(outs + [pieces[-1]], 1))

    class Mixed(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.splits = [c - c // 3, c // 3]
            self.convs = nn.ModuleList(nn.Conv2d(n, n, k, padding=k // 2, groups=n) for n, k in zip(self.splits, (3, 5)))

        def forward(self, x):
            return torch.cat([conv(p) for conv, p in zip(self.convs, torch.split(x, self.splits, 1))], 1)

    class Root(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = cbr(2 * c, c)

        def forward(self, x):
            return self.conv(torch.cat([x, x], 1))

    c = 24
    return nn.Sequential(cbr(3, c, 3), CSP(c), Res2(c), Mixed(c), nn.BatchNorm2d(c), nn.ReLU(), Root(c),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


def _channel_norms_net():
    """Channel norms and a channels-last region: a ConvNeXt-style block (depthwise conv, NHWC
    permute, LayerNorm, Linear, GELU, Linear, a layer scale of shape (C,), permute back), a
    GroupNorm of 4 groups, an affine InstanceNorm, a GroupNorm of one group, a timm-style
    ``Scale`` that views its parameter to ``self.shape`` and a token block ((N, C, H·W) permuted
    to (N, H·W, C) and back, as EfficientFormer's last stage)."""
    import torch
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
            self.norm, self.fc1, self.fc2 = nn.LayerNorm(c), nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
            self.gamma = nn.Parameter(torch.full((c,), 0.5))

        def forward(self, x):
            y = self.fc2(nn.functional.gelu(self.fc1(self.norm(self.dw(x).permute(0, 2, 3, 1)))))
            return x + (y * self.gamma).permute(0, 3, 1, 2)

    class Tokens(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm, self.fc = nn.LayerNorm(c), nn.Linear(c, c)

        def forward(self, x):
            y = self.fc(self.norm(x.flatten(2).permute(0, 2, 1)))
            return x + y.permute((0, 2, 1)).reshape(x.shape)

    class Scale(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.shape = (c, 1, 1)
            self.scale = nn.Parameter(torch.linspace(0.5, 1.5, c))

        def forward(self, x):
            return x * self.scale.view(self.shape)

    c = 32
    return nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.GroupNorm(4, c), nn.ReLU(), Block(c),
                         nn.InstanceNorm2d(c, affine=True), Block(c),
                         nn.Conv2d(c, c, 3, padding=1), nn.GroupNorm(1, c), Scale(c), nn.ReLU(), Tokens(c),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


def _shuffle_and_squeeze_net():
    """A channel shuffle (view, transpose(1, 2), contiguous, view) after a concatenation, an
    equal chunk after it (ShuffleNetV2's units), and squeezes of the pooled (N, C, 1, 1)
    features before the classifier."""
    import torch
    import torch.nn as nn

    def shuffle(x, groups):
        n, c, h, w = x.shape
        return x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w)

    class Unit(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.branch = nn.Sequential(nn.Conv2d(c, 2 * c, 1), nn.BatchNorm2d(2 * c), nn.ReLU(),
                                        nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c), nn.BatchNorm2d(2 * c),
                                        nn.Conv2d(2 * c, c, 1), nn.BatchNorm2d(c), nn.ReLU())

        def forward(self, x):
            x1, x2 = x.chunk(2, dim=1)
            return shuffle(torch.cat((x1, self.branch(x2)), 1), 2)

    class Net(nn.Module):
        def __init__(self, c=64):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
            self.units = nn.Sequential(Unit(c // 2), Unit(c // 2))
            self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(c, 10)

        def forward(self, x):
            return self.fc(self.pool(self.units(self.stem(x))).squeeze(-1).squeeze(-1))

    return Net()


def _torchvision(name, **kwargs):
    import torchvision
    return getattr(torchvision.models, name)(num_classes=10, **kwargs)


def MM_FORWARD(model, inputs):
    """mmpretrain classifiers return logits in 'tensor' mode."""
    return model(inputs, mode='tensor')

# name -> (builder, forward_fn, data ('digits' or 'sr'), loss)
FAMILIES = {
    'mmpretrain-resnet50': (lambda: _mm(dict(type='ResNet', depth=50), 2048), MM_FORWARD, 'digits', F.cross_entropy),
    'mmpretrain-resnet18-cifar': (lambda: _mm(dict(type='ResNet_CIFAR', depth=18), 512), MM_FORWARD, 'digits',
                                  F.cross_entropy),
    'mmpretrain-regnetx-400mf': (lambda: _mm(dict(type='RegNet', arch='regnetx_400mf'), 384), MM_FORWARD, 'digits',
                                 F.cross_entropy),
    'mmpretrain-mobilenetv2': (lambda: _mm(dict(type='MobileNetV2', widen_factor=1.0), 1280), MM_FORWARD, 'digits',
                               F.cross_entropy),
    'mmpretrain-mobilenetv3-small': (lambda: _mm(dict(type='MobileNetV3', arch='small'), 576), MM_FORWARD, 'digits',
                                     F.cross_entropy),
    'mmpretrain-mobilenetv3-large': (lambda: _mm(dict(type='MobileNetV3', arch='large'), 960), MM_FORWARD, 'digits',
                                     F.cross_entropy),
    'mmpretrain-efficientnet-b0': (lambda: _mm(dict(type='EfficientNet', arch='b0'), 1280), MM_FORWARD, 'digits',
                                   F.cross_entropy),
    'mmpretrain-densenet121': (lambda: _mm(dict(type='DenseNet', arch='121'), 1024), MM_FORWARD, 'digits',
                               F.cross_entropy),
    'timm-resnet50': (lambda: _timm('resnet50'), None, 'digits', F.cross_entropy),
    'timm-regnetx_004': (lambda: _timm('regnetx_004'), None, 'digits', F.cross_entropy),
    'timm-regnety_004': (lambda: _timm('regnety_004'), None, 'digits', F.cross_entropy),
    'timm-mobilenetv2_100': (lambda: _timm('mobilenetv2_100'), None, 'digits', F.cross_entropy),
    'timm-mobilenetv3_large_100': (lambda: _timm('mobilenetv3_large_100'), None, 'digits', F.cross_entropy),
    'timm-efficientnet_b0': (lambda: _timm('efficientnet_b0'), None, 'digits', F.cross_entropy),
    'timm-mnasnet_100': (lambda: _timm('mnasnet_100'), None, 'digits', F.cross_entropy),
    'timm-densenet121': (lambda: _timm('densenet121'), None, 'digits', F.cross_entropy),
    'basicsr-edsr': (lambda: _basicsr('EDSR'), None, 'sr', F.l1_loss),
    'basicsr-msrresnet': (lambda: _basicsr('MSRResNet'), None, 'sr', F.l1_loss),
    'basicsr-srvggnetcompact': (lambda: _basicsr('SRVGGNetCompact'), None, 'sr', F.l1_loss),
    'prelu-shared-and-per-channel': (_shared_prelu_net, None, 'digits', F.cross_entropy),
    'se-by-indexing-and-maximum': (_elementwise_ops_net, None, 'digits', F.cross_entropy),
    'flatten-into-linear': (_flatten_head_net, None, 'digits', F.cross_entropy),
    'channel-split-and-concat': (_channel_pieces_net, None, 'digits', F.cross_entropy),
    'timm-cspresnet50': (lambda: _timm('cspresnet50'), None, 'digits', F.cross_entropy),
    'timm-mixnet_s': (lambda: _timm('mixnet_s'), None, 'digits', F.cross_entropy),
    'timm-dla34': (lambda: _timm('dla34'), None, 'digits', F.cross_entropy),
    'timm-dpn68': (lambda: _timm('dpn68'), None, 'digits', F.cross_entropy),              # channel slices
    'channel-norms-and-channels-last': (_channel_norms_net, None, 'digits', F.cross_entropy),
    'timm-convnext_atto': (lambda: _timm('convnext_atto'), None, 'digits', F.cross_entropy),   # LayerNorm2d
    'timm-poolformer_s12': (lambda: _timm('poolformer_s12'), None, 'digits', F.cross_entropy),  # GroupNorm(1)
    'timm-ecaresnet26t': (lambda: _timm('ecaresnet26t'), None, 'digits', F.cross_entropy),     # channel gate
    'timm-ghostnet_100': (lambda: _timm('ghostnet_100'), None, 'digits', F.cross_entropy),     # x[:, :c] += y
    'timm-convnextv2_atto': (lambda: _timm('convnextv2_atto'), None, 'digits', F.cross_entropy),  # GRN gate
    'timm-rexnet_100': (lambda: _timm('rexnet_100'), None, 'digits', F.cross_entropy),    # partial residual
    'timm-res2net50_14w_8s': (lambda: _timm('res2net50_14w_8s'), None, 'digits', F.cross_entropy),
    'mmpretrain-repvgg-a0': (lambda: _mm(dict(type='RepVGG', arch='A0'), 1280), MM_FORWARD, 'digits', F.cross_entropy),
    # the plugin's CIFAR backbones (small settings; Table 1 sizes are checked in test_configs.py)
    'plugin-regnety-cifar': (lambda: _mm(dict(type='RegNetCIFAR', stem_channels=16, arch=dict(
        w0=16, wa=16.0, wm=1.6, group_w=8, depth=5, bot_mul=1.0, se_ratio=0.25)), 64), MM_FORWARD, 'digits',
        F.cross_entropy),
    'plugin-resnet20-cifar': (lambda: _mm(dict(type='ResNetCIFAR', depth=20), 64), MM_FORWARD, 'digits',
                              F.cross_entropy),
    'plugin-densenet-cifar': (lambda: _mm(dict(type='DenseNetCIFAR', depth=13, growth_rate=8, compression=0.5), 46),
                              MM_FORWARD, 'digits', F.cross_entropy),
    'plugin-efficientnet-cifar': (lambda: _mm(dict(type='EfficientNetCIFAR', widen_factor=0.25), 320), MM_FORWARD,
                                  'digits', F.cross_entropy),
    # the plugin's ImageNet / Tiny-ImageNet backbones, and timm's MnasNet through mmpretrain's TIMMBackbone
    'plugin-mobilenetv1': (lambda: _mm(dict(type='MobileNetV1', widen_factor=0.5), 512), MM_FORWARD, 'digits',
                           F.cross_entropy),
    'plugin-mobilenetv3hh-small': (lambda: _mm(dict(type='MobileNetV3HH', arch='small'), 576), MM_FORWARD, 'digits',
                                   F.cross_entropy),
    'mmpretrain-timm-mnasnet': (lambda: _mm(dict(type='TIMMBackbone', model_name='mnasnet_050'), 1280), MM_FORWARD,
                                'digits', F.cross_entropy),
    # mmpretrain's own implementations (the mmpretrain zoo issue)
    'mmpretrain-shufflenet-v2': (lambda: _mm(dict(type='ShuffleNetV2', widen_factor=0.5), 1024), MM_FORWARD, 'digits',
                                 F.cross_entropy),                                          # channel shuffle
    'mmpretrain-cspdarknet': (lambda: _mm(dict(type='CSPDarkNet', depth=53), 1024), MM_FORWARD, 'digits',
                              F.cross_entropy),                                             # cut at C // 2
    'mmpretrain-poolformer-s12': (lambda: _mm(dict(type='PoolFormer', arch='s12'), 512), MM_FORWARD, 'digits',
                                  F.cross_entropy),                                         # frozen stem
    'mmpretrain-convnext-v2-atto': (lambda: _mm(dict(type='ConvNeXt', arch='atto', use_grn=True,
                                                     layer_scale_init_value=0.), 320, pool=False), MM_FORWARD, 'digits',
                                    F.cross_entropy),                                       # GRN gate
    'mmpretrain-resnet18-csra': (lambda: _mm(dict(type='ResNet', depth=18), 512, head=dict(
        type='CSRAClsHead', num_classes=10, in_channels=512, num_heads=1, lam=0.1)), MM_FORWARD, 'digits',
        F.cross_entropy),                                                                   # weight norm, softmax
    'mmpretrain-van-tiny': (lambda: _mm(dict(type='VAN', arch='tiny'), 256), MM_FORWARD, 'digits',
                          F.cross_entropy),                  # flatten(2).transpose(1, 2), block.out_channels
    'mmpretrain-resnest50': (lambda: _mm(dict(type='ResNeSt', depth=50, stem_channels=32, base_channels=16), 512), MM_FORWARD, 'digits',
                             F.cross_entropy),                                      # split attention, radix conv
    'timm-skresnet18': (lambda: _timm('skresnet18'), None, 'digits', F.cross_entropy),   # stacked branches
    'weight-standardised-convs': (_weight_standardised_net, None, 'digits', F.cross_entropy),   # StdConv2d
    'torchvision-shufflenet_v2_x0_5': (lambda: _torchvision('shufflenet_v2_x0_5'), None, 'digits', F.cross_entropy),
    'channel-shuffle-and-squeeze': (_shuffle_and_squeeze_net, None, 'digits', F.cross_entropy),
}
