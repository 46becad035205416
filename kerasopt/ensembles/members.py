"""Load the snapshots a `kerasopt.callbacks.SnapshotEnsemble` wrote as one Functional model."""

import json
from pathlib import Path

import keras

from kerasopt._validation import check_choice, check_int
from kerasopt.callbacks.snapshot import MANIFEST, file_sha256
from kerasopt.ensembles.combine import MemberAverage, _signature, average_models


class SnapshotError(ValueError):
    """A snapshot (or the manifest) is missing, truncated, corrupted or does not match the others.

    Example:
        >>> import tempfile
        >>> from kerasopt import ensembles
        >>> try:
        ...     ensembles.load(tempfile.mkdtemp())  # an empty folder has no manifest
        ... except ensembles.SnapshotError as error:
        ...     print(type(error).__name__, isinstance(error, ValueError))
        SnapshotError True
    """


def _read_manifest(directory):
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise SnapshotError(f"No snapshot manifest at {str(path)!r}")
    try:
        manifest = json.loads(path.read_text())
        entries = manifest["snapshots"]
        expected = manifest["n_snapshots"]
    except (ValueError, KeyError, TypeError) as error:
        raise SnapshotError(f"Snapshot manifest {str(path)!r} is unreadable: {error}") from error
    if len(entries) != expected:
        raise SnapshotError(
            f"Snapshot manifest {str(path)!r} lists {len(entries)} snapshots but the run planned {expected} "
            "(was the training interrupted?)"
        )
    return entries


def _rank(entries, top_k, metric):
    if top_k is None:
        return entries
    missing = [e["file"] for e in entries if metric not in e.get("metrics", {})]
    if missing:
        raise SnapshotError(
            f"Argument `metric` must be recorded in the manifest for every snapshot; missing for {missing}. Received: metric={metric!r}"
        )
    lower_is_better = "loss" in metric or "error" in metric
    ranked = sorted(entries, key=lambda e: e["metrics"][metric], reverse=not lower_is_better)
    return sorted(ranked[:top_k], key=lambda e: e["cycle"])


def _load_member(path, entry, custom_objects):
    if not path.is_file():
        raise SnapshotError(f"Snapshot file {str(path)!r} (cycle {entry['cycle']}) is missing")
    if path.stat().st_size != entry["bytes"] or file_sha256(path) != entry["sha256"]:
        raise SnapshotError(
            f"Snapshot file {str(path)!r} is truncated or corrupted: its size or SHA-256 differs from the manifest"
        )
    try:
        return keras.models.load_model(path, custom_objects=custom_objects, compile=False)
    except Exception as error:  # any failure to read the file is reported with its name
        raise SnapshotError(f"Snapshot file {str(path)!r} could not be loaded: {error}") from error


def load(
    directory,
    top_k=None,
    combine="mean_probabilities",
    member_outputs="probabilities",
    metric="val_loss",
    custom_objects=None,
):
    """One Functional model feeding its input to every snapshot and averaging their outputs.

    Huang et al. 2017 (sec. 3): the ensemble's prediction is the average of the snapshots'
    outputs. Every snapshot the manifest lists is checked (present, same byte size and
    SHA-256 as when written, loadable, same input/output shapes as the first); any problem
    raises `SnapshotError` naming the file, so the ensemble is never silently smaller.

    Args:
        directory: folder written by `kerasopt.callbacks.SnapshotEnsemble`.
        top_k: keep only the best `top_k` snapshots by `metric` (None: all).
        combine: "mean_probabilities" or "mean_logits" (see `MemberAverage`).
        member_outputs: what the members emit: "probabilities" or "logits".
        metric: manifest metric ranking the snapshots for `top_k`; names containing "loss" or
            "error" are minimized, others maximized.
        custom_objects: passed to `keras.models.load_model` for the members.

    Example:
        >>> import tempfile, keras, numpy as np
        >>> from kerasopt import callbacks, ensembles
        >>> x, y = np.ones((8, 2), "float32"), np.zeros(8, "int64")
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
        >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        >>> folder = tempfile.mkdtemp()
        >>> _ = model.fit(x, y, epochs=2, verbose=0,
        ...               callbacks=[callbacks.SnapshotEnsemble(folder, n_snapshots=2, max_lr=0.1)])
        >>> ensemble = ensembles.load(folder)
        >>> ensemble.predict(x[:1], verbose=0).shape, round(float(ensemble.predict(x[:1], verbose=0).sum()), 5)
        ((1, 2), 1.0)
    """
    check_choice("combine", combine, MemberAverage.COMBINE)
    check_choice("member_outputs", member_outputs, MemberAverage.OUTPUTS)
    entries = _read_manifest(directory)
    if top_k is not None:
        check_int("top_k", top_k, minimum=1, maximum=len(entries))
    entries = _rank(entries, top_k, metric)
    members = []
    for entry in entries:
        path = Path(directory) / entry["file"]
        member = _load_member(path, entry, custom_objects)
        if members and _signature(member) != _signature(members[0]):
            raise SnapshotError(
                f"Snapshot file {str(path)!r} does not match the others: inputs/outputs {_signature(member)} "
                f"vs {_signature(members[0])}"
            )
        member.name = f"snapshot_{entry['cycle']:03d}"
        members.append(member)
    if len(members[0].inputs) != 1 or len(members[0].outputs) != 1:
        raise SnapshotError(f"Snapshots in {str(directory)!r} must have one input and one output")
    return average_models(
        members, combine, member_outputs, name=f"snapshot_ensemble_{len(members)}"
    )
