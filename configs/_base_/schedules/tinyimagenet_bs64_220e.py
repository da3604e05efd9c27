# The paper's Tiny-ImageNet protocol: 220 epochs, SGD momentum 0.9, lr 0.1 decayed x0.1 at
# epochs 200, 205, 210 and 215, weight decay 1e-4, batch 64.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[200, 205, 210, 215], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=220, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
