# Table 1, CIFAR100 EfficientNet(-B0) LW-DNA (paper: 0.3850 GFLOPs = 92.53 % of the baseline,
# 2.121 M params, 19.54 % top-1 error with KD). Widen x2, score on 2 batches, keep 92.53 %
# of the baseline FLOPs, train from scratch with the baseline's protocol.
_base_ = ['../baseline/efficientnet_b0_cifar100.py']
runner_type = 'LWDNARunner'
# Search protocol: the authors' search code for this network is not public: the paper's
# gradient criterion with their step protocol (SGD steps, |dL/dz| of the last batch).
# search_lr: the authors' EfficientNet template divides the learning rate by 100.
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9253, rho=0.4, tau=0.45, num_batches=2, embedding_dim=8,
              criterion='gradient', search_lr=0.001))
work_dir = './work_dirs/efficientnet_b0_cifar100_lwdna'
