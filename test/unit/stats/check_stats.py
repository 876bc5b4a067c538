#!/usr/bin/env python3
"""The statistics tests: check_stats.py CASE --workload EXE --tool numakeg-stat
--samples DIR --dir WORKDIR.  Each case runs stats_workload (or the tool) with
the environment it needs and checks what came out; it prints every failure
and exits 1, or exits 77 (ctest's skip) saying why it cannot run here."""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib

NDOM = 4
N_ALLOC = [1000, 2000, 3000, 4000]   # as in stats_workload.c
N_FREE = [100, 700, 2000, 3999]
ZONE = "stats-test"
PINNED_MALLOC_SIZE = 1500            # as in stats_workload.c
SKIP = 77

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def run(args, env_add, timeout=60, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMAKEG_")}
    env.update(env_add)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def must_run(args, env_add, skip_ok=False, **kw):
    r = run(args, env_add, **kw)
    if skip_ok and r.returncode == SKIP:
        print(r.stdout.strip())
        sys.exit(SKIP)
    if r.returncode != 0:
        sys.exit("FAIL: %s exited %d\nstdout:\n%s\nstderr:\n%s"
                 % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def zone_of(dump, name):
    for z in dump["zones"]:
        if z["name"] == name:
            return z
    sys.exit("FAIL: no zone %s in the dump" % name)


def numakeg_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("numakeg:")]


def counts_dump(o, extra_env=None):
    env = {"NUMAKEG_FAKE_DOMAINS": str(NDOM)}
    env.update(extra_env or {})
    must_run([o.workload, "counts", o.dir], env)
    with open(os.path.join(o.dir, "dump.json"), encoding="utf-8") as f:
        return json.load(f)   # the real parser: anything malformed raises


def case_counts(o):
    dump = counts_dump(o)
    check(dump["version"] == 3, "version is %r, want 3" % dump["version"])
    check([d["domain"] for d in dump["domains"]] == list(range(NDOM)),
          "every domain is listed: %r" % [d["domain"] for d in dump["domains"]])
    z = zone_of(dump, ZONE)
    check([d["domain"] for d in z["domains"]] == list(range(NDOM)),
          "the zone lists every domain")
    for d in range(NDOM):
        row = z["domains"][d]
        check(row["requests"] == N_ALLOC[d], "domain %d: requests %d, want %d"
              % (d, row["requests"], N_ALLOC[d]))
        check(row["used"] == N_ALLOC[d] - N_FREE[d], "domain %d: used %d, want %d"
              % (d, row["used"], N_ALLOC[d] - N_FREE[d]))
        check(row["failures"] == 0 and row["xdomain"] == 0,
              "domain %d: no failures or cross-domain frees" % d)
        check(row["bytes_used"] == row["used"] * z["size"], "domain %d: bytes_used" % d)
    t = z["total"]
    check(t["requests"] == sum(N_ALLOC), "total requests %d, want %d"
          % (t["requests"], sum(N_ALLOC)))
    check(t["used"] == sum(N_ALLOC) - sum(N_FREE), "total used %d, want %d"
          % (t["used"], sum(N_ALLOC) - sum(N_FREE)))
    check(z["size"] == 200 and z["kind"] == "zone", "size and kind of the zone")
    lim = zone_of(dump, "stats-limited")
    check(lim["limit"] == 4, "the limited zone's limit: %r" % lim["limit"])
    check(lim["total"]["failures"] == 2, "two failures at the limit: %r" % lim["total"])
    check(lim["total"]["sleeps"] >= 1, "a sleep at the limit: %r" % lim["total"])
    check(lim["total"]["requests"] == 5 and lim["total"]["used"] == 4,
          "five items handed out, four held: %r" % lim["total"])
    check(sum(d["failures"] for d in lim["domains"]) == 2, "failures per domain add up")
    odd = zone_of(dump, 'odd "quoted" \\ name\t')
    check(odd["total"]["requests"] == 1, "the oddly named zone's one request")
    # Every item of the zone's slabs is either used or free (in a slab or a cache).
    for label, row in [("total", t)] + list(enumerate(z["domains"])):
        check(row["used"] + row["free"] == row["slabs"] * z["items_per_slab"],
              "%s: used %d + free %d = %d slabs x %d items" % (label, row["used"], row["free"],
                                                              row["slabs"], z["items_per_slab"]))
        check(row["bytes_held"] >= row["bytes_used"] + row["bytes_free"], "%s: held covers "
              "used and free" % label)


def class_of(dump, size):
    """malloc's size class that holds a block of size bytes."""
    classes = zone_of(dump, "malloc")["classes"]
    return min((c for c in classes if c["size"] >= size), key=lambda c: c["size"])


def large_of(dump):
    return zone_of(dump, "malloc-large")


def pinned_counts(o, cache):
    """Exact counts with the caches programs get: per CPU, or per thread."""
    env = {"NUMAKEG_FAKE_DOMAINS": str(NDOM)}
    if cache == "thread":
        env["NUMAKEG_CACHE"] = "thread"
    r = run([o.workload, "pinned", o.dir, cache], env)
    if r.returncode == SKIP:
        print(r.stdout.strip())
        sys.exit(SKIP)
    if r.returncode != 0:
        sys.exit("FAIL: stats_workload pinned exited %d\n%s%s" % (r.returncode, r.stdout,
                                                                 r.stderr))
    threads = [tuple(map(int, m)) for m in
               re.findall(r"^thread (\d+) cpu (\d+) domain (\d+)$", r.stdout, re.M)]
    check(len(threads) >= 1, "the threads said where they ran: %r" % r.stdout)
    large_bytes = int(re.search(r"^large block bytes (\d+)$", r.stdout, re.M).group(1))
    want = {k: [0] * NDOM for k in ("zone_req", "zone_free", "m_req", "m_free", "l_req",
                                    "l_free", "zone_x", "m_x", "l_x")}
    for k, cpu, dom in threads:
        check(dom == cpu % NDOM, "thread %d on cpu %d is on domain %d, want cpu %% %d"
              % (k, cpu, dom, NDOM))
        want["zone_req"][dom] += N_ALLOC[k]
        want["zone_free"][dom] += N_FREE[k]
        want["m_req"][dom] += N_ALLOC[k] // 4
        want["m_free"][dom] += N_FREE[k] // 4
        want["l_req"][dom] += N_ALLOC[k] // 100
        want["l_free"][dom] += N_FREE[k] // 100
    # Cross-domain frees (two CPUs or more): counted on the freeing thread's
    # domain, as frees and xdomain; a large block's free on the block's domain.
    x = re.search(r"^xfree domain (\d+) of domain (\d+): items (\d+) malloc (\d+) large (\d+)$",
                  r.stdout, re.M)
    check(x is not None or len(threads) < 2, "the cross-domain frees ran: %r" % r.stdout)
    if x:
        xd, home, xi, xm, xl = map(int, x.groups())
        check(xd != home, "the cross-domain thread is on another domain (%d, %d)" % (xd, home))
        want["zone_free"][xd] += xi
        want["zone_x"][xd] += xi
        want["m_free"][xd] += xm
        want["m_x"][xd] += xm
        want["l_free"][home] += xl
        want["l_x"][xd] += xl
    with open(os.path.join(o.dir, "before.json"), encoding="utf-8") as f:
        before = json.load(f)
    with open(os.path.join(o.dir, "after.json"), encoding="utf-8") as f:
        after = json.load(f)
    z = zone_of(after, ZONE)
    mb, ma = class_of(before, PINNED_MALLOC_SIZE), class_of(after, PINNED_MALLOC_SIZE)
    lb, la = large_of(before), large_of(after)
    for d in range(NDOM):
        row = z["domains"][d]
        check(row["xdomain"] == want["zone_x"][d], "%s: domain %d: %d cross-domain frees, "
              "want %d" % (ZONE, d, row["xdomain"], want["zone_x"][d]))
        check(row["requests"] == want["zone_req"][d] and
              row["used"] == want["zone_req"][d] - want["zone_free"][d],
              "%s: domain %d: %d requests, %d used; want %d, %d" % (
                  ZONE, d, row["requests"], row["used"], want["zone_req"][d],
                  want["zone_req"][d] - want["zone_free"][d]))
        for name, zb, za, req, fr, xk in (
                ("malloc-%d" % ma["size"], mb, ma, "m_req", "m_free", "m_x"),
                ("malloc-large", lb, la, "l_req", "l_free", "l_x")):
            dreq = za["domains"][d]["requests"] - zb["domains"][d]["requests"]
            dused = za["domains"][d]["used"] - zb["domains"][d]["used"]
            dx = za["domains"][d]["xdomain"] - zb["domains"][d]["xdomain"]
            check(dx == want[xk][d], "%s: domain %d: %d more cross-domain frees, want %d"
                  % (name, d, dx, want[xk][d]))
            check(dreq == want[req][d] and dused == want[req][d] - want[fr][d],
                  "%s: domain %d: %d more requests, %d more used; want %d, %d" % (
                      name, d, dreq, dused, want[req][d], want[req][d] - want[fr][d]))
        # Large blocks have a zone's columns: bytes used and held, failures.
        lrow, lrow0 = la["domains"][d], lb["domains"][d]
        dbytes = lrow["bytes_used"] - lrow0["bytes_used"]
        want_used = want["l_req"][d] - want["l_free"][d]
        check(dbytes == want_used * large_bytes, "malloc-large: domain %d: %d more bytes used, "
              "want %d blocks of %d" % (d, dbytes, want_used, large_bytes))
        check(lrow["bytes_held"] == lrow["bytes_used"] + lrow["bytes_free"],
              "malloc-large: domain %d: held is used + cached: %r" % (d, lrow))
        dfail = lrow["failures"] - lrow0["failures"]
        want_fail = sum(1 for _, _, dom in threads if dom == d)
        check(dfail == want_fail, "malloc-large: domain %d: %d more failures, want %d"
              % (d, dfail, want_fail))
    t = z["total"]
    check(t["requests"] == sum(want["zone_req"]) and
          t["used"] == sum(want["zone_req"]) - sum(want["zone_free"]),
          "%s total: %d requests, %d used" % (ZONE, t["requests"], t["used"]))
    # Every item of the zone's slabs is used or free, in a slab or a cache.
    check(t["used"] + t["free"] == t["slabs"] * z["items_per_slab"],
          "%s: used %d + free %d = %d slabs x %d items" % (ZONE, t["used"], t["free"],
                                                          t["slabs"], z["items_per_slab"]))
    # malloc's line is its classes summed, per domain and in total.
    m = zone_of(after, "malloc")
    for key in ("requests", "frees", "used", "free", "slabs", "bytes_used", "bytes_held"):
        check(m["total"][key] == sum(c["total"][key] for c in m["classes"]),
              "malloc's total %s is its classes' sum" % key)
        for d in range(NDOM):
            check(m["domains"][d][key] == sum(c["domains"][d][key] for c in m["classes"]),
                  "malloc's domain %d %s is its classes' sum" % (d, key))


def case_counts_cpu(o):
    pinned_counts(o, "cpu")


def case_counts_thread(o):
    pinned_counts(o, "thread")


TEXT_COLS = ["used", "free", "requests", "failures", "sleeps", "xdomain", "fallbacks"]


def human(v):
    """stats_format.c's fmt_bytes: 512, 12.5K, 3.2M, 1.0G, with a sign below zero."""
    sign, v = ("-", -v) if v < 0 else ("", v)
    if v < 1024:
        return "%s%d" % (sign, v)
    u, scale = 0, 1024
    while u < 4 and v >= scale * 1024:
        scale *= 1024
        u += 1
    tenths = (v * 10 + scale // 2) // scale
    return "%s%d.%d%s" % (sign, tenths // 10, tenths % 10, "KMGTP"[u])


def share(part, whole):
    """stats_format.c's fmt_share: 0.xxx, rounded."""
    permille = (part * 1000 + whole // 2) // whole
    return "%d.%03d" % (permille // 1000, permille % 1000)


def text_zone_rows(lines):
    """The zone table: {name: [total row, domain rows...]} as split words, and
    {name: notes} (nofree, reserve=N, secondary: at the end of a total row)."""
    head = [i for i, l in enumerate(lines) if l.split()[:2] == ["zone", "size"]]
    rows, notes, name = {}, {}, None
    for l in lines[head[0] + 1:] if head else []:
        w = l.split()
        if not w or l.startswith("(NUMAKEG_STATS") or l.startswith("numakeg:"):
            break
        if l[:1] != " " or l.startswith("  malloc-"):
            note = []
            while w and re.fullmatch(r"nofree|secondary|reserve=\d+", w[-1]):
                note.insert(0, w.pop())
            # a zone's total row: the name may have spaces ("(numakeg) x"), the
            # columns after it are fixed: size dom node limit + 9 numbers
            name = " ".join(w[:len(w) - 13]).strip()
            rows[name] = [w[len(w) - 13:]]
            notes[name] = note
        elif name is not None:
            rows[name].append(w)
    return rows, notes


def words(name):
    """A name as the text's columns show it: its words, one space apart."""
    return " ".join(name.split())


def check_zone_text(label, row, js):
    """One text row (size dom node limit used ... bytes_held) against JSON."""
    got = [int(x) for x in row[4:11]] + row[11:13]
    exp = [js[k] for k in TEXT_COLS] + [human(js["bytes_used"]), human(js["bytes_held"])]
    check(got == exp, "%s: text %r, JSON %r" % (label, got, exp))


def text_and_json(o, mode):
    """counts under NUMAKEG_STATS=mode: the text and JSON dumps of one state."""
    dump = counts_dump(o, {"NUMAKEG_STATS": mode,
                           "NUMAKEG_STATS_FILE": os.path.join(o.dir, "exit.txt")})
    with open(os.path.join(o.dir, "dump.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    # The summary: the process, then one line per domain, every number as in JSON.
    check(lines[0].startswith("numakeg ") and "%d domains (fake)" % NDOM in lines[0],
          "the first line names the process and its domains: %r" % lines[0])
    doms = [l.split() for l in lines[2:3 + NDOM]]
    check([d[0] for d in doms] == ["total"] + [str(d) for d in range(NDOM)],
          "summary lines: %r" % [d[:1] for d in doms])
    tot = {"used": 0, "held": 0, "cached": 0, "dirty": 0, "purged": 0, "nofree": 0}
    for d, words in zip(dump["domains"], doms[1:]):
        p = d["pages"]
        vals = {"used": d["bytes_used"], "held": p["active_bytes"], "cached": d["bytes_free"],
                "dirty": p["dirty_bytes"], "purged": p["purged_bytes"], "nofree": p["nofree_bytes"]}
        for k in tot:
            tot[k] += vals[k]
        want = [str(d["domain"]), "-"] + [human(vals[k]) for k in ("used", "held", "cached",
                                                                    "dirty", "purged", "nofree")]
        want += [human(p["limit_bytes"]) if p["limit_bytes"] else "-",
                 share(d["frees"] - d["xdomain"], d["frees"]) if d["frees"] else "-", "-"]
        check(words == want, "domain %d: text %r, JSON %r" % (d["domain"], words, want))
    want = ["total", "-"] + [human(tot[k]) for k in ("used", "held", "cached", "dirty",
                                                      "purged", "nofree")]
    check(doms[0][:8] == want, "total line: text %r, JSON %r" % (doms[0][:8], want))
    t = dump["total"]
    want = "process: %d requests, %d frees, %d in use" % (t["requests"], t["frees"], t["used"])
    check(lines[3 + NDOM] == want, "process line: %r, want %r" % (lines[3 + NDOM], want))
    rows, notes = text_zone_rows(lines)
    return dump, lines, rows, notes


def case_text_json(o):
    dump, lines, rows, notes = text_and_json(o, "text:full")
    # Every zone, its size classes and numakeg's own zones, each with its domains.
    zones = [z for z in dump["zones"]]
    classes = zone_of(dump, "malloc")["classes"]
    named = {("(numakeg) " if z["kind"] == "internal" else "") + words(z["name"]): z
             for z in zones}
    named.update({c["name"]: c for c in classes
                  if c["total"]["requests"] + c["total"]["slabs"] != 0})
    check(set(rows) == set(named), "zones in the text and not in JSON: %r; the other way: %r"
          % (sorted(set(rows) - set(named)), sorted(set(named) - set(rows))))
    for name in set(rows) & set(named):
        z, r = named[name], rows[name]
        if not check(len(r) == 1 + NDOM, "%s: a total row and %d domain rows" % (name, NDOM)):
            continue
        check(r[0][1] == "all", "%s: the total row first" % name)
        want_notes = ((["nofree"] if z.get("nofree") else []) +
                      (["reserve=%d" % z["reserve"]] if z.get("reserve") else []) +
                      (["secondary"] if z.get("secondary") else []))
        check(notes[name] == want_notes, "%s: notes %r, JSON says %r" % (name, notes[name],
                                                                         want_notes))
        check_zone_text(name + " total", r[0], z["total"])
        for d in range(NDOM):
            check(r[1 + d][0] == str(d), "%s: domain %d's row: %r" % (name, d, r[1 + d]))
            # a domain row has no size: dom node limit used ...
            check_zone_text("%s domain %d" % (name, d), [""] + r[1 + d], z["domains"][d])
    check(any(n.startswith("(numakeg) ") for n in rows), "numakeg's own zones are listed")


def case_text_summary(o):
    """NUMAKEG_STATS=text: the summary, then only the zones' total rows, the most
    memory held first; no domain rows, no size classes, no internal zones."""
    dump, lines, rows, notes = text_and_json(o, "text")
    want = {words(z["name"]): z for z in dump["zones"] if z["kind"] != "internal"}
    check(set(rows) == set(want), "zones: %r, want %r" % (sorted(rows), sorted(want)))
    for name in set(rows) & set(want):
        check(len(rows[name]) == 1, "%s: one row, no domain rows: %r" % (name, rows[name]))
        check_zone_text(name, rows[name][0], want[name]["total"])
    order = [n for n in (l.split()[0] for l in lines if l.split()) if n in want or
             n == "stats-limited"]
    held = [(want[n]["total"]["bytes_held"], want[n]["total"]["bytes_used"]) for n in order
            if n in want]
    check(held == sorted(held, reverse=True), "zones by memory held: %r" % list(zip(order, held)))
    check(any(l.startswith("(NUMAKEG_STATS=text:full") for l in lines),
          "the line that says how to get the detail")
    check(lines[-1].startswith("numakeg: total allocs "), "the last line scripts read")


def case_fork(o):
    r = must_run([o.workload, "fork"], {"NUMAKEG_STATS": "json",
                                        "NUMAKEG_STATS_FILE": os.path.join(o.dir, "s.%p.json")})
    pids = dict(re.findall(r"^(parent|child) (\d+)$", r.stdout, re.M))
    if not check(set(pids) == {"parent", "child"}, "both processes said their pid: %r"
                 % r.stdout):
        return
    check(pids["parent"] != pids["child"], "two pids")
    for who, pid in pids.items():
        path = os.path.join(o.dir, "s.%s.json" % pid)
        if check(os.path.exists(path), "the %s's file %s" % (who, path)):
            with open(path, encoding="utf-8") as f:
                dump = json.load(f)
            check(dump["pid"] == int(pid), "the %s's dump has its pid" % who)
            check(dump["reason"] == "exit", "an exit dump")


def case_live(o, per_cpu=False):
    live = os.path.join(o.dir, "live.jsonl")
    r = must_run([o.workload, "live", o.dir] + (["cpu"] if per_cpu else []),
                 {"NUMAKEG_FAKE_DOMAINS": str(NDOM), "NUMAKEG_STATS_SIGNAL": "USR2",
                  "NUMAKEG_STATS_FILE": live}, skip_ok=True)
    with open(live, encoding="utf-8") as f:
        lines = f.read().splitlines()
    dumps = [json.loads(l) for l in lines]
    reasons = [d["reason"] for d in dumps]
    check(reasons[0] == "signal" and reasons[-1] == "exit",
          "a signal dump first, the exit dump last: %r" % reasons)
    with open(os.path.join(o.dir, "before.json"), encoding="utf-8") as f:
        before = zone_of(json.load(f), ZONE)
    with open(os.path.join(o.dir, "after.json"), encoding="utf-8") as f:
        after = zone_of(json.load(f), ZONE)
    mid = zone_of(dumps[0], ZONE)
    for key in ("requests", "used"):
        b, m, a = before["total"][key], mid["total"][key], after["total"][key]
        check(b <= m <= a, "total %s: %d <= %d <= %d" % (key, b, m, a))
        for d in range(NDOM):
            b, m, a = (x["domains"][d][key] for x in (before, mid, after))
            check(b <= m <= a, "domain %d %s: %d <= %d <= %d" % (d, key, b, m, a))
    check(after["total"]["requests"] > before["total"]["requests"], "the threads allocated")


def case_live_cpu(o):
    """The same with the threads on the per-CPU caches (their misses dump)."""
    case_live(o, per_cpu=True)


def case_interval(o):
    live = os.path.join(o.dir, "live.jsonl")
    must_run([o.workload, "churn", "2600"], {"NUMAKEG_STATS_INTERVAL": "1",
                                             "NUMAKEG_STATS_FILE": live})
    with open(live, encoding="utf-8") as f:
        dumps = [json.loads(l) for l in f.read().splitlines()]
    reasons = [d["reason"] for d in dumps]
    # Two are due in 2.6 s; a third only if a loaded machine stretched the run.
    check(2 <= reasons.count("interval") <= 3 and reasons[-1] == "exit",
          "two interval dumps in 2.6 s at 1 s, then the exit dump: %r" % reasons)
    times = [d["time"] for d in dumps]
    check(times == sorted(times), "dumps in time order")
    gaps = [b - a for a, b in zip(times, times[1:-1])]
    check(all(g >= 0.9 for g in gaps), "interval dumps at least a second apart: %r" % gaps)
    req = [d["total"]["requests"] for d in dumps]
    check(req == sorted(req) and req[0] > 0, "requests only grow: %r" % req)


def case_unwritable(o):
    r = must_run([o.workload, "noop"], {"NUMAKEG_STATS": "json",
                                        "NUMAKEG_STATS_FILE": "/nonexistent-dir/stats.json"})
    msgs = numakeg_lines(r.stderr)
    check(len(msgs) == 1 and "NUMAKEG_STATS_FILE" in msgs[0],
          "one line about the file: %r" % msgs)
    objs = [json.loads(l) for l in r.stderr.splitlines() if l.startswith("{")]
    check(len(objs) == 1 and objs[0]["reason"] == "exit", "the dump went to stderr")


BAD = [
    ("NUMAKEG_STATS", "bogus"), ("NUMAKEG_STATS", "JSON"),
    ("NUMAKEG_FAKE_DOMAINS", "abc"), ("NUMAKEG_FAKE_DOMAINS", "0"),
    ("NUMAKEG_FAKE_DOMAINS", "65"), ("NUMAKEG_FAKE_DOMAINS", "4x"),
    ("NUMAKEG_DEBUG", "maybe"),
    ("NUMAKEG_STATS_SIGNAL", "HUP"), ("NUMAKEG_STATS_INTERVAL", "-1"),
    ("NUMAKEG_STATS_INTERVAL", "5s"), ("NUMAKEG_STATS_PLACEMENT", "2"),
    ("NUMAKEG_STATS_FILE", "x" * 600),
    ("NUMAKEG_DOMAIN_LIMIT", "lots"), ("NUMAKEG_DOMAIN_LIMIT", "9:1M"),
    ("NUMAKEG_DOMAIN_LIMIT", "0:1M,1:"), ("NUMAKEG_DOMAIN_LIMIT", "node0:1M"),
    ("NUMAKEG_POLICY", "wibble"), ("NUMAKEG_POLICY", "bind:7"),
    ("NUMAKEG_POLICY", "bind:nodeX"),
    ("NUMAKEG_DIRTY_MAX", "1Q"), ("NUMAKEG_DIRTY_MAX", "-5"),
    ("NUMAKEG_DECAY_MS", "soon"), ("NUMAKEG_DECAY_MS", "99999999999999999999999"),
    ("NUMAKEG_TRIM_MS", "18446744073710"),
    ("NUMAKEG_KVA_WINDOW", "huge"), ("NUMAKEG_KVA_WINDOW", "1K"),
    ("NUMAKEG_KVA_WINDOW", "32T"),
    ("NUMAKEG_SECURE", "sometimes"), ("NUMAKEG_CACHE", "core"), ("NUMAKEG_CACHE", "THREAD"),
    ("NUMAKEG_FAKE_DISTANCES", "10,20"), ("NUMAKEG_FAKE_DISTANCES", "10,20,x"),
    ("NUMAKEG_FAULT", "fork:1/2"), ("NUMAKEG_FAULT", "mmap:3/2"),
    ("NUMAKEG_FAULT_SEED", "seven"), ("NUMAKEG_FAULT_SEED", "99999999999999999999999"),
]
GOOD = {"NUMAKEG_STATS": "0", "NUMAKEG_DEBUG": "1", "NUMAKEG_STATS_SIGNAL": "SIGUSR1",
        "NUMAKEG_STATS_INTERVAL": "3600", "NUMAKEG_STATS_PLACEMENT": "off",
        "NUMAKEG_DOMAIN_LIMIT": "0:1G,3:2G", "NUMAKEG_POLICY": "bind:3",
        "NUMAKEG_DIRTY_MAX": "32M", "NUMAKEG_DECAY_MS": "500", "NUMAKEG_TRIM_MS": "18446744073709",
        "NUMAKEG_KVA_WINDOW": "64G", "NUMAKEG_SECURE": "0", "NUMAKEG_CACHE": "thread",
        "NUMAKEG_FAKE_DISTANCES": ",".join(str(10 + 10 * abs(i - j))
                                           for i in range(NDOM) for j in range(NDOM)),
        "NUMAKEG_FAULT": "mmap:0/1", "NUMAKEG_FAULT_SEED": "0x2a",
        "NUMAKEG_STATS_FILE": "/dev/null"}


def variables_read(source):
    """Every NUMAKEG_* variable lib/ reads, by the calls that read one."""
    names = set()
    lib = os.path.join(source, "lib")
    for f in sorted(os.listdir(lib)):
        if f.endswith(".c"):
            with open(os.path.join(lib, f), encoding="utf-8") as fh:
                names.update(re.findall(r"\b(?:nk_getenv|opt_get|opt_bool|opt_size|opt_ms|"
                                        r"opt_copy)\(\"(NUMAKEG_[A-Z0-9_]+)\"", fh.read()))
    return names


def case_bad_options(o):
    # Every variable the library reads has bad values here and a good one.
    read = variables_read(o.source)
    check(len(read) >= 18, "the variables found in lib/: %r" % sorted(read))
    check(read <= {v for v, _ in BAD}, "variables with no bad value tested: %r"
          % sorted(read - {v for v, _ in BAD}))
    check(read <= set(GOOD) | {"NUMAKEG_FAKE_DOMAINS"}, "variables with no good value tested: %r"
          % sorted(read - set(GOOD)))
    # Good values say nothing: the check below can tell a warning apart.
    r = must_run([o.workload, "noop"], dict(GOOD, NUMAKEG_FAKE_DOMAINS=str(NDOM)))
    check(numakeg_lines(r.stderr) == [], "good values warn: %r" % numakeg_lines(r.stderr))
    for var, val in BAD:
        env = {"NUMAKEG_FAKE_DOMAINS": str(NDOM)}
        env[var] = val
        r = run([o.workload, "noop"], env)
        msgs = numakeg_lines(r.stderr)
        shown = val if len(val) < 40 else val[:20] + "..."
        if not check(r.returncode == 0, "%s=%s: the program runs on (exit %d: %s)"
                     % (var, shown, r.returncode, r.stderr[-300:])):
            continue
        check(len(msgs) == 1 and var in msgs[0] and "want" in msgs[0],
              "%s=%s: one warning naming it and what it accepts: %r" % (var, shown, msgs))


def placement_of(o, env):
    path = os.path.join(o.dir, "p.json")
    must_run([o.workload, "noop"], dict(env, NUMAKEG_STATS="json", NUMAKEG_STATS_FILE=path,
                                        NUMAKEG_STATS_PLACEMENT="1"))
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def case_placement_fake(o):
    dump = placement_of(o, {"NUMAKEG_FAKE_DOMAINS": str(NDOM)})
    for d in dump["domains"]:
        pl = d["placement"]
        check(pl is not None and pl["applicable"] is False and "fake" in pl["why"],
              "domain %d: not applicable on a fake topology: %r" % (d["domain"], pl))
        check(d["node"] is None, "a fake domain has no kernel node")


def case_placement_real(o):
    dump = placement_of(o, {})
    if dump["fake"]:
        print("SKIP: the topology is fake here")
        sys.exit(SKIP)
    pls = [d["placement"] for d in dump["domains"]]
    if any(not p["applicable"] for p in pls):
        print("SKIP: move_pages cannot be used here: %r" % [p.get("why") for p in pls])
        sys.exit(SKIP)
    for d, p in zip(dump["domains"], pls):
        check(isinstance(d["node"], int), "domain %d names its kernel node" % d["domain"])
    p0 = pls[0]
    check(p0["sampled"] > 0, "pages were sampled on domain 0: %r" % p0)
    # One node: every page is on it.  More: first touch, the calling thread's node.
    want = 1.0 if dump["ndomains"] == 1 else 0.9
    check(p0["share"] is not None and p0["share"] >= want,
          "share on the intended node %r, want >= %s" % (p0["share"], want))


def tool(o, *args):
    return must_run([sys.executable, o.tool] + list(args), {})


def expect(o, name, out):
    path = os.path.join(o.samples, name)
    with open(path, encoding="utf-8") as f:
        want = f.read()
    if not check(out == want, "output differs from %s" % name):
        with open(os.path.join(o.dir, name + ".got"), "w", encoding="utf-8") as f:
            f.write(out)
        print("got (also in %s):\n%s" % (os.path.join(o.dir, name + ".got"), out))


def case_tool_table(o):
    expect(o, "one.expected", tool(o, os.path.join(o.samples, "one.json")).stdout)
    expect(o, "series.expected", tool(o, os.path.join(o.samples, "series.jsonl")).stdout)
    # A dump of the library as built (the samples keep an older schema): the
    # tool reads it, and its zone row says what the JSON says.
    dump = counts_dump(o)
    out = tool(o, os.path.join(o.dir, "dump.json")).stdout
    z = zone_of(dump, ZONE)["total"]
    row = [l.split() for l in out.splitlines() if l.split()[:1] == [ZONE]]
    check(len(row) == 1 and row[0][2:5] == [str(z["used"]), str(z["free"]), str(z["requests"])],
          "numakeg-stat's %s row %r, JSON used %d free %d requests %d" % (
              ZONE, row, z["used"], z["free"], z["requests"]))
    doms = [l.split()[0] for l in out.splitlines()[2:3 + NDOM]]
    check(doms == [str(d) for d in range(NDOM)] + ["total"],
          "numakeg-stat's summary: every domain, then the total: %r" % doms)
    # A series whose last line was cut short (the process died writing it).
    cut = os.path.join(o.dir, "cut.jsonl")
    with open(os.path.join(o.samples, "series.jsonl"), encoding="utf-8") as f:
        text = f.read()
    with open(cut, "w", encoding="utf-8") as f:
        f.write(text[:len(text) - 500])
    r = run([sys.executable, o.tool, cut], {})
    check(r.returncode == 0 and "incomplete last dump" in r.stderr and
          len(re.findall(r"^\d+\.\d+ +(call|signal|exit)", r.stdout, re.M)) == 3,
          "a cut last line is left out with a warning: %r" % r.stderr)
    # Text is refused with a clear message.
    r = run([sys.executable, o.tool, os.path.join(o.samples, "one.expected")], {})
    check(r.returncode != 0 and "NUMAKEG_STATS=json" in r.stderr,
          "a text file is refused: %r" % r.stderr)


def case_tool_diff(o):
    expect(o, "diff.expected", tool(o, "diff", os.path.join(o.samples, "a.json"),
                                    os.path.join(o.samples, "b.json")).stdout)


def png_chunks(data):
    pos, chunks = 8, []
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        chunks.append((kind, body, crc == zlib.crc32(kind + body)))
        pos += 12 + n
    return chunks


def case_tool_png(o):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("SKIP: no matplotlib (Debian: python3-matplotlib, tools/deps.sh test)")
        sys.exit(SKIP)
    out = os.path.join(o.dir, "series.png")
    tool(o, "--png", out, os.path.join(o.samples, "series.jsonl"))
    with open(out, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "the PNG signature")
    chunks = png_chunks(data)
    kinds = [c[0] for c in chunks]
    check(kinds[:1] == [b"IHDR"] and kinds[-1:] == [b"IEND"] and b"IDAT" in kinds,
          "IHDR first, IDAT, IEND last: %r" % kinds[:3])
    check(all(c[2] for c in chunks), "every chunk's CRC")
    if kinds[:1] == [b"IHDR"]:
        w, h = struct.unpack(">II", chunks[0][1][:8])
        check(w >= 600 and h >= 300, "a picture of some size: %dx%d" % (w, h))
    soft = [c[1] for c in chunks if c[0] == b"tEXt" and c[1].startswith(b"Software\0")]
    check(soft and b"matplotlib" in soft[0].lower(), "written by matplotlib: %r" % soft)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--workload", required=True)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--source", required=True, help="the source tree (lib/ is read)")
    o = ap.parse_args()
    shutil.rmtree(o.dir, ignore_errors=True)
    os.makedirs(o.dir)
    globals()["case_" + o.case](o)
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("ok:", o.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
