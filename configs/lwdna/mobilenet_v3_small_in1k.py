# Table 1, ImageNet MobileNetV3-small LW-DNA (paper: 0.0605 GFLOPs = 98.86 % of the baseline,
# 3.049 M params, 34.84 % top-1 error). Widen x2, score on 2 batches with embedding dimension 2
# (the authors' ImageNet command), keep 98.86 % of the baseline FLOPs, train from scratch with
# the baseline's protocol. The authors score on half of their 256-image batch (128 images);
# here one whole per-GPU batch of 64 (batch_fraction=1.0; rank 0 scores).
_base_ = ['../baseline/mobilenet_v3_small_in1k.py']
runner_type = 'LWDNARunner'
# Search protocol: the authors' search code for this network is not public: the paper's
# gradient criterion with their step protocol (SGD steps, |dL/dz| of the last batch).
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9886, rho=0.4, tau=0.45, num_batches=2, embedding_dim=2,
              batch_fraction=1.0,
              criterion='gradient'))
work_dir = './work_dirs/mobilenet_v3_small_in1k_lwdna'
