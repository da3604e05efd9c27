# The paper's CIFAR protocol (SGD momentum 0.9, lr 0.1, x0.1 at 50 % and 75 %, wd 1e-4,
# batch 64), shortened to 24 epochs for the embedded demo.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[12, 18], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=24, val_interval=4)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
