# Table 1, CIFAR10 DenseNet40 LW-DNA (paper: 0.2632 GFLOPs = 90.73 % of the baseline,
# 0.963 M params, 4.87 % top-1 error with KD). Widen x2, score on 2 batches, keep 90.73 %
# of the baseline FLOPs, train from scratch with the baseline's protocol.
_base_ = ['../baseline/densenet40_cifar10.py']
runner_type = 'LWDNARunner'
# Search protocol: the authors' search code for this network is not public: the paper's
# gradient criterion with their step protocol (SGD steps, |dL/dz| of the last batch).
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9073, rho=0.4, tau=0.45, num_batches=2, embedding_dim=8,
              criterion='gradient'))
work_dir = './work_dirs/densenet40_cifar10_lwdna'
