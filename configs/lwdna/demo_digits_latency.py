# configs/lwdna/demo_digits.py with a latency budget instead of the FLOPs budget: the LW-DNA
# network must run one forward pass of a training batch (64) in at most 90 % of the baseline's
# time, measured on the device the model trains on (README, "Latency targets"). rho is lower
# than the FLOPs twin's 0.4: this net is narrow (16-128 channels) and CPU kernels work in blocks
# of 8 or 16 channels, so floors of 0.4 x the widened widths, rounded up to a block, already cost
# what the baseline costs (the shrink refuses that target with "below what the floors keep").
_base_ = ['./demo_digits.py']
model = dict(lwdna=dict(flops_target=None, latency_target=0.9, latency_batch=64, rho=0.2, channel_divisor='auto'))
work_dir = './work_dirs/demo_digits_lwdna_latency'
