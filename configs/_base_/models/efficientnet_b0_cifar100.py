# EfficientNet-B0, CIFAR variant (stride-1 stem, stride 1 in the 24- and 40-channel stages), 100 classes.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='EfficientNetCIFAR', arch='b0'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=100, in_channels=1280,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
