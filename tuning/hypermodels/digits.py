"""The spoken-digits (FSDD) search: `DigitsHyperModel`, registered as `--config.app=digits`."""

from tfdl.errors import InputError
from tuning.hypermodels.base import APPS, AppHyperModel, Data, common_hps


@APPS.register("digits")
class DigitsHyperModel(AppHyperModel):
    """Spoken digits (FSDD): the `compact` log-mel CNN and the reference `mfcc` CNN.

    Search space:
        family: "compact" (depth 2-5 blocks, first-block filters, kernel 3/5)
            or "mfcc" (three conv layers of f/2f/4f filters, 1-2 dense layers
            of tunable width);
        dropout 0-0.5, batch norm on/off, activation, optimiser, learning rate.

    Splits: the official split's training takes (5-49) are divided into
    search-train (takes 10-49) and search-validation (takes 5-9); the final
    model is retrained on takes 5-49 and tested once on the official test
    takes 0-4, so the test set never guides the search.
    """

    app = "digits"
    size_hps = ("filters", "depth", "kernel_size", "batchnorm", "mfcc_filters", "dense_units",
                "dense_layers")
    length = 8000  # 1 s at 8 kHz: the batches' length; each model pads/trims itself.
    validation_takes = range(5, 10)

    def branches(self):
        return {"family": ["compact", "mfcc"]}

    def build_model(self, hp):
        from tfdl.digits.model import MODELS

        family = hp.Choice("family", ["compact", "mfcc"])
        common = common_hps(hp)
        if family == "compact":
            with hp.conditional_scope("family", ["compact"]):
                kw = dict(filters=hp.Choice("filters", [8, 12, 16, 24, 32]),
                          depth=hp.Int("depth", 2, 5),
                          kernel_size=hp.Choice("kernel_size", [3, 5]))
        else:
            with hp.conditional_scope("family", ["mfcc"]):
                f = hp.Choice("mfcc_filters", [4, 8, 12, 16])
                width = hp.Choice("dense_units", [16, 32, 64, 128])
                layers = hp.Int("dense_layers", 1, 2)
                kw = dict(filters=(f, 2 * f, 4 * f), dense=(width,) * layers)
        return MODELS.build(family, num_classes=10, **common, **kw)

    def prepare(self, model, train_ds):
        from tfdl.digits.model import adapt

        adapt(model, train_ds)

    def load_data(self):
        from tfdl.augment import time_shift
        from tfdl.digits import data as fsdd
        from tfdl.pipeline import waveform_dataset

        recs = fsdd.load(self.data_dir)
        train, test = fsdd.split(recs, "official")
        val = [r for r in train if r.take in self.validation_takes]
        search_train = [r for r in train if r.take not in self.validation_takes]
        if not val or not search_train:
            raise InputError(f"FSDD data in {fsdd.find(self.data_dir)} needs training takes "
                             f"5-9 (search validation) and 10-49 (search training)")

        def ds(recs, training, augment=None):
            paths, labels = fsdd.paths_and_labels(recs)
            return waveform_dataset(paths, labels, sample_rate=fsdd.SAMPLE_RATE,
                                    length=self.length, batch_size=self.batch_size,
                                    training=training, seed=self.seed, augment=augment)

        steps = -(-len(search_train) // self.batch_size)
        return Data(train=ds(search_train, True), val=ds(val, False), test=ds(test, False),
                    final_train=ds(train, True, lambda x: time_shift(x, 800)),
                    labels=fsdd.LABELS, steps_per_epoch=steps,
                    final_steps_per_epoch=-(-len(train) // self.batch_size),
                    description=f"FSDD official split: search on takes 10-49 "
                                f"({len(search_train)}) / validation takes 5-9 ({len(val)}); "
                                f"final model on takes 5-49 ({len(train)}), "
                                f"test takes 0-4 ({len(test)})")
