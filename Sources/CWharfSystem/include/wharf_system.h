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

/// Bytes the allocator really reserved for a block it handed out (glibc's
/// malloc_usable_size), or 0 where unknown.
static inline size_t wharf_usable_size(void *pointer) {
#if defined(__linux__) && defined(__GLIBC__)
    return malloc_usable_size(pointer);
#else
    (void)pointer;
    return 0;
#endif
}

/// Returns freed memory at the top of the heap to the system (glibc's malloc_trim).
static inline int wharf_trim_heap(void) {
#if defined(__linux__) && defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

/// CPUs in this process's affinity mask (what taskset allows), or 0 where unknown.
int wharf_affinity_cpu_count(void);

/// Makes the calling thread yield to every other: lowest CPU priority (SCHED_IDLE) and the
/// idle I/O class, so work done ahead of time runs while the server would otherwise wait.
/// Returns 0, or an errno when either setting was refused (the thread keeps running).
int wharf_make_thread_background(void);

/// Starts writing the file range to disk without waiting (sync_file_range); with `wait`,
/// waits until the range is written first. Returns 0 or an errno; a hint only, never a sync.
int wharf_write_back(int fd, int64_t offset, int64_t length, int wait);

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
