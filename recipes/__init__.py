"""Thin command-line recipes over the kerasopt library (`python -m recipes.NAME --help`)."""

from kerasopt_cli import quiet_native_logs

with quiet_native_logs():  # before any recipe imports TensorFlow: Keras loads it here
    import keras  # noqa: F401
