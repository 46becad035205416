"""One process of a distributed keras-tuner search (chief or worker, from KERASTUNER_* variables).

python tests/distributed/kt_worker.py DIRECTORY [MAX_TRIALS TRIALS_PER_ROUND EPOCHS]   (6 3 2)
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasopt.optimizers import Lookahead  # noqa: E402
from kerasopt.search import CoarseToFineSearch  # noqa: E402


def build(hp):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(hp.Int("units", 2, 8), activation="tanh"),
            keras.layers.Dense(1),
        ]
    )
    rate = hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")
    model.compile(Lookahead(keras.optimizers.SGD(rate), sync_period=2), "mse")
    return model


class Search(CoarseToFineSearch):
    def run_trial(self, trial, *args, **kwargs):
        print(f"{os.environ['KERASTUNER_TUNER_ID']} runs trial {trial.trial_id}", flush=True)
        return super().run_trial(trial, *args, **kwargs)


if __name__ == "__main__":
    max_trials, per_round, epochs = (int(a) for a in (sys.argv[2:] or (6, 3, 2)))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    tuner = Search(
        build,
        objective="val_loss",
        max_trials=max_trials,
        trials_per_round=per_round,
        top_k=2,
        seed=0,
        directory=sys.argv[1],
        project_name="distributed",
    )
    tuner.search(x, y, validation_split=0.25, epochs=epochs, batch_size=16, verbose=0)
    print(f"{os.environ['KERASTUNER_TUNER_ID']} finished", flush=True)
