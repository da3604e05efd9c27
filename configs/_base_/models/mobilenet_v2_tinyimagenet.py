# MobileNetV2 for Tiny-ImageNet: the second stage keeps stride 1 (64x64 input ends at 4x4),
# 200 classes.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV2HH', strides=(1, 1, 2, 2, 1, 2, 1)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=200, in_channels=1280,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
