"""Files are never written half: write to a temporary name beside the target, then rename.

What a rename guarantees (Linux, one file system): against the death of the process (SIGKILL,
crash), a reader sees either the old target or the complete new one, never a mix. Against a
power cut the data would also need `fsync`, which these helpers do not do.
"""

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from kerasopt._faults import fault_point

_RENAME_EXCHANGE = 2  # linux/fs.h


def _renameat2_exchange(a, b):
    """Swap two existing paths in one system call (Linux >= 3.15); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result != 0:
        errno = ctypes.get_errno()
        if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: no exchange on this kernel/fs
            return False
        raise OSError(errno, os.strerror(errno), str(a))
    return True


def replace_path(src, dst):
    """Put `src` (a file or a folder) at `dst`, replacing what is there; remove the old one.

    A file, or a folder over nothing or an empty folder: one `os.replace`. A folder over an
    existing one: `renameat2(RENAME_EXCHANGE)` swaps the two in one step, so `dst` is at every
    instant either the complete old or the complete new folder; the old one, now at `src`, is
    renamed to `<dst>.old-<pid>` and deleted (a kill during the deletion leaves that name,
    which `remove_stale` clears). Where the kernel or file system has no exchange, the old
    folder is renamed aside first, and for that moment `dst` does not exist.
    """
    src, dst = Path(src), Path(dst)
    if not (src.is_dir() and dst.is_dir() and not dst.is_symlink()) or not any(dst.iterdir()):
        if dst.is_dir() and not dst.is_symlink():
            dst.rmdir()  # empty: nothing is lost, and a rename cannot land inside it
        os.replace(src, dst)
        return
    old = dst.with_name(f"{dst.name}.old-{os.getpid()}")
    if _renameat2_exchange(src, dst):
        os.replace(src, old)
    else:
        os.replace(dst, old)
        os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)


def pid_alive(pid):
    """Whether a process with this id exists (a reused id counts as alive: nothing is removed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder, prefix):
    """Remove `folder/<prefix><pid>[-...]` entries whose process is dead; return their names.

    The pid is the run of digits right after `prefix`. Entries of living processes stay.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if not entry.name.startswith(prefix):
            continue
        digits = entry.name[len(prefix) :].split("-", 1)[0]
        if not digits.isdigit() or pid_alive(int(digits)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success rename it to `path`.

    Works for files and for directories (e.g. a SavedModel): whatever the caller writes at
    the temporary path replaces `path` through `replace_path` (for a folder over a folder: an
    atomic exchange where the system has one). On error the temporary is removed and `path`
    is left as it was; a killed process leaves only the hidden temporary folder
    `.<name>.XXXX` beside it, never a partial `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    try:
        yield tmp
        fault_point(f"write:{path.name}")
        replace_path(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def write_text(path, text):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value):
    """numpy scalars/arrays and Paths in JSON output."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
