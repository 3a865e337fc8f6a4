/* CRC-32C (Castagnoli), the checksum of every disk queue record: it catches torn and flipped
 * bytes far better than a sum, and the same polynomial as iSCSI, ext4 and Vector's records. */
#ifndef EVENT_ROUTER_CRC32C_H
#define EVENT_ROUTER_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over bytes; start with crc 0. */
uint32_t crc32c_update(uint32_t crc, const void *bytes, size_t len);

#endif
