# pydicts.py [SCALE]: the python workload of bench/workloads.sh (run with
# PYTHONMALLOC=malloc so that every object comes from malloc).  Four threads
# each build and free dicts of strings to lists, lists of tuples, sets and
# joined/split strings; every round a thread hands a list of fresh objects
# to the next thread, which frees them (cross-thread frees).  The GIL makes
# the threads take turns, so the allocator sees four interleaved heaps.
# Prints only deterministic results.
import queue
import sys
import threading
import zlib

NTHREADS = 4
ROUNDS = 4
SCALE = int(sys.argv[1]) if len(sys.argv) > 1 else 25000


def lcg(seed):
    x = seed & 0x7FFFFFFF
    while True:
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        yield x >> 8


def work(tid, out, qout, qin):
    rnd = lcg(1000 + tid)
    lines = []
    for r in range(ROUNDS):
        # A dict of str -> list of ints, updated in place.
        d = {}
        for i in range(SCALE):
            k = "key-%d-%s" % (next(rnd) % (SCALE * 2), "z" * (i % 23))
            v = d.get(k)
            if v is None:
                d[k] = [i, r, tid]
            else:
                v.append(i)
        ksum = sum(len(v) for v in d.values())
        # Tuples sorted by a computed key, a set, a dict comprehension.
        tup = sorted(((len(k), k, len(v)) for k, v in d.items()), reverse=True)
        s = {k[: 6 + i % 9] for i, k in enumerate(d)}
        inv = {len(v) * 1000 + i: k for i, (k, v) in enumerate(d.items())}
        # Strings: formatted, joined, split, replaced, encoded.
        words = ["%x.%d" % (next(rnd), i % 97) * (1 + i % 5) for i in range(SCALE)]
        text = " ".join(words)
        back = text.replace(".", ":").split(" ")
        crc = zlib.crc32(text.encode())
        # Grow a list of small lists, then shrink it from the front.
        nest = [[j] * (j % 17) for j in range(SCALE)]
        while len(nest) > SCALE // 4:
            del nest[: SCALE // 8]
        # Objects for the next thread, which frees them.
        qout.put([("t%d" % tid, i, "p" * (i % 64), [i] * (i % 9)) for i in range(SCALE // 2)])
        got = qin.get()
        gsum = sum(o[1] for o in got)
        del got
        lines.append("t%d r%d: keys=%d vals=%d top=%s set=%d inv=%d words=%d split=%d crc=%08x nest=%d got=%d"
                     % (tid, r, len(d), ksum, tup[0][1][:12], len(s), len(inv), len(words),
                        len(back), crc, len(nest), gsum))
        del d, tup, s, inv, words, text, back, nest
    out[tid] = lines


def main():
    qs = [queue.Queue() for _ in range(NTHREADS)]
    out = [None] * NTHREADS
    ts = [threading.Thread(target=work, args=(t, out, qs[(t + 1) % NTHREADS], qs[t]))
          for t in range(NTHREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for lines in out:
        print("\n".join(lines))


main()
