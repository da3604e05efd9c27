# ImageNet-1k with mmpretrain's own dataset type: put the standard data under data/imagenet/
# (train/<wnid>/*.JPEG and val/<wnid>/*.JPEG, or flat folders with meta/train.txt and
# meta/val.txt). RandomResizedCrop 224 + horizontal flip for training; resize the short edge
# to 256 and center-crop 224 for validation. 64 images per GPU: 4 GPUs give the paper's 256.
dataset_type = 'ImageNet'
data_root = 'data/imagenet'
data_preprocessor = dict(num_classes=1000, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, num_workers=5,
                        dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
                        sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(batch_size=64, num_workers=5,
                      dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline),
                      sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
