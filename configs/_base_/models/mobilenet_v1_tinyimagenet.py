# MobileNetV1 for Tiny-ImageNet (stride-2 stem, 64x64 input ends at 2x2), 200 classes.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV1', stem_stride=2),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=200, in_channels=1024,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
