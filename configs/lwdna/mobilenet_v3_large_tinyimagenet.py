# Table 1, Tiny-ImageNet MobileNetV3-large LW-DNA (paper: 0.0797 GFLOPs = 92.67 % of the baseline,
# 3.561 M params, 37.45 % top-1 error with KD).
# Widen x2, score on 2 batches, keep 92.67 % of the baseline FLOPs,
# train from scratch with the baseline's protocol.
_base_ = ['../baseline/mobilenet_v3_large_tinyimagenet.py']
runner_type = 'LWDNARunner'
# Search protocol: the authors' search code for this network is not public: the paper's
# gradient criterion with their step protocol (SGD steps, |dL/dz| of the last batch).
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9267, rho=0.4, tau=0.45, num_batches=2, embedding_dim=8,
              criterion='gradient'))
work_dir = './work_dirs/mobilenet_v3_large_tinyimagenet_lwdna'
