# Table 1, Tiny-ImageNet MobileNetV3-small "Baseline KD" (paper: 41.52 % top-1 error): the trained
# baseline teaches a fresh baseline with 0.4 * KD(T=4) + 0.6 * CE.
_base_ = ['./mobilenet_v3_small_tinyimagenet.py']
model = dict(
    _delete_=True,
    type='KDClassifier',
    student={{_base_.model}},
    teacher=dict(config='configs/baseline/mobilenet_v3_small_tinyimagenet.py',
                 checkpoint='work_dirs/mobilenet_v3_small_tinyimagenet_baseline/epoch_220.pth'),
    alpha=0.4,
    temperature=4.0)
work_dir = './work_dirs/mobilenet_v3_small_tinyimagenet_baseline_kd'
