# LW-DNA version of configs/baseline/demo_digits.py: widen x2, score on 2 training batches,
# keep 90 % of the baseline FLOPs, train from scratch with the unchanged protocol.
_base_ = ['../baseline/demo_digits.py']
runner_type = 'LWDNARunner'
# Search protocol: the authors' search code for this network is not public: the paper's
# gradient criterion with their step protocol (SGD steps, |dL/dz| of the last batch).
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9, rho=0.4, tau=0.45, num_batches=2, embedding_dim=8,
              criterion='gradient'))
work_dir = './work_dirs/demo_digits_lwdna'
