# pyobjects.py [SCALE]: the python workload of bench/small_blocks.sh (issue
# 10: "python3 script, PYTHONMALLOC=malloc (dicts, lists, strings, gc)").
# Run it with PYTHONMALLOC=malloc so that every object comes from malloc.
# One thread, as an interpreter's heap is usually used: each round builds
# a table of records (dicts of strings and ints), indexes and groups them in
# dicts of lists, formats, joins and splits strings, builds a tree of
# objects with parent links (reference cycles, so the cyclic garbage
# collector frees them, with automatic collections on and an explicit
# gc.collect() per round), walks the structures it built, and drops most of
# it.  A few percent of each round's objects survive to the end, so that
# the heap ages as a long-running program's does.  About 4 s under glibc
# at the default SCALE on the development machine.  Prints only
# deterministic results (bench/alloc_compare.sh checks that every
# allocator's output is the same).
import gc
import sys
import zlib

SCALE = int(sys.argv[1]) if len(sys.argv) > 1 else 30000
ROUNDS = 6


def lcg(seed):
    x = seed & 0x7FFFFFFF
    while True:
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        yield x >> 8


class Node:
    __slots__ = ("parent", "children", "name", "weight")

    def __init__(self, parent, name, weight):
        self.parent = parent
        self.children = []
        self.name = name
        self.weight = weight


def build_tree(rnd, count):
    root = Node(None, "root", 0)
    nodes = [root]
    for i in range(1, count):
        parent = nodes[next(rnd) % len(nodes)]
        child = Node(parent, "n%d" % i, next(rnd) % 1000)
        parent.children.append(child)
        nodes.append(child)
    return root


def tree_weight(root):
    total, depth_sum, stack = 0, 0, [(root, 0)]
    while stack:
        node, depth = stack.pop()
        total += node.weight
        depth_sum += depth
        stack.extend((c, depth + 1) for c in node.children)
    return total, depth_sum


def one_round(r, rnd, survivors):
    # Records: dicts of strings and ints.
    records = []
    for i in range(SCALE):
        k = next(rnd)
        records.append({"id": i, "name": "user%06d" % (k % 100000), "score": k % 977,
                        "tags": ["t%d" % (k % 13), "g%d" % (k % 7)]})
    # Index and group them: dicts of lists.
    by_name = {}
    by_tag = {}
    for rec in records:
        by_name.setdefault(rec["name"], []).append(rec)
        for t in rec["tags"]:
            by_tag.setdefault(t, []).append(rec["id"])
    top = sorted(by_name.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:50]
    # Strings: formatted, joined, split, replaced, encoded.
    lines = ["%s,%d,%s" % (rec["name"], rec["score"], "|".join(rec["tags"])) for rec in records]
    text = "\n".join(lines)
    fields = [ln.split(",") for ln in text.replace("|", ";").split("\n")]
    crc = zlib.crc32(text.encode())
    # Objects in reference cycles: only the cyclic collector frees them.
    tree = build_tree(rnd, SCALE // 2)
    weight, depth = tree_weight(tree)
    # A list of small lists, shrunk from the front, as a work queue.
    queue = [[j, j * r] for j in range(SCALE)]
    qsum = 0
    while len(queue) > SCALE // 8:
        qsum += queue.pop(0)[0] if len(queue) % 64 == 0 else queue.pop()[1]
    # Some objects live on.
    survivors.extend(records[:: 40])
    survivors.extend(fields[:: 80])
    result = (len(by_name), len(by_tag), top[0][0], len(top[0][1]), crc, weight, depth, qsum,
              sum(len(f) for f in fields))
    del records, by_name, by_tag, top, lines, text, fields, tree, queue
    collected = gc.collect()
    return result, collected > 0


def main():
    rnd = lcg(12345)
    survivors = []
    check = 0
    for r in range(ROUNDS):
        result, freed_cycles = one_round(r, rnd, survivors)
        print("round %d: %s, cycles collected: %s" % (r, result, freed_cycles))
        check = zlib.crc32(repr(result).encode(), check)
    kept = sum(rec["score"] for rec in survivors if isinstance(rec, dict))
    print("survivors %d, score %d, check %08x" % (len(survivors), kept, check))


main()
