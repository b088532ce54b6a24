#define _GNU_SOURCE
#include "wharf_system.h"

#if defined(__linux__)
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

int wharf_affinity_cpu_count(void) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    return CPU_COUNT(&set);
#else
    return 0;
#endif
}

int wharf_make_thread_background(void) {
#if defined(__linux__)
    int failure = 0;
    struct sched_param param = { .sched_priority = 0 };
    // pid 0: this thread (Linux schedules threads individually).
    if (sched_setscheduler(0, SCHED_IDLE, &param) != 0) failure = errno;
    // ioprio_set(IOPRIO_WHO_PROCESS, this thread, IOPRIO_CLASS_IDLE << 13): glibc has no wrapper.
    if (syscall(SYS_ioprio_set, 1, 0, 3 << 13) != 0 && failure == 0) failure = errno;
    return failure;
#else
    return 0;
#endif
}

int wharf_write_back(int fd, int64_t offset, int64_t length, int wait) {
#if defined(__linux__)
    unsigned int flags = SYNC_FILE_RANGE_WRITE;
    if (wait) flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
    return sync_file_range(fd, offset, length, flags) == 0 ? 0 : errno;
#else
    (void)fd; (void)offset; (void)length; (void)wait;
    return 0;
#endif
}
