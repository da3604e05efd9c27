# Table 1, Tiny-ImageNet MnasNet LW-DNA with the paper's KD (paper: 46.85 % top-1 error;
# teacher: the trained baseline).
_base_ = ['./mnasnet_tinyimagenet.py']
model = dict(
    _delete_=True,
    type='KDClassifier',
    student={{_base_.model}},
    teacher=dict(config='configs/baseline/mnasnet_tinyimagenet.py',
                 checkpoint='work_dirs/mnasnet_tinyimagenet_baseline/epoch_220.pth'),
    alpha=0.4,
    temperature=4.0)
work_dir = './work_dirs/mnasnet_tinyimagenet_lwdna_kd'
