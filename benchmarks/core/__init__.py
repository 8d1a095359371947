"""The vocabulary every other package shares: errors, units, budgets, configs, dataset specs,
atomic storage, and the one place private library APIs are used (compat). Imports no Keras,
TensorFlow, JAX or torch, so commands that only read or check start fast."""
