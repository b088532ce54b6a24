#ifndef WHARF_SYSTEM_H
#define WHARF_SYSTEM_H

#include <stddef.h>
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

#endif
