"""Frame-level phoneme classification (MFCC frames with a context window): the task package.

    config.py   the run's dataclass and its checks
    configs.py  named recipes (`CONFIGS`): one per model, an ensemble, `default`, `best`
    htk.py      HTK parameter files: read and write (`_C` compression, `_K` checksum)
    labels.py   Festival and HTK label files, one phone per frame, the vocabulary
    data.py     the corpus: find it, read its layout (HTK, 11-785 .npy, WAV), split it
    frames.py   normalise and pack utterances; context windows in tf.data
    model.py    model builders (`MODELS`)
    train.py    `run`: train the members, ensemble rules, figures, export
    serve.py    the export: one utterance's raw MFCC in, a phone per frame out

The four ensemble rules are shared: `tfdl.ensemble`.
"""
