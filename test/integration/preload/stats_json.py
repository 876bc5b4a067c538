#!/usr/bin/env python3
"""Reads numakeg's JSON statistics (NUMAKEG_STATS=json) for the tests.

    stats_json.py allocs FILE           prints the file's total allocation count
    stats_json.py check FILE            a valid dump of a process numakeg served:
                                        allocations > 0 and a malloc zone listed
    stats_json.py served DIR PIDLOG     every process named in PIDLOG (one "pid exe"
                                        line each time a program started) left a
                                        dump stats.PID.json in DIR with allocations
                                        > 0; prints the processes and the total

Where the format puts the counts is known here only (allocations()), so a
change of the JSON layout is adapted in this one place.
"""
import json
import os
import sys

# The names an allocation count may have, and the object holding the totals.
ALLOC_KEYS = ("allocs", "requests")
TOTAL_KEYS = ("total", "totals")


def allocations(tree):
    """The process's allocation count: its totals object if it has one, else
    the sum of every allocation count anywhere in the tree."""
    if isinstance(tree, dict):
        for t in TOTAL_KEYS:
            total = tree.get(t)
            if isinstance(total, dict):
                for k in ALLOC_KEYS:
                    if isinstance(total.get(k), int):
                        return total[k]
    return sum_allocations(tree)


def sum_allocations(node):
    if isinstance(node, dict):
        s = 0
        for k, v in node.items():
            if k in ALLOC_KEYS and isinstance(v, int) and not isinstance(v, bool):
                s += v
            else:
                s += sum_allocations(v)
        return s
    if isinstance(node, list):
        return sum(sum_allocations(v) for v in node)
    return 0


def strings(node):
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def cmd_allocs(path):
    print(allocations(load(path)))
    return 0


def cmd_check(path):
    try:
        tree = load(path)
    except (OSError, ValueError) as e:
        print(f"{path}: not valid JSON: {e}")
        return 1
    n = allocations(tree)
    zones = [s for s in strings(tree) if s.startswith("malloc-")]
    print(f"{path}: {n} allocations, {len(zones)} malloc zone entries")
    if n <= 0:
        print(f"{path}: no allocations counted")
        return 1
    if not zones:
        print(f"{path}: no malloc size class listed")
        return 1
    return 0


def cmd_served(directory, pidlog):
    started = {}
    with open(pidlog, encoding="utf-8", errors="replace") as f:
        for line in f:
            pid, _, exe = line.strip().partition(" ")
            if pid.isdigit():
                started.setdefault(int(pid), []).append(exe)
    bad = []
    total = 0
    for pid, exes in sorted(started.items()):
        path = os.path.join(directory, f"stats.{pid}.json")
        what = f"pid {pid} ({' -> '.join(os.path.basename(e) for e in exes)})"
        if not os.path.exists(path):
            bad.append(f"{what}: no statistics written (it did not exit through exit(), "
                       "or numakeg was not loaded)")
            continue
        try:
            n = allocations(load(path))
        except (OSError, ValueError) as e:
            bad.append(f"{what}: {path} is not valid JSON: {e}")
            continue
        if n <= 0:
            bad.append(f"{what}: numakeg served no allocation")
        total += n
    # Processes forked without an exec (not in the log) count too.
    for name in os.listdir(directory):
        if name.startswith("stats.") and name.endswith(".json"):
            pid = name[len("stats."):-len(".json")]
            if pid.isdigit() and int(pid) not in started:
                try:
                    total += allocations(load(os.path.join(directory, name)))
                except (OSError, ValueError) as e:
                    bad.append(f"{name} (a forked process): not valid JSON: {e}")
    for b in bad[:20]:
        print(f"  {b}")
    if len(bad) > 20:
        print(f"  ... and {len(bad) - 20} more")
    print(f"processes {len(started)} unserved {len(bad)} allocations {total}")
    return 1 if bad or not started else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "allocs":
        return cmd_allocs(argv[2])
    if len(argv) == 3 and argv[1] == "check":
        return cmd_check(argv[2])
    if len(argv) == 4 and argv[1] == "served":
        return cmd_served(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
