#ifndef WHARF_CRC32C_H
#define WHARF_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (0 to start). Uses the
/// SSE 4.2 instruction where the CPU has it and a table otherwise; both give the same value.
uint32_t wharf_crc32c(uint32_t crc, const void *data, size_t length);
/// The table-driven implementation alone, for checking the two agree.
uint32_t wharf_crc32c_software(uint32_t crc, const void *data, size_t length);

#endif
