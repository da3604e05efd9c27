# MnasNet-1.0 for Tiny-ImageNet: timm's mnasnet_100 through mmpretrain's TIMMBackbone (its
# classifier removed; it returns the 1280-channel head conv features), 200 classes. The init is
# set explicitly so the baseline and the LW-DNA network (rebuilt layers) start alike.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='TIMMBackbone', model_name='mnasnet_100', pretrained=False,
                  init_cfg=[dict(type='Kaiming', layer=['Conv2d'], mode='fan_out', nonlinearity='relu'),
                            dict(type='Constant', val=1, layer=['_BatchNorm'])]),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=200, in_channels=1280,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
