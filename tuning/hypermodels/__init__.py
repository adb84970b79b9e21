"""One `keras_tuner.HyperModel` per app, each calling that app's model registry.

No model is defined here: `build(hp)` picks tunable keyword arguments (depth,
filters/width, kernel size, dropout, batch norm on/off, activation) and calls
the task's registry builder (`tfdl.<task>.model.MODELS.build`), then compiles it
with a tunable optimiser and learning rate (`tfdl.train.make_optimizer`).

Each HyperModel also knows its app's data (`load_data`: the app's own dataset
module and `tfdl.pipeline`), its search objective, and how to export a model
like the app does (`tfdl.export.export_classifier`). `APPS` maps `--app` names
to HyperModel classes; apps whose model registry is not in the tree are not
listed.

Modules: `base` (`AppHyperModel`, `Data`, `APPS`, `trainable_params`) and one
per app (`digits`, `keywords`, `phonemes`); every public name is importable
from here.
"""

import importlib.util

from tuning.hypermodels.base import (ACTIVATIONS, APPS, OPTIMIZERS, AppHyperModel, Data,
                                     trainable_params)
from tuning.hypermodels.digits import DigitsHyperModel


def _has(module):
    """Whether `module` is in the tree (importable), without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


__all__ = ["ACTIVATIONS", "APPS", "OPTIMIZERS", "AppHyperModel", "Data", "DigitsHyperModel",
           "trainable_params"]

# The other apps' HyperModels register themselves on import, where their task is in the tree.
if _has("tfdl.keywords.model"):
    from tuning.hypermodels.keywords import KeywordsHyperModel

    __all__ += ["KeywordsHyperModel"]

if _has("tfdl.phonemes.data"):
    from tuning.hypermodels.phonemes import PhonemesHyperModel

    __all__ += ["PhonemesHyperModel"]
