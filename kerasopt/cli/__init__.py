"""The command line: the code behind `python -m recipes.NAME` (and, later, the `kerasopt` command).

Imports neither Keras nor TensorFlow, so argument errors come before any heavy import.
"""
