"""tfdl: a TensorFlow/Keras suite of classic deep-learning tasks on audio and images."""

from setuptools import find_packages, setup

setup(
    name="tfdl",
    version="0.1.0",
    description="TensorFlow/Keras reference apps for classic audio and image deep-learning tasks.",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["tfdl", "tfdl.*", "apps", "apps.*", "tuning", "tuning.*"]),
    install_requires=[
        # 2.16.2 is the newest TensorFlow on which tensorflow-io 0.37.1's native
        # ops (resample, FLAC/MP3/OGG decode) load; see README "Stack".
        "tensorflow==2.16.2",
        "tensorflow-io==0.37.1",
        "keras>=3.3,<3.16",
        "keras-tuner>=1.4",
        "tensorboard>=2.16,<2.17",
        "librosa>=0.10",
        "soundfile>=0.12",
        "python_speech_features==0.6",
        "scikit-learn>=1.3",
        "matplotlib>=3.7",
        "absl-py>=2.0",
        "numpy<2",
    ],
    extras_require={
        "test": ["pytest>=7"],
    },
)
