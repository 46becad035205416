"""Thin command-line recipes over the kerasopt library (`python -m recipes.NAME --help`)."""

from kerasopt_cli import quiet_native_logs

quiet_native_logs()  # before any recipe imports TensorFlow
