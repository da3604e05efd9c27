# MobileNetV3-small for Tiny-ImageNet as the paper defines it: stride-1 stem, SE squeeze c/4,
# SE after the last conv, a 1280-wide hidden classifier layer; 200 classes.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV3HH', arch='small', stem_stride=1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='StackedLinearClsHead', num_classes=200, in_channels=576, mid_channels=[1280],
              act_cfg=dict(type='HSwish'), loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
