"""One absl app per task: `python -m apps.<task>`."""
