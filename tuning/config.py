"""An architecture search: one dataclass, checked once (`python -m tuning.search`)."""

import dataclasses

from tfdl import config as C


@dataclasses.dataclass
class Config:
    """One keras-tuner random search.

    Attributes:
        app: the task searched (`tuning.hypermodels.APPS`: digits, keywords, phonemes).
        max_trials: architectures to try in total.
        executions_per_trial: trainings per architecture (their metrics averaged).
        epochs: training epochs per trial.
        final_epochs: epochs to retrain the best architecture on the whole training
            split before testing and export (0: skip).
        batch_size: examples per batch (0: the task's own: digits 32, keywords 64,
            phonemes 512).
        seed: search and training seed.
        max_params: parameter budget: architectures with more trainable parameters
            are never trained (0: no budget).
        oracle_timeout: seconds a worker waits for the chief's oracle.
        threads: TensorFlow intra-/inter-op threads of this process (0: TensorFlow's
            default; `tuning.distributed` gives each of N workers cores / N).
    """

    app: str = "digits"
    max_trials: int = 20
    executions_per_trial: int = 1
    epochs: int = 5
    final_epochs: int = 30
    batch_size: int = 0
    seed: int = 0
    max_params: int = 0
    oracle_timeout: float = 60.0
    threads: int = 0

    def validate(self):
        """Checks every field; raises `InputError` naming `--config.FIELD`. Returns self."""
        from tuning.hypermodels import APPS

        C.check_choice(self, "app", APPS.names())
        C.check_positive(self, "max_trials", "executions_per_trial", "epochs", integer=True)
        zero = {"final_epochs": "no retraining", "max_params": "no budget",
                "batch_size": "the app's default", "threads": "TensorFlow's default",
                "seed": "a seed"}
        for name, meaning in zero.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                C.fail(name, f"an integer >= 0 (0: {meaning})", value)
        C.check_positive(self, "oracle_timeout")
        return self
