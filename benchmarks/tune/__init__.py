"""The keras-tuner search of the original model's design space under a run's budget: the
tuner (engine), its trial bookkeeping and its findings. Imports `train`, `data`, `results`,
`report` (figure style) and `core`."""
