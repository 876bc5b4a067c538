# Python workload of the preload test (run with PYTHONMALLOC=malloc so every
# object comes from malloc).  Several threads build and free large dicts,
# lists, strings and bytearrays; objects made by one thread are freed by
# another through a queue.  Prints only deterministic results.
import hashlib
import queue
import sys
import threading
import zlib

NTHREADS = 4
ROUNDS = 3
N = int(sys.argv[1]) if len(sys.argv) > 1 else 60000


def lcg(seed):
    x = seed & 0xFFFFFFFF
    while True:
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        yield x


def work(tid, out, handoff_out, handoff_in):
    rnd = lcg(tid + 1)
    lines = []
    for r in range(ROUNDS):
        d = {}
        for i in range(N):
            k = "k%d-%d-%d" % (tid, r, next(rnd) % (N * 2))
            d[k] = d.get(k, 0) + i
        lst = sorted(d.items())
        total = sum(v for _, v in lst)
        crc = zlib.crc32("".join(k for k, _ in lst[:5000]).encode())
        # Strings of many sizes, joined and split again.
        words = ["w%x" % (next(rnd) % 100000) * (1 + i % 7) for i in range(N // 2)]
        text = " ".join(words)
        back = text.split(" ")
        h = hashlib.sha256(text.encode()).hexdigest()[:16]
        # A growing bytearray (realloc) and a big string.
        ba = bytearray()
        for i in range(2000):
            ba += bytes([i & 0xFF]) * (i % 300)
        big = ("%08d" % r) * 200000
        # Hand a list of fresh objects to the next thread, which frees them.
        handoff_out.put([("obj", tid, i, "s" * (i % 50)) for i in range(N // 4)])
        got = handoff_in.get()
        got_n = len(got)
        del got
        nested = [[j for j in range(i % 40)] for i in range(N // 4)]
        nsum = sum(len(x) for x in nested)
        lines.append("t%d r%d: keys=%d total=%d crc=%08x words=%d split=%d sha=%s ba=%d/%08x big=%d got=%d nested=%d"
                     % (tid, r, len(d), total, crc, len(words), len(back), h,
                        len(ba), zlib.crc32(ba), len(big), got_n, nsum))
        del d, lst, words, text, back, ba, big, nested
    out[tid] = lines


def main():
    queues = [queue.Queue() for _ in range(NTHREADS)]
    out = [None] * NTHREADS
    threads = [threading.Thread(target=work,
                                args=(t, out, queues[(t + 1) % NTHREADS], queues[t]))
               for t in range(NTHREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for lines in out:
        for line in lines:
            print(line)
    # Single-threaded tail: a set, a deep structure, json round trip.
    import json
    s = set(range(0, 300000, 3)) ^ set(range(0, 300000, 5))
    doc = {"k%d" % i: [i, str(i), {"x": i * 2}] for i in range(20000)}
    js = json.dumps(doc, sort_keys=True)
    back = json.loads(js)
    print("set=%d json=%d crc=%08x back=%d" % (len(s), len(js), zlib.crc32(js.encode()), len(back)))
    print("done")


main()
