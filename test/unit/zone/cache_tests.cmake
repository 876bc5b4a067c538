# Tests of the caches (lib/pcpu.c per CPU, lib/tcache.c per thread): stress
# with cross-domain frees, migration between domains, fork, thread exit,
# zone limits; rseq preemption and migration, a cpuset change, idle threads.  Plain
# C + pthreads; each program prints what failed and exits non-zero.  They
# link numakeg_noexport (the nk_* API only; malloc stays glibc's) and run
# with 4 fake NUMA domains.  This file is include()d from
# test/unit/zone/CMakeLists.txt.
set(NK_CACHE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
set(NK_CACHE_PROGRAMS stress migration fork thread_exit limit buckets rseq_stress rseq_cpuset
  rseq_capacity rseq_cross idle_threads)

foreach(p IN LISTS NK_CACHE_PROGRAMS)
  add_executable(cache_${p} ${NK_CACHE_DIR}/${p}.c)
  target_link_libraries(cache_${p} PRIVATE numakeg_noexport Threads::Threads)
  # lib/ for the few internals a test looks at (a zone's cache slot id).
  target_include_directories(cache_${p} PRIVATE ${NK_CACHE_DIR} ${PROJECT_SOURCE_DIR}/lib)
endforeach()

function(nk_cache_test name)
  add_test(NAME ${name} COMMAND ${ARGN})
  set_tests_properties(${name} PROPERTIES TIMEOUT 120 LABELS cache
    ENVIRONMENT "NUMAKEG_FAKE_DOMAINS=4" SKIP_RETURN_CODE 77)
endfunction()

foreach(n 2 4 16)
  nk_cache_test(cache_stress_${n} cache_stress ${n})
endforeach()
# The same with inline depot trimming on every slow path (NUMAKEG_TRIM_MS=0):
# working-set trims and bucket-size changes while the threads run.
nk_cache_test(cache_stress_4_trim cache_stress 4)
set_tests_properties(cache_stress_4_trim PROPERTIES
  ENVIRONMENT "NUMAKEG_FAKE_DOMAINS=4;NUMAKEG_TRIM_MS=0")
nk_cache_test(cache_migration   cache_migration)
nk_cache_test(cache_fork        cache_fork)
nk_cache_test(cache_thread_exit cache_thread_exit)
nk_cache_test(cache_limit       cache_limit)
# Bucket sizes and depot bounds that follow the working set (issue 10,
# "Batches"): grown by misses, shrunk by trims, counts exact.  Trims come
# from the test (nk_zone_reclaim), none from the clock.
nk_cache_test(cache_buckets     cache_buckets)
set_tests_properties(cache_buckets PROPERTIES
  ENVIRONMENT "NUMAKEG_FAKE_DOMAINS=4;NUMAKEG_TRIM_MS=1000000")

# The per-CPU caches (lib/pcpu.c): preemption and migration inside the
# sequences, a CPU left by every thread, idle threads' memory.
nk_cache_test(cache_rseq_stress  cache_rseq_stress)
nk_cache_test(cache_rseq_cpuset  cache_rseq_cpuset)
set_tests_properties(cache_rseq_cpuset PROPERTIES
  ENVIRONMENT "NUMAKEG_FAKE_DOMAINS=4;NUMAKEG_TRIM_MS=20")
# Another domain's items freed per CPU go home a bucket at a time.
nk_cache_test(cache_rseq_cross cache_rseq_cross)
set_tests_properties(cache_rseq_cross PROPERTIES
  ENVIRONMENT "NUMAKEG_FAKE_DOMAINS=4;NUMAKEG_TRIM_MS=1000000")
nk_cache_test(cache_idle_threads cache_idle_threads)
# A CPU's array grows on its misses and goes back to its floor on a drain.
nk_cache_test(cache_rseq_capacity cache_rseq_capacity)
set_tests_properties(cache_rseq_capacity PROPERTIES
  ENVIRONMENT "NUMAKEG_FAKE_DOMAINS=4;NUMAKEG_TRIM_MS=1000000")

# The fallbacks: thread caches chosen (NUMAKEG_CACHE=thread) and forced (no
# rseq registered by glibc), for a representative set of the tests above.
foreach(v thread norseq)
  if(v STREQUAL "thread")
    set(_env "NUMAKEG_FAKE_DOMAINS=4;NUMAKEG_CACHE=thread")
  else()
    set(_env "NUMAKEG_FAKE_DOMAINS=4;GLIBC_TUNABLES=glibc.pthread.rseq=0")
  endif()
  foreach(t stress_2 stress_4 stress_16 fork rseq_stress thread_exit idle_threads)
    string(REGEX REPLACE "_[0-9]+$" "" _prog ${t})
    string(REGEX MATCH "[0-9]+$" _arg ${t})
    nk_cache_test(cache_${t}_${v} cache_${_prog} ${_arg})
    set_tests_properties(cache_${t}_${v} PROPERTIES ENVIRONMENT "${_env}")
  endforeach()
endforeach()
