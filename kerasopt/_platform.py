"""Facts about the machine, for run records and benchmark reports (one place)."""

import os
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


def process_age_seconds():
    """Seconds since this process started (its interpreter start, imports included), from
    /proc/self/stat's start time and /proc/uptime; 0.0 where /proc does not tell it."""
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0
