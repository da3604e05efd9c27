# Table 1, CIFAR100 RegNetX-200MF "Baseline KD" (paper: 21.38 % top-1 error): the trained
# baseline teaches a fresh baseline with 0.4 * KD(T=4) + 0.6 * CE.
_base_ = ['./regnetx_200mf_cifar100.py']
model = dict(
    _delete_=True,
    type='KDClassifier',
    student={{_base_.model}},
    teacher=dict(config='configs/baseline/regnetx_200mf_cifar100.py',
                 checkpoint='work_dirs/regnetx_200mf_cifar100_baseline/epoch_300.pth'),
    alpha=0.4,
    temperature=4.0)
work_dir = './work_dirs/regnetx_200mf_cifar100_baseline_kd'
