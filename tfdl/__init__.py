"""tfdl: TensorFlow/Keras reference apps for classic deep-learning tasks on audio and images.

Importing `tfdl` before TensorFlow keeps TensorFlow's start-up noise (oneDNN,
CUDA, TensorRT messages) away from the user: set `TF_CPP_MIN_LOG_LEVEL`
yourself to see it again.
"""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
