"""A fault-injection hook for the fault tests (tests/faults/): kill the process at a named point.

Set `KERASOPT_FAULT_POINT=NAME` and the process sends itself SIGKILL (no clean-up, no atexit,
like a power cut of the process) the first time the code passes `fault_point(NAME)`. The
points: "write:<file name>" (inside `kerasopt._io.atomic_path`, after the temporary copy is
written and before it is renamed, e.g. "write:model.keras", "write:saved_model"), and
"<phase>-epoch-<n>" (after the first batch of epoch n, counted from 1, of a `fine_tune` phase:
"head", "finetune" or "scratch"). Unset, the hook costs one dictionary look-up.
"""

import os
import signal


def fault_point(name):
    """SIGKILL this process when `$KERASOPT_FAULT_POINT` equals `name`."""
    if os.environ.get("KERASOPT_FAULT_POINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
