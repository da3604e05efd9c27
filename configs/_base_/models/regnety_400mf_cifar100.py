# RegNetY-400MF, CIFAR variant (stride-1 3x3 stem, stride 1 in the first two stages; SE with a squeeze
# width of a quarter of the block input width), 100 classes.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='RegNetCIFAR', arch='regnety_400mf'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=100, in_channels=440,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
