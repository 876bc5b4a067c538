// C++ workload of the preload test: an ordinary program (not linked to
// numakeg) that uses std::vector, std::string, std::map, std::unordered_map,
// std::shared_ptr and several std::threads, and prints deterministic results.
// Objects built by one thread are destroyed by another.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

struct Rng {
	uint64_t x;
	explicit Rng(uint64_t seed) : x(seed * 0x9E3779B97F4A7C15ull + 1) {}
	uint64_t next() {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		return x;
	}
};

uint64_t fnv(const std::string &s, uint64_t h = 1469598103934665603ull) {
	for (unsigned char c : s) {
		h ^= c;
		h *= 1099511628211ull;
	}
	return h;
}

// A queue that hands batches of objects from one thread to another.
template <class T> class Handoff {
	std::mutex m;
	std::condition_variable cv;
	std::deque<T> q;
public:
	void put(T v) {
		std::lock_guard<std::mutex> g(m);
		q.push_back(std::move(v));
		cv.notify_one();
	}
	T get() {
		std::unique_lock<std::mutex> g(m);
		cv.wait(g, [this] { return !q.empty(); });
		T v = std::move(q.front());
		q.pop_front();
		return v;
	}
};

using Batch = std::unique_ptr<std::vector<std::string>>;

struct Node {
	int id;
	std::string name;
	std::vector<std::shared_ptr<Node>> kids;
};

std::string work(int tid, int n, int rounds, Handoff<Batch> &out, Handoff<Batch> &in) {
	Rng rng(tid + 1);
	std::ostringstream res;
	for (int r = 0; r < rounds; r++) {
		std::unordered_map<std::string, uint64_t> um;
		std::map<uint64_t, std::string> om;
		std::vector<std::string> vs;
		for (int i = 0; i < n; i++) {
			uint64_t v = rng.next();
			std::string k = "k" + std::to_string(v % (uint64_t)(n * 2)) + "-" + std::string(v % 37, 'x');
			um[k] += v % 1000;
			om.emplace(v % 1000003, k);
			vs.push_back(std::move(k));
		}
		std::sort(vs.begin(), vs.end());
		vs.erase(std::unique(vs.begin(), vs.end()), vs.end());
		uint64_t h = 0, sum = 0;
		for (const auto &s : vs)
			h = fnv(s, h);
		for (const auto &kv : um)
			sum += kv.second * (kv.first.size() + 1);
		uint64_t oh = 0;
		for (const auto &kv : om)
			oh = fnv(kv.second, oh ^ kv.first);

		// A growing string and vector (reallocation), a list, a set.
		std::string big;
		for (int i = 0; i < n; i++)
			big += std::to_string(i * 7 + r);
		std::vector<uint32_t> grow;
		for (int i = 0; i < n * 4; i++)
			grow.push_back((uint32_t)(rng.next() & 0xffff));
		std::list<std::string> lst(vs.begin(), vs.begin() + std::min<size_t>(vs.size(), 5000));
		lst.sort([](const std::string &a, const std::string &b) { return a.size() != b.size() ? a.size() < b.size() : a < b; });
		std::set<uint32_t> st(grow.begin(), grow.end());

		// A tree of shared_ptr nodes.
		auto root = std::make_shared<Node>(Node{0, "root", {}});
		std::vector<std::shared_ptr<Node>> all{root};
		for (int i = 1; i < n / 4; i++) {
			auto nd = std::make_shared<Node>(Node{i, "node" + std::to_string(i), {}});
			all[rng.next() % all.size()]->kids.push_back(nd);
			all.push_back(nd);
		}
		size_t names = 0;
		for (const auto &nd : all)
			names += nd->name.size() + nd->kids.size();
		all.clear();

		// Hand a batch to the next thread; free the one from the previous.
		auto batch = std::make_unique<std::vector<std::string>>();
		for (int i = 0; i < n / 2; i++)
			batch->push_back(std::string(1 + i % 200, (char)('a' + (tid + i) % 26)));
		out.put(std::move(batch));
		Batch got = in.get();
		size_t got_bytes = 0;
		for (const auto &s : *got)
			got_bytes += s.size();
		got.reset();

		res << "t" << tid << " r" << r << ": um=" << um.size() << " om=" << om.size()
		    << " uniq=" << vs.size() << std::hex << " h=" << h << " sum=" << sum << " oh=" << oh
		    << std::dec << " big=" << big.size() << " set=" << st.size() << " list=" << lst.front()
		    << "/" << lst.back() << " tree=" << names << " got=" << got_bytes << "\n";
	}
	return res.str();
}

} // namespace

int main(int argc, char **argv) {
	int nthreads = argc > 1 ? std::atoi(argv[1]) : 4;
	int n = argc > 2 ? std::atoi(argv[2]) : 50000;
	int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
	if (nthreads < 1 || n < 10 || rounds < 1) {
		std::fprintf(stderr, "usage: %s [THREADS [N [ROUNDS]]]\n", argv[0]);
		return 2;
	}
	std::vector<Handoff<Batch>> queues(nthreads);
	std::vector<std::string> results(nthreads);
	std::vector<std::thread> threads;
	for (int t = 0; t < nthreads; t++)
		threads.emplace_back([&, t] {
			results[t] = work(t, n, rounds, queues[(t + 1) % nthreads], queues[t]);
		});
	for (auto &th : threads)
		th.join();
	for (const auto &s : results)
		std::fputs(s.c_str(), stdout);

	// Short-lived threads, each allocating and exiting (thread-cache teardown).
	uint64_t total = 0;
	std::mutex tm;
	for (int wave = 0; wave < 8; wave++) {
		std::vector<std::thread> ws;
		for (int t = 0; t < nthreads; t++)
			ws.emplace_back([&, t, wave] {
				std::vector<std::string> v;
				for (int i = 0; i < 2000; i++)
					v.push_back(std::to_string(i * (t + 1) * (wave + 1)));
				uint64_t h = 0;
				for (const auto &s : v)
					h = fnv(s, h);
				std::lock_guard<std::mutex> g(tm);
				total ^= h;
			});
		for (auto &th : ws)
			th.join();
	}
	std::printf("waves: %016llx\ndone\n", (unsigned long long)total);
	return 0;
}
