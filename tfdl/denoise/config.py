"""The speech-denoising run: one dataclass, checked once.

Every field is a complete setting (no "auto" or `None` filled in later): the
named recipes in `configs.py` set them per model, and the command line
overrides them one by one (`--config.epochs=5`). The model's own arguments
(`units`, `blocks`, ...) are checked by the model module's checks, the same
ones its builders run, so each value is checked once.
"""

import dataclasses

from tfdl import config as C
from tfdl.denoise import model


@dataclasses.dataclass
class Config:
    """One speech-denoising run (the defaults: the course's `fc` model).

    Attributes:
        model: a builder of `tfdl.denoise.model.MODELS`.
        hidden_layers, units, activation, dropout, context: the frame MLPs
            (`fc`, `fc_crm`): layers, width, activation, dropout after each,
            neighbouring frames on each side.
        blocks, repeats, channels, hidden: the TCNs (`tcn`, `tcn_crm`):
            residual blocks per stack (dilations 1, 2, 4, ...), stacks, residual
            width, width inside each block.
        causal: a TCN that looks back only (live audio: no look-ahead beyond
            one STFT frame).
        loss: "spectrum" (MSE of the real/imag STFT: phase-sensitive with the
            noisy phase) or "nsr" (error over signal energy of the waveform).
        fft_length, frame_step: the centred Hann STFT (window = fft_length).
        chunk_frames: consecutive STFT frames per training crop.
        val_fraction: the held-out tail of the pair (validation, the best
            checkpoint and early stopping on its SNR).
        epochs, batch_size, optimizer, learning_rate, weight_decay, schedule,
            patience, clipnorm, seed: training (patience 0: no early stopping;
            weight_decay and clipnorm 0: off).
        remix: probability that a crop's noise comes from elsewhere in the pair.
        noise_gain_db: random gain of a crop's noise in +-dB (0: off).
        noise_flip: time-reverse and negate each crop's noise, each with p = 1/2.
        speech_speed: speed perturbation x: a third of the crops' speech at
            1 - x times the speed, a third at 1 + x (0: off).
        voices: share of the training crops whose speech is another voice: the
            training part of the cross-speaker set (`tfdl.denoise.devset`),
            mixed with the pair's training noise at an input SNR uniform in
            `tfdl.denoise.data.VOICES_SNR_DB` (0: the pair only; needs `speech/`
            and `keywords/` beside `denoise/`).
        select_on: the epoch kept and early stopping: "tail" (the pair's
            held-out tail SNR) or "dev" (the mean SI-SDR of the denoised
            cross-speaker dev mixtures at `tfdl.denoise.train.SELECT_SNRS_DB`
            input).
        train_seconds: train on the first S s of the training part only (0:
            all; the tail and the crops per epoch stay): the data-scaling study.
        max_seconds: use only the first S s of the pair (0: all; smoke runs).
        steps_per_epoch: cap on steps per epoch (0: all; smoke runs).
        audio_every: validation audio in TensorBoard every N epochs (0: never).
        export: write the `export/` SavedModel and measure its real-time factor.
        dev_set: score the model and the baselines on the cross-speaker dev set
            at the end (`tfdl.denoise.quality.score_run`; about 2 minutes; skipped
            where `speech/` and `keywords/` are not beside the `denoise/` folder).
    """

    model: str = "fc"
    hidden_layers: int = 3
    units: int = 1024
    activation: str = "relu"
    dropout: float = 0.2
    context: int = 3
    blocks: int = 8
    repeats: int = 2
    channels: int = 64
    hidden: int = 128
    causal: bool = False
    loss: str = "spectrum"
    fft_length: int = 1024
    frame_step: int = 512
    chunk_frames: int = 32
    val_fraction: float = 0.15
    epochs: int = 30
    batch_size: int = 16
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    patience: int = 12
    clipnorm: float = 0.0
    remix: float = 0.5
    noise_gain_db: float = 6.0
    noise_flip: bool = False
    speech_speed: float = 0.0
    voices: float = 0.0
    select_on: str = "tail"
    train_seconds: float = 0.0
    max_seconds: float = 0.0
    steps_per_epoch: int = 0
    audio_every: int = 10
    export: bool = True
    dev_set: bool = True
    seed: int = 0

    def validate(self):
        """Checks every field; raises `InputError` naming `--config.FIELD`. Returns self."""
        from tfdl.train import OPTIMIZERS, SCHEDULES

        C.check_choice(self, "model", model.MODELS.names())
        C.check_choice(self, "loss", model.LOSSES)
        C.check_choice(self, "optimizer", OPTIMIZERS)
        C.check_choice(self, "schedule", SCHEDULES)
        C.check_positive(self, "fft_length", "frame_step", "chunk_frames", "epochs",
                         "batch_size", integer=True)
        C.check_positive(self, "learning_rate")
        if self.fft_length & (self.fft_length - 1):
            C.fail("fft_length", "a power of two", self.fft_length)
        if self.frame_step > self.fft_length // 2:
            C.fail("frame_step", f"<= fft_length/2={self.fft_length // 2} (overlap-add needs "
                   f"at least 50% overlap)", self.frame_step)
        for name in ("patience", "steps_per_epoch", "audio_every", "seed"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), int) \
                    or getattr(self, name) < 0:
                C.fail(name, "an integer >= 0", getattr(self, name))
        for name in ("weight_decay", "clipnorm", "noise_gain_db", "train_seconds", "max_seconds"):
            C.check_range(self, name, 0.0, float("inf"))
        C.check_range(self, "val_fraction", 0.0, 1.0, low_open=True)
        C.check_range(self, "remix", 0.0, 1.0, high_open=False)
        C.check_range(self, "speech_speed", 0.0, 0.5)
        C.check_range(self, "voices", 0.0, 1.0, high_open=False)
        C.check_choice(self, "select_on", ("tail", "dev"))
        try:
            model.check_args(self)
        except model.ArgumentError as e:
            C.fail(e.arg, e.must, e.value)
        if self.causal and not self.model.startswith("tcn"):
            C.fail("causal", "false for a frame model (fc, fc_crm: causal only with a TCN)",
                   self.causal)
        return self
