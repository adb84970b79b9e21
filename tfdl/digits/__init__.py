"""Spoken digits (FSDD, 8 kHz): the task package.

    config.py   the run's dataclass and its checks
    configs.py  named recipes (`CONFIGS`): one per model, `default`, `best`
    data.py     FSDD files, splits, augmentation, tf.data pipelines
    model.py    model builders (`MODELS`); layers.py their front-end layers
    adapt.py    for unseen speakers: test-time averaging, adversary, AdaBN
    train.py    `run`: train, evaluate, plot, export
    serve.py    `predict` with an export
"""
