# Table 1, Tiny-ImageNet MobileNetV3-large LW-DNA with the paper's KD (paper: 37.45 % top-1 error;
# teacher: the trained baseline).
_base_ = ['./mobilenet_v3_large_tinyimagenet.py']
model = dict(
    _delete_=True,
    type='KDClassifier',
    student={{_base_.model}},
    teacher=dict(config='configs/baseline/mobilenet_v3_large_tinyimagenet.py',
                 checkpoint='work_dirs/mobilenet_v3_large_tinyimagenet_baseline/epoch_220.pth'),
    alpha=0.4,
    temperature=4.0)
work_dir = './work_dirs/mobilenet_v3_large_tinyimagenet_lwdna_kd'
