// gbench_c: the C interface of gbench_c.h over Google Benchmark.
#include "gbench_c.h"

#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

// One per benchmark thread: the C function sees only this opaque pointer.
struct nk_bench_state {
	benchmark::State *st;
	void *arg;
	bool started;           // the first keep_running call has been made
	struct rusage ru0;      // at that first call
	double sys_ns, minflt;  // from the first to the last call
};

namespace {

struct Result {
	struct nk_bench_result r;  // "struct": the function of that name hides the type
	bool median;  // from the "median" aggregate, not a single run
};

// Results by (name, threads), filled by the reporter below.
std::map<std::pair<std::string, int>, Result> results;

double tv_ns(const struct timeval &tv)
{
	return (double)tv.tv_sec * 1e9 + (double)tv.tv_usec * 1e3;
}

// Called when the timed loop ends: what the kernel spent for this thread
// (page faults, madvise, mmap) between the first and the last keep_running.
void finish(nk_bench_state *s)
{
	struct rusage ru1;
	if (!s->started)
		return;
	getrusage(RUSAGE_THREAD, &ru1);
	s->sys_ns = tv_ns(ru1.ru_stime) - tv_ns(s->ru0.ru_stime);
	s->minflt = (double)(ru1.ru_minflt - s->ru0.ru_minflt);
}

void start(nk_bench_state *s)
{
	s->started = true;
	getrusage(RUSAGE_THREAD, &s->ru0);
}

// A reporter that forwards everything to the usual one (console or JSON,
// as --benchmark_format says) and keeps each benchmark's median for
// nk_bench_result().  Forwarding rather than subclassing ConsoleReporter
// keeps --benchmark_format working.
class Collector : public benchmark::BenchmarkReporter {
public:
	explicit Collector(benchmark::BenchmarkReporter *inner) : inner_(inner) {}

	bool ReportContext(const Context &context) override
	{
		return inner_->ReportContext(context);
	}

	void ReportRuns(const std::vector<Run> &runs) override
	{
		for (const Run &run : runs) {
			if (run.error_occurred)
				continue;
			bool median = run.run_type == Run::RT_Aggregate;
			if (median && run.aggregate_name != "median")
				continue;
			auto key = std::make_pair(run.run_name.function_name, (int)run.threads);
			auto it = results.find(key);
			// A median beats a single run; a later single run (with
			// --benchmark_repetitions=1 there is only one) replaces the earlier.
			if (it != results.end() && it->second.median && !median)
				continue;
			// The adjusted times are in run.time_unit; the multiplier
			// converts seconds to that unit.
			double to_ns = 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
			Result res;
			res.median = median;
			res.r.real_ns = run.GetAdjustedRealTime() * to_ns;
			res.r.cpu_ns = run.GetAdjustedCPUTime() * to_ns;
			res.r.sys_ns = counter(run, "sys_ns");
			res.r.minflt = counter(run, "minflt");
			results[key] = res;
		}
		inner_->ReportRuns(runs);
	}

	void Finalize() override { inner_->Finalize(); }

private:
	static double counter(const Run &run, const char *name)
	{
		auto it = run.counters.find(name);
		return it == run.counters.end() ? 0.0 : it->second.value;
	}

	benchmark::BenchmarkReporter *inner_;
};

// The display reporter --benchmark_format asks for (Google Benchmark makes
// its own only when it is given none).  CSV, deprecated upstream, is not
// offered: console is used instead.
std::unique_ptr<benchmark::BenchmarkReporter> make_display(const std::vector<char *> &args)
{
	std::string format = "console";
	bool color = isatty(STDOUT_FILENO);
	for (char *a : args) {
		if (!a)
			continue;
		if (std::strncmp(a, "--benchmark_format=", 19) == 0)
			format = a + 19;
		else if (std::strcmp(a, "--benchmark_color=false") == 0 ||
		         std::strcmp(a, "--benchmark_color=no") == 0)
			color = false;
	}
	if (format == "json")
		return std::unique_ptr<benchmark::BenchmarkReporter>(new benchmark::JSONReporter);
	// Tabular: the sys_ns and minflt counters line up as columns.
	return std::unique_ptr<benchmark::BenchmarkReporter>(new benchmark::ConsoleReporter(
		color ? benchmark::ConsoleReporter::OO_ColorTabular : benchmark::ConsoleReporter::OO_Tabular));
}

}  // namespace

