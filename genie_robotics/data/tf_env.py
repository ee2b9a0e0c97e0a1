"""Importing TensorFlow for data loading only: off the GPU, few threads, quiet.

TensorFlow grabs every GPU and a thread pool per core as soon as it initialises, which fights
PyTorch for the same devices (a common complaint with Octo/OpenVLA loaders). Every data module
imports TF through `tensorflow()` so these settings are applied before TF does anything.
"""
from __future__ import annotations

import os

_TF = None


def tensorflow(threads: int | None = None):
    """The `tensorflow` module with GPUs hidden and bounded thread pools."""
    global _TF
    if _TF is not None:
        return _TF
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as exc:
        from genie_robotics.core.errors import GenieError

        raise GenieError(f"reading RLDS data needs the 'data' extra (pip install 'genie-robotics[data]'): {exc}") from None
    tf.config.set_visible_devices([], "GPU")
    tf.get_logger().setLevel("ERROR")  # rlds uses deprecated tf.data calls that log on every use
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)  # tfds warns about its own temp folders
    except ImportError:
        pass
    threads = threads or min(4, os.cpu_count() or 1)
    try:
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TF already initialised by the caller; keep its settings
    _TF = tf
    return tf


def tfds():
    tensorflow()
    import tensorflow_datasets

    return tensorflow_datasets
