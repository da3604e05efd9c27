# "Baseline KD": the baseline trained with a trained baseline as teacher (0.4 * KD(T=4) + 0.6 * CE).
_base_ = ['./demo_digits.py']
model = dict(
    _delete_=True,
    type='KDClassifier',
    student={{_base_.model}},
    teacher=dict(config='configs/baseline/demo_digits.py', checkpoint='work_dirs/demo_digits_baseline/epoch_24.pth'),
    alpha=0.4,
    temperature=4.0)
work_dir = './work_dirs/demo_digits_baseline_kd'
