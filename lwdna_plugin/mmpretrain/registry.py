"""One child registry per mmpretrain registry, in the ``lwdna_plugin`` scope (see
:mod:`lwdna_plugin.registry`). Plugin types are registered in mmpretrain's registries
themselves, so both scopes see them."""
from mmengine.registry import Registry
from mmpretrain import registry as _parent
from mmpretrain.utils import register_all_modules

from ..configs import SCOPE

__all__ = ['BATCH_AUGMENTS', 'DATASETS', 'DATA_SAMPLERS', 'EVALUATORS', 'HOOKS', 'LOG_PROCESSORS', 'LOOPS', 'METRICS',
           'MODELS', 'MODEL_WRAPPERS', 'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
           'PARAM_SCHEDULERS', 'RUNNERS', 'RUNNER_CONSTRUCTORS', 'TASK_UTILS', 'TRANSFORMS', 'VISBACKENDS',
           'VISUALIZERS', 'WEIGHT_INITIALIZERS']


# a lookup falls back to the parent's own entries, which mmpretrain fills lazily: fill them now
register_all_modules(init_default_scope=False)


def _child(name: str) -> Registry:
    parent = getattr(_parent, name)
    return Registry(parent.name, parent=parent, scope=SCOPE)


BATCH_AUGMENTS = _child('BATCH_AUGMENTS')
DATASETS = _child('DATASETS')
DATA_SAMPLERS = _child('DATA_SAMPLERS')
EVALUATORS = _child('EVALUATORS')
HOOKS = _child('HOOKS')
LOG_PROCESSORS = _child('LOG_PROCESSORS')
LOOPS = _child('LOOPS')
METRICS = _child('METRICS')
MODELS = _child('MODELS')
MODEL_WRAPPERS = _child('MODEL_WRAPPERS')
OPTIMIZERS = _child('OPTIMIZERS')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS')
RUNNERS = _child('RUNNERS')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS')
TASK_UTILS = _child('TASK_UTILS')
TRANSFORMS = _child('TRANSFORMS')
VISBACKENDS = _child('VISBACKENDS')
VISUALIZERS = _child('VISUALIZERS')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS')
