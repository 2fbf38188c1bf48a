/* crc32c.h -- CRC-32C (Castagnoli), the checksum of plaintext footers.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it, a table
 * otherwise; both give the same values (tested against RFC 3720 vectors). */
#ifndef BUCKETFS_UTIL_CRC32C_H
#define BUCKETFS_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c(0, p, n) starts a checksum; pass the previous result to extend it. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);
/* The table version, always; tests compare it with crc32c(). */
uint32_t crc32c_portable(uint32_t crc, const void *p, size_t n);

#endif
