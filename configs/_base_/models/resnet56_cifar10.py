# ResNet56 (16/32/64 channels, 9 basic blocks per stage, 1x1-conv projection shortcuts), 10 classes.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNetCIFAR', depth=56),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
