/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SHMQ_COMMON_CRC32C_H
#define SHMQ_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * CRC32C (Castagnoli), computed with the CPU's CRC instruction (SSE4.2 on
 * x86-64, ARMv8 CRC on aarch64). shmq_crc32c(0, buf, len) starts a new CRC;
 * passing a previous result continues it over more bytes.
 */
uint32_t shmq_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
