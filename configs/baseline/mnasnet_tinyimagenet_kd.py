# Table 1, Tiny-ImageNet MnasNet "Baseline KD" (paper: 48.17 % top-1 error): the trained
# baseline teaches a fresh baseline with 0.4 * KD(T=4) + 0.6 * CE.
_base_ = ['./mnasnet_tinyimagenet.py']
model = dict(
    _delete_=True,
    type='KDClassifier',
    student={{_base_.model}},
    teacher=dict(config='configs/baseline/mnasnet_tinyimagenet.py',
                 checkpoint='work_dirs/mnasnet_tinyimagenet_baseline/epoch_220.pth'),
    alpha=0.4,
    temperature=4.0)
work_dir = './work_dirs/mnasnet_tinyimagenet_baseline_kd'
