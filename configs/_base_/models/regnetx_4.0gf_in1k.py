# RegNetX-4.0GF (mmpretrain's RegNet: depths 2, 5, 14, 2; widths 80, 240, 560, 1360; group
# width 40), 1000 classes.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='RegNet', arch='regnetx_4.0gf'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=1360,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
