# DeiT's recipe in miniature for the digits ViT: AdamW lr 1e-3, weight decay 0.05, linear warm-up
# for 2 epochs then cosine annealing, batch 64, 24 epochs.
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                                        custom_keys={'.cls_token': dict(decay_mult=0.0),
                                                     '.pos_embed': dict(decay_mult=0.0)}))
param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2, convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', by_epoch=True, begin=2, T_max=22, eta_min=1e-5)]
train_cfg = dict(by_epoch=True, max_epochs=24, val_interval=4)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
