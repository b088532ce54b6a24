#include "wharf_crc32c.h"

#include <string.h>

static uint32_t table[8][256];

static void build_table(void) {
    const uint32_t polynomial = 0x82F63B78u; /* reflected Castagnoli */
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ polynomial : crc >> 1;
        table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = table[0][n];
        for (int k = 1; k < 8; k++) {
            crc = table[0][crc & 0xFF] ^ (crc >> 8);
            table[k][n] = crc;
        }
    }
}

static uint32_t crc32c_software(uint32_t crc, const unsigned char *p, size_t length) {
    crc = ~crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= crc;
        crc = table[7][word & 0xFF] ^ table[6][(word >> 8) & 0xFF] ^ table[5][(word >> 16) & 0xFF] ^
              table[4][(word >> 24) & 0xFF] ^ table[3][(word >> 32) & 0xFF] ^ table[2][(word >> 40) & 0xFF] ^
              table[1][(word >> 48) & 0xFF] ^ table[0][word >> 56];
        p += 8;
        length -= 8;
    }
    while (length--) crc = table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, size_t length) {
    uint64_t value = ~crc & 0xFFFFFFFFu;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        value = _mm_crc32_u64(value, word);
        p += 8;
        length -= 8;
    }
    uint32_t small = (uint32_t)value;
    while (length--) small = _mm_crc32_u8(small, *p++);
    return ~small;
}

static int hardware_state = 0;

/* Both choices are made once, before main, so no thread ever races on them. */
__attribute__((constructor)) static void crc32c_setup(void) {
    build_table();
    __builtin_cpu_init();
    hardware_state = __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

uint32_t wharf_crc32c(uint32_t crc, const void *data, size_t length) {
    return hardware_state ? crc32c_hardware(crc, data, length) : crc32c_software(crc, data, length);
}
#else
__attribute__((constructor)) static void crc32c_setup(void) { build_table(); }

uint32_t wharf_crc32c(uint32_t crc, const void *data, size_t length) {
    return crc32c_software(crc, data, length);
}
#endif

/* Exposed for tests: the table implementation must agree with the hardware one. */
uint32_t wharf_crc32c_software(uint32_t crc, const void *data, size_t length) {
    return crc32c_software(crc, data, length);
}
