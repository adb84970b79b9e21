"""Speech denoising (16 kHz, one speaker's clean/noisy pair): the task package.

    config.py   the run's dataclass and its checks
    configs.py  named recipes (`CONFIGS`): one per model, `default`, `best`
    data.py     the training pair and its split, test clips, STFTs, training crops
    layers.py   the networks' layers: spectral features, normalisation, heads
    model.py    model builders (`MODELS`), their losses and the SNR metric
    train.py    `run`: train, evaluate on the held-out tail, denoise test clips, export
    serve.py    `Denoiser` (raw waveform in and out) and its SavedModel export
    devset.py   the cross-speaker sets: other voices split by speaker, mixed with the noise
    quality.py  SI-SDR, SNR, PESQ, STOI; noisereduce baselines; scoring on the dev set
"""
