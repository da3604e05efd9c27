# LW-DNA + knowledge distillation (the paper's KD protocol: 0.4 * KD(T=4) + 0.6 * CE) on the
# digits demo. The teacher is a trained baseline: train configs/baseline/demo_digits.py first.
_base_ = ['./demo_digits.py']
model = dict(
    _delete_=True,
    type='KDClassifier',
    student={{_base_.model}},
    teacher=dict(config='configs/baseline/demo_digits.py', checkpoint='work_dirs/demo_digits_baseline/epoch_24.pth'),
    alpha=0.4,
    temperature=4.0)
work_dir = './work_dirs/demo_digits_lwdna_kd'
