# Table 1, CIFAR10 ResNet56 LW-DNA (paper: 0.1262 GFLOPs = 99.06 % of the baseline,
# 0.536 M params, 5.49 % top-1 error with KD). Widen x2, score on 2 batches, keep 99.06 %
# of the baseline FLOPs, train from scratch with the baseline's protocol.
_base_ = ['../baseline/resnet56_cifar10.py']
runner_type = 'LWDNARunner'
# Search protocol: the authors' CIFAR ResNet file (model_dhp/resnet_dhp_share.py): SGD steps
# on the scoring batches, |dL/dz| of the last batch.
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9906, rho=0.4, tau=0.45, num_batches=2, embedding_dim=8,
              criterion='gradient'))
work_dir = './work_dirs/resnet56_cifar10_lwdna'
