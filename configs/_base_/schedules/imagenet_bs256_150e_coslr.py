# The paper's ImageNet protocol: 150 epochs, SGD (momentum 0.9), lr 0.05 with cosine decay,
# weight decay 4e-5, batch 256 (4 GPUs x 64: bash tools/dist_train.sh CONFIG 4). With another
# total batch, enable auto_scale_lr to scale the lr linearly from 256.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=4e-5))
param_scheduler = dict(type='CosineAnnealingLR', T_max=150, by_epoch=True, begin=0, end=150)
train_cfg = dict(by_epoch=True, max_epochs=150, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
