# Tiny-ImageNet (200 classes, 64x64, 500 train / 50 val images per class) with the plugin's
# TinyImageNet dataset type: unpack the standard download (tiny-imagenet-200.zip) so that
# data/tiny-imagenet-200/wnids.txt exists. Horizontal flip only; the authors' per-channel
# normalisation (mean 0.4802/0.4481/0.3975, std 0.2302/0.2265/0.2262); batch 64.
dataset_type = 'TinyImageNet'
data_root = 'data/tiny-imagenet-200'
data_preprocessor = dict(num_classes=200, mean=[122.451, 114.2655, 101.3625], std=[58.701, 57.7575, 57.681],
                         to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, num_workers=4,
                        dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
                        sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(batch_size=128, num_workers=4,
                      dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline),
                      sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
