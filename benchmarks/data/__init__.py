"""Datasets from their sources (tfds, archives, image folders, the embedded synthetic set) to
the splits a run trains on (loader), and the input path on the device (feed). Imports `core`."""
