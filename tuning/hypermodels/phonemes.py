"""The frame-level phoneme search: `PhonemesHyperModel`, registered as `--config.app=phonemes`.

Imported (and registered) by `tuning.hypermodels` only when `tfdl.phonemes` is in the tree.
"""

from tuning.hypermodels.base import APPS, AppHyperModel, Data


@APPS.register("phonemes")
class PhonemesHyperModel(AppHyperModel):
    """Frame-level phoneme classification: the reference MLP and the residual MLPs.

    Search space: family "mlp" (activation tunable), "resnet_basic" or
    "resnet_bottleneck"; width, depth, dropout, context (frames on each
    side, stride 3 as the app), optimiser, learning rate. (The phonemes
    builders have batch norm always on and no switch for it; only `mlp`
    takes `activation`.) Data and export are the app's own: utterance-level
    split (`split_utterances`: 50 test, 25 validation), trials scored on the
    validation frames, final model tested once on the test frames and
    exported with `export_utterance_model` (a whole utterance of raw MFCC in).
    """

    app = "phonemes"
    default_batch_size = 512
    stride = 3
    contexts = (3, 5, 10, 15)
    frames_per_epoch = 100_000
    size_hps = ("width", "depth", "context", "batchnorm")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._corpus = None

    def branches(self):
        return {"family": ["mlp", "resnet_basic", "resnet_bottleneck"]}

    def corpus(self):
        from tfdl.phonemes import data as ph
        from tfdl.phonemes.labels import check_vocabulary

        if self._corpus is None:
            corpus = ph.load_corpus(ph.find(self.data_dir))
            phones = corpus.phone_set()
            self._corpus = (corpus, phones, check_vocabulary(corpus, phones))
        return self._corpus

    def build_model(self, hp):
        from tfdl.phonemes.model import MODELS

        corpus, phones, _ = self.corpus()
        family = hp.Choice("family", ["mlp", "resnet_basic", "resnet_bottleneck"])
        kw = dict(width=hp.Choice("width", [64, 128, 256, 512]), depth=hp.Int("depth", 1, 4),
                  dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
                  context=hp.Choice("context", list(self.contexts)),
                  batchnorm=hp.Boolean("batchnorm", default=True),
                  activation=hp.Choice("activation", ["gelu", "relu", "swish"]))
        return MODELS.build(family, num_classes=len(phones),
                            num_features=corpus.num_features, **kw)

    def load_data(self):
        from tfdl.phonemes import data as ph
        from tfdl.phonemes import frames

        corpus, phones, index = self.corpus()
        split = ph.split_utterances(len(corpus.utterances), 50, 25, self.seed)
        pad = max(self.contexts) * self.stride
        self.sets = {k: frames.pack([corpus.utterances[i] for i in v], index, pad)
                     for k, v in split.items()}
        steps = max(1, min(self.frames_per_epoch, len(self.sets["train"])) // self.batch_size)
        return Data(train=None, val=None, test=None, final_train=None, labels=tuple(phones),
                    steps_per_epoch=steps, final_steps_per_epoch=steps,
                    description=f"{len(corpus.utterances)} utterances: search on train "
                                f"({len(split['train'])}) / val ({len(split['val'])}); "
                                f"final model tested once on test ({len(split['test'])}); "
                                f"{self.frames_per_epoch} frames per epoch")

    def _datasets(self, hp, final=False):
        from tfdl.phonemes import frames as ph

        context = hp.get("context")
        train = ph.frame_dataset(self.sets["train"], context, self.stride, self.batch_size,
                                 training=True, seed=self.seed)
        val = None if final else ph.frame_dataset(self.sets["val"], context, self.stride,
                                                  4 * self.batch_size)
        return train, val

    def fit(self, hp, model, *args, **kwargs):
        # The context window is a hyperparameter, so each trial makes its own windows.
        train, val = self._datasets(hp)
        kwargs.pop("validation_data", None)
        return model.fit(train, validation_data=val,
                         steps_per_epoch=self.setup().steps_per_epoch, **kwargs)

    def final_fit(self, model, hp, workdir, epochs, verbose="auto"):
        from tfdl.train import fit

        data = self.setup()
        train, _ = self._datasets(hp, final=True)
        return fit(model, train, None, workdir=workdir, epochs=epochs,
                   batch_size=self.batch_size, monitor=self.metric_name, backup=False,
                   steps_per_epoch=data.final_steps_per_epoch, verbose=verbose)

    def predict_test(self, model, hp):
        from tfdl.phonemes.train import predict

        test = self.sets["test"]
        return test.labels, predict(model, test, hp.get("context"), self.stride).argmax(1)

    def export(self, model, export_dir, hp=None):
        from tfdl.phonemes.serve import export_utterance_model

        corpus, phones, _ = self.corpus()
        return export_utterance_model([model], [1.0], export_dir, phones, hp.get("context"),
                                      self.stride, corpus.num_features)
