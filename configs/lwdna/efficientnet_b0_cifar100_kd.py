# Table 1, CIFAR100 EfficientNet(-B0) LW-DNA with the paper's KD (teacher: the trained baseline).
_base_ = ['./efficientnet_b0_cifar100.py']
model = dict(
    _delete_=True,
    type='KDClassifier',
    student={{_base_.model}},
    teacher=dict(config='configs/baseline/efficientnet_b0_cifar100.py',
                 checkpoint='work_dirs/efficientnet_b0_cifar100_baseline/epoch_300.pth'),
    alpha=0.4,
    temperature=4.0)
work_dir = './work_dirs/efficientnet_b0_cifar100_lwdna_kd'
