"""Facts about the machine, for run records and benchmark reports (one place)."""

from pathlib import Path


def cpuinfo(key):
    """The first `key : value` field of /proc/cpuinfo, or "unknown" where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
