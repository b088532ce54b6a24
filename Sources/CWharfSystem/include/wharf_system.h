#ifndef WHARF_SYSTEM_H
#define WHARF_SYSTEM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#if defined(__x86_64__)
#include <x86intrin.h>
#endif
#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>
#endif

/// Bytes handed out by the allocator (glibc's mallinfo2), or 0 where unknown.
static inline size_t wharf_allocated_bytes(void) {
#if defined(__linux__) && defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
#else
    return 0;
#endif
}

/// CPUs in this process's affinity mask (what taskset allows), or 0 where unknown.
int wharf_affinity_cpu_count(void);

/// A cheap, monotonic tick count for timing commands: the CPU's time-stamp counter on
/// x86-64 (constant-rate on every CPU Wharf targets), nanoseconds of CLOCK_MONOTONIC elsewhere.
static inline uint64_t wharf_ticks(void) {
#if defined(__x86_64__)
    return __rdtsc();
#else
    struct timespec spec;
    clock_gettime(CLOCK_MONOTONIC, &spec);
    return (uint64_t)spec.tv_sec * 1000000000ull + (uint64_t)spec.tv_nsec;
#endif
}

/// Names the calling thread (shown by top -H and in crash reports); at most 15 bytes count.
static inline void wharf_set_thread_name(const char *name) {
#if defined(__linux__)
    prctl(PR_SET_NAME, name, 0, 0, 0);
#else
    (void)name;
#endif
}

#endif