extern "C" {

void nk_bench_register(const char *name, nk_bench_fn fn, void *arg, int threads)
{
	benchmark::RegisterBenchmark(name, [fn, arg](benchmark::State &st) {
		nk_bench_state s{};
		s.st = &st;
		s.arg = arg;
		fn(&s);
		if (!s.started)  // skipped with an error, or never looped
			return;
		// Summed over the threads, then divided by all their iterations:
		// per-iteration kernel time and page faults, like the CPU time.
		st.counters["sys_ns"] = benchmark::Counter(s.sys_ns, benchmark::Counter::kAvgIterations);
		st.counters["minflt"] = benchmark::Counter(s.minflt, benchmark::Counter::kAvgIterations);
	})
		->Threads(threads);
}

int nk_bench_keep_running(nk_bench_state *s)
{
	if (s->st->KeepRunning()) {
		// The timer starts inside the first KeepRunning(); the rusage
		// snapshot follows it so that set-up is not counted.
		if (__builtin_expect(!s->started, 0))
			start(s);
		return 1;
	}
	finish(s);
	return 0;
}

int nk_bench_keep_running_batch(nk_bench_state *s, size_t n)
{
	if (s->st->KeepRunningBatch((benchmark::IterationCount)n)) {
		if (__builtin_expect(!s->started, 0))
			start(s);
		return 1;
	}
	finish(s);
	return 0;
}

void *nk_bench_arg(nk_bench_state *s) { return s->arg; }
int nk_bench_thread_index(nk_bench_state *s) { return s->st->thread_index(); }
int nk_bench_threads(nk_bench_state *s) { return s->st->threads(); }
void nk_bench_skip_with_error(nk_bench_state *s, const char *msg) { s->st->SkipWithError(msg); }

long nk_bench_run(int argc, char **argv)
{
	// Defaults, each used only when the user's arguments lack that option.
	// Medians of 5 repetitions resist the odd slow run (page-fault storms,
	// the other core busy); random interleaving alternates the
	// repetitions of the different benchmarks (so, of the allocators)
	// instead of running all of one, then the next; 0.2 s per repetition
	// keeps a full nk_bench run to a minute or so.
	static char d_reps[] = "--benchmark_repetitions=5";
	static char d_aggr[] = "--benchmark_report_aggregates_only=true";
	static char d_inter[] = "--benchmark_enable_random_interleaving=true";
	static char d_min[] = "--benchmark_min_time=0.2";
	char *defaults[] = { d_reps, d_aggr, d_inter, d_min };
	std::vector<char *> args(argv, argv + argc);
	for (char *d : defaults) {
		size_t len = std::strchr(d, '=') - d;
		bool given = false;
		for (int i = 1; i < argc; i++)
			if (std::strncmp(argv[i], d, len) == 0 && (argv[i][len] == '=' || argv[i][len] == 0))
				given = true;
		if (!given)
			args.insert(args.begin() + 1, d);
	}
	args.push_back(nullptr);
	int n = (int)args.size() - 1;

	auto display = make_display(args);
	benchmark::Initialize(&n, args.data());
	if (benchmark::ReportUnrecognizedArguments(n, args.data()))
		return -1;
	Collector collector(display.get());
	size_t count = benchmark::RunSpecifiedBenchmarks(&collector);
	benchmark::Shutdown();
	return (long)count;
}

int nk_bench_result(const char *name, int threads, struct nk_bench_result *out)
{
	auto it = results.find(std::make_pair(std::string(name), threads));
	if (it == results.end())
		return 0;
	*out = it->second.r;
	return 1;
}

}  // extern "C"
