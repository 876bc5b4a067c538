// alloc_mix.cpp: the C++ workload of bench/workloads.sh, compiled at run
// time with the system's g++ and NOT linked to numakeg (it runs under
// whichever malloc is preloaded; new/delete reach it through malloc).
//
//   alloc_mix [THREADS [ROUNDS [ENTRIES]]]
//
// Each thread, every round, builds a std::map<std::string, std::vector<int>>
// of ENTRIES keys (strings of 4-70 bytes, short ones in the string's own
// buffer, longer ones on the heap; vectors grown by push_back, mostly small,
// some of 4-80 KiB, a few of 256 KiB-1 MiB), erases and reinserts a third of
// it, builds a std::unordered_map<std::string, std::string> index of it and
// a std::list of shared strings, then hands the map to the next thread,
// which destroys it (cross-thread frees).  Deterministic: an own PRNG, and
// only checksums that do not depend on the scheduling are printed.
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

struct Rng {
	uint64_t s;
	explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
	uint64_t next()
	{
		// splitmix64
		uint64_t z = (s += 0x9E3779B97F4A7C15ull);
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
		return z ^ (z >> 31);
	}
	size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

using Map = std::map<std::string, std::vector<int>>;

// A one-slot mailbox per thread: thread t posts to box (t + 1) % n.
struct Box {
	std::mutex m;
	std::condition_variable cv;
	std::unique_ptr<Map> item;
};

std::string make_key(Rng &r, size_t i)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t len = 4 + r.below(r.below(4) == 0 ? 67 : 12);
	std::string k;
	for (size_t j = 0; j < len; j++)
		k.push_back(alpha[r.below(sizeof alpha - 1)]);
	k += std::to_string(i);
	return k;
}

size_t vec_len(Rng &r)
{
	size_t c = r.below(1000);
	if (c < 2)
		return 65536 + r.below(196608); // 256 KiB - 1 MiB of ints
	if (c < 40)
		return 1024 + r.below(19456); // 4 - 80 KiB
	return r.below(48);
}

void fill(Rng &r, std::vector<int> &v, size_t n)
{
	for (size_t j = 0; j < n; j++)
		v.push_back(static_cast<int>(r.below(1u << 20)));
}

uint64_t checksum(const Map &m)
{
	uint64_t h = 1469598103934665603ull;
	for (const auto &kv : m) {
		for (unsigned char c : kv.first)
			h = (h ^ c) * 1099511628211ull;
		h = (h ^ kv.second.size()) * 1099511628211ull;
		if (!kv.second.empty())
			h = (h ^ static_cast<uint64_t>(kv.second.back())) * 1099511628211ull;
	}
	return h;
}

void worker(int t, int nthreads, int rounds, size_t entries, std::vector<Box> &boxes,
    std::vector<std::string> &report)
{
	Rng r(static_cast<uint64_t>(t) + 17);
	char line[256];
	for (int round = 0; round < rounds; round++) {
		auto m = std::make_unique<Map>();
		for (size_t i = 0; i < entries; i++)
			fill(r, (*m)[make_key(r, i)], vec_len(r));
		// Erase about a third, then insert as many new keys.
		size_t erased = 0;
		for (auto it = m->begin(); it != m->end();) {
			if (r.below(3) == 0) {
				it = m->erase(it);
				erased++;
			} else {
				++it;
			}
		}
		for (size_t i = 0; i < erased; i++)
			fill(r, (*m)[make_key(r, entries + i)], vec_len(r));
		// A hash index: key -> a string made from the vector.
		std::unordered_map<std::string, std::string> idx;
		idx.reserve(m->size() / 2);
		for (const auto &kv : *m)
			if (kv.second.size() % 2 == 0)
				idx.emplace(kv.first, std::string(kv.second.size() % 200, 'v') + kv.first);
		// A list of shared strings, half of it dropped from the middle.
		std::list<std::shared_ptr<std::string>> lst;
		for (const auto &kv : idx)
			lst.push_back(std::make_shared<std::string>(kv.second));
		size_t n = 0, lsum = 0;
		for (auto it = lst.begin(); it != lst.end(); n++) {
			if (n % 2)
				it = lst.erase(it);
			else
				lsum += (*it++)->size();
		}
		uint64_t sum = checksum(*m);
		std::snprintf(line, sizeof line,
		    "thread %d round %d: entries %zu erased %zu index %zu list %zu/%zu sum %016llx\n",
		    t, round, m->size(), erased, idx.size(), lst.size(), lsum,
		    static_cast<unsigned long long>(sum));
		report[static_cast<size_t>(t)] += line;
		// Hand the map to the next thread; destroy the one handed to us.
		if (nthreads > 1) {
			Box &out = boxes[static_cast<size_t>((t + 1) % nthreads)];
			{
				std::unique_lock<std::mutex> lk(out.m);
				out.cv.wait(lk, [&] { return !out.item; });
				out.item = std::move(m);
			}
			out.cv.notify_all();
			Box &in = boxes[static_cast<size_t>(t)];
			std::unique_ptr<Map> got;
			{
				std::unique_lock<std::mutex> lk(in.m);
				in.cv.wait(lk, [&] { return in.item != nullptr; });
				got = std::move(in.item);
			}
			in.cv.notify_all();
			got.reset(); // frees what another thread allocated
		}
	}
}

} // namespace

int main(int argc, char **argv)
{
	int nthreads = argc > 1 ? std::atoi(argv[1]) : 2;
	int rounds = argc > 2 ? std::atoi(argv[2]) : 10;
	size_t entries = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 40000;
	if (nthreads < 1 || rounds < 1 || entries < 1) {
		std::fprintf(stderr, "usage: %s [THREADS [ROUNDS [ENTRIES]]]\n", argv[0]);
		return 2;
	}
	std::vector<Box> boxes(static_cast<size_t>(nthreads));
	std::vector<std::string> report(static_cast<size_t>(nthreads));
	std::vector<std::thread> th;
	for (int t = 0; t < nthreads; t++)
		th.emplace_back(worker, t, nthreads, rounds, entries, std::ref(boxes), std::ref(report));
	for (auto &x : th)
		x.join();
	for (const auto &s : report)
		std::fputs(s.c_str(), stdout);
	return 0;
}
