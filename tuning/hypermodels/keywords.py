"""The keyword-spotting search: `KeywordsHyperModel`, registered as `--config.app=keywords`.

Imported (and registered) by `tuning.hypermodels` only when `tfdl.keywords` is in the tree.
"""

from tuning.hypermodels.base import APPS, AppHyperModel, Data, common_hps


@APPS.register("keywords")
class KeywordsHyperModel(AppHyperModel):
    """Keyword spotting (Speech Commands layout): the DS-CNN and the reference CNN.

    Search space: family "ds_cnn" (filters, depth 1-5 blocks, depthwise
    kernel 3/5) or "cnn" (1-3 conv layers of tunable filters, kernel 3/5,
    one dense layer of tunable width); dropout, batch norm on/off,
    optimiser, learning rate. (The keywords builders take no `activation`
    argument: ReLU is fixed.) Data, augmentation and export are the app's
    own (`tfdl.keywords.data`, `tfdl.keywords.train`): trials train on the
    training split with its augmentation and are scored on the validation
    list; the final model is retrained on the training split and tested
    once on the testing list.
    """

    app = "keywords"
    default_batch_size = 64
    size_hps = ("filters", "depth", "kernel_size", "batchnorm", "cnn_filters", "cnn_layers",
                "cnn_kernel_size", "dense_units")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        from tfdl.keywords.config import Config

        # held_out_noise=(): every noise file trains, as before the named configs.
        self.cfg = Config(batch_size=self.batch_size, seed=self.seed, epochs=self.epochs,
                          held_out_noise=()).validate()
        self.num_classes = len(self.cfg.wanted_words) + 2  # + silence, unknown

    def branches(self):
        return {"family": ["ds_cnn", "cnn"]}

    def build_model(self, hp):
        from tfdl.keywords.model import MODELS

        family = hp.Choice("family", ["ds_cnn", "cnn"])
        common = common_hps(hp)
        if family == "ds_cnn":
            with hp.conditional_scope("family", ["ds_cnn"]):
                kw = dict(filters=hp.Choice("filters", [16, 24, 32, 48, 64]),
                          depth=hp.Int("depth", 1, 5),
                          kernel_size=hp.Choice("kernel_size", [3, 5]))
        else:
            with hp.conditional_scope("family", ["cnn"]):
                f = hp.Choice("cnn_filters", [8, 16, 32])
                kw = dict(filters=(f,) * hp.Int("cnn_layers", 1, 3),
                          kernel_size=hp.Choice("cnn_kernel_size", [3, 5]),
                          dense_units=(hp.Choice("dense_units", [32, 64, 128]),))
        return MODELS.build(family, num_classes=self.num_classes, **self.cfg.front_end(),
                            **common, **kw)

    def load_data(self):
        import math

        from tfdl.keywords import corpus as sc
        from tfdl.keywords import data as kw

        data = kw.prepare(self.cfg, self.data_dir)
        tr, va, te = (data.splits[s] for s in sc.SPLITS)
        bank = kw.noise_bank(data.train_noise, self.cfg.clip_samples)
        train = kw.train_dataset(tr, self.cfg, bank)
        steps = math.ceil(len(tr) / self.batch_size)
        return Data(train=train, val=kw.eval_dataset(va.waves, va.labels),
                    test=kw.eval_dataset(te.waves, te.labels), final_train=train,
                    labels=tuple(data.corpus.labels), steps_per_epoch=steps,
                    final_steps_per_epoch=steps,
                    description=f"Speech Commands lists: search on training ({len(tr)}) / "
                                f"validation ({len(va)}); final model on training, "
                                f"testing ({len(te)}) once")

    def export(self, model, export_dir, hp=None):
        from tfdl.keywords import train as kw

        return kw.save_export(model, export_dir, list(self.setup().labels), self.cfg)
