# Table 1, CIFAR10 ResNet56 "Baseline KD" (paper: 5.73 % top-1 error): the trained
# baseline teaches a fresh baseline with 0.4 * KD(T=4) + 0.6 * CE.
_base_ = ['./resnet56_cifar10.py']
model = dict(
    _delete_=True,
    type='KDClassifier',
    student={{_base_.model}},
    teacher=dict(config='configs/baseline/resnet56_cifar10.py',
                 checkpoint='work_dirs/resnet56_cifar10_baseline/epoch_300.pth'),
    alpha=0.4,
    temperature=4.0)
work_dir = './work_dirs/resnet56_cifar10_baseline_kd'
