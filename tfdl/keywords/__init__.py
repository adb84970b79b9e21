"""Keyword spotting (Speech Commands layout, 16 kHz): the task package.

    config.py   the run's dataclass and its checks
    configs.py  named recipes (`CONFIGS`): one per model, `default`, `best`
    corpus.py   Speech Commands-layout folders: find, index, label, split
    data.py     decoded clips, silence/unknown examples, noise, tf.data pipelines
    model.py    model builders (`MODELS`) with the feature front end inside
    distill.py  a teacher's soft labels for a distilled student (`--config.teacher`)
    train.py    `run`: train, evaluate, plot, export
    serve.py    `Spotter`, `predict`, streaming `detect` / `stream` with an export
"""
