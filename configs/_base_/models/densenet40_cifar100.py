# DenseNet40 (growth rate 12, no bottleneck layers, no compression), 100 classes.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='DenseNetCIFAR', depth=40, growth_rate=12, compression=1.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=100, in_channels=456,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
