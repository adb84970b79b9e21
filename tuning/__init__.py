"""keras-tuner searches over the suite's model families: `python -m tuning.search --app=digits`."""
