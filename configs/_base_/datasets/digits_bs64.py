# scikit-learn's bundled handwritten digits (1797 real images; 80/20 seeded split), 16x16 RGB.
dataset_type = 'DigitsClassification'
data_preprocessor = dict(num_classes=10, mean=[76.5, 76.5, 76.5], std=[102.0, 102.0, 102.0], to_rgb=False)
train_pipeline = [dict(type='RandomCrop', crop_size=16, padding=2), dict(type='PackInputs')]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(batch_size=64, num_workers=0, persistent_workers=False,
                        dataset=dict(type=dataset_type, split='train', size=16, pipeline=train_pipeline),
                        sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(batch_size=128, num_workers=0, persistent_workers=False,
                      dataset=dict(type=dataset_type, split='val', size=16, pipeline=test_pipeline),
                      sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
