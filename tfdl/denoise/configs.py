"""Named speech-denoising configs: one complete recipe per model, plus `default` and `best`.

`python -m apps.denoise --config=NAME` (or `--model=NAME`) runs one; the
benchmark (`python -m benchmarks.denoise`) measures each. Validation-tail SNRs
of the runs that chose them (docs/experiments/denoise.md; input 3.28 dB):
fc 12.95, fc_crm 10.61, tcn 14.68, tcn_crm 14.88 dB; the speed recipe 15.21 dB
after 180 epochs; the wide one 15.58 dB after 300 (15.70 in an earlier run).
"""

from tfdl.config import Configs
from tfdl.denoise.config import Config

CONFIGS = Configs("denoise", Config)

# The course's model: 1024/512 STFT, 3 x 1024 ReLU on 7 frames, dropout 0.2, trained on the
# real/imag spectrum MSE (with the noisy phase, the phase-sensitive approximation: 12.95
# against 12.74 dB for the course's magnitude MSE). 94 s of training.
CONFIGS.add("fc", "the course's MLP: a mask on |X|, noisy phase", model="fc")
# 512 units: its first layer sees 3 x 7 x 513 features, and 1024 would double its cost.
CONFIGS.add("fc_crm", "the MLP with a complex ratio mask", model="fc_crm", units=512)
# The TCNs: an 8 ms / 2 ms STFT (the chip crunches are short), 1 s crops of 500 frames,
# batch 8, every crop re-mixed, trained on the waveform error with gradients clipped at 5,
# 180 epochs of about 34 steps, no early stopping (about 26 min each).
TCN = dict(fft_length=128, frame_step=32, chunk_frames=500, batch_size=8, loss="nsr",
           clipnorm=5.0, epochs=180, patience=0, remix=1.0)
CONFIGS.add("tcn", "TCN on an 8 ms STFT: a mask on |X|, noisy phase", model="tcn", **TCN)
CONFIGS.add("tcn_crm", "TCN on an 8 ms STFT with a complex ratio mask", model="tcn_crm", **TCN)
# Noise flips and speed-perturbed speech (0.9x / 1.1x), 50 epochs (the cosine schedule
# over them): 10-17 s an epoch on 2 cores with TensorFlow 2.21 (80 epochs took 20.1 min on
# 2026-12-03, 14.06 dB), so about 13 min. 180 epochs gave 15.21 dB, 300 epochs 15.49 dB.
CONFIGS.add("tcn_crm_speed", "tcn_crm + noise flips + speed-changed speech", base="tcn_crm",
            noise_flip=True, speech_speed=0.1, epochs=50)
# 192-wide blocks (0.45 M parameters), 300 epochs: 15.58 dB, 113 min of training
# (2026-12-04; 15.70 dB in an earlier run); export real-time factor 0.0077.
CONFIGS.add("tcn_crm_wide", "tcn_crm_speed, 192 wide, 300 epochs", base="tcn_crm_speed",
            hidden=192, epochs=300)

# For any voice, the default: half the crops are other speakers (the cross-speaker training
# part: 40 LibriSpeech and 32 Speech Commands voices) under the pair's noise at -5..20 dB,
# and the epoch kept is the best on the cross-speaker dev set (0 and 20 dB input), not on
# the training speaker's tail. 25 epochs: 13.4 min on 2 cores (20-35 s an epoch; 50 epochs
# took 19.6 min), no harm at 20 dB input and ahead of noisereduce everywhere, at 12.43 dB
# on the tail (docs/experiments/denoise.md).
CONFIGS.add("tcn_crm_voices", "tcn_crm_speed on many voices, selected on the dev set",
            base="tcn_crm_speed", voices=0.5, select_on="dev", epochs=25)

# The default trained 180 epochs: 14.39 dB on the tail and +10.20 dB SI-SDR on unseen voices
# at 0 dB input (25 epochs: 12.51 dB, +7.50 dB); 41.0 min on 2 cores (Intel, 2026-12-05).
CONFIGS.add("tcn_crm_voices_long", "the default trained 180 epochs (about 40 min)",
            base="tcn_crm_voices", epochs=180)

# For live audio: the default (many voices, selected on the dev set), each output frame
# from past frames only (8 ms of algorithmic latency at 16 kHz: one 128-sample frame).
CONFIGS.add("tcn_crm_causal", "the default looking back only (live audio)",
            base="tcn_crm_voices", causal=True)

CONFIGS.alias("default", "tcn_crm_voices", "best on new voices in 15 minutes")
CONFIGS.alias("best", "tcn_crm_voices_long", "best on new voices, ~40 minutes")
