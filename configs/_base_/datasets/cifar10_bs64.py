# CIFAR-10 with mmpretrain's own dataset type: put the standard python version under
# data/cifar10/cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta), or set
# download=True to let mmpretrain fetch it (off by default: a missing directory is then a clear
# error). Standard augmentation (pad-4 random crop, horizontal flip) and per-channel
# normalisation; batch 64 as in the paper.
dataset_type = 'CIFAR10'
data_root = 'data/cifar10'
data_preprocessor = dict(num_classes=10, mean=[125.307, 122.961, 113.8575], std=[51.5865, 50.847, 51.255],
                         to_rgb=False)
train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(batch_size=64, num_workers=2,
                        dataset=dict(type=dataset_type, data_root=data_root, split='train', download=False,
                                     pipeline=train_pipeline),
                        sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(batch_size=100, num_workers=2,
                      dataset=dict(type=dataset_type, data_root=data_root, split='test', download=False,
                                   pipeline=test_pipeline),
                      sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
