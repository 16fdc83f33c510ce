/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dpdk_net/frame_codec.h
 * @brief Encode and validate frames and message bodies of the shmq network
 *        protocol (dpdk_net/frame_layout.h, docs/protocol.md).
 *
 * Two validators, one per level, each run by both directions (the encoder
 * refuses what the decoder would refuse, so whatever we send decodes):
 *  - frame: shmq_net_frame_decode() checks magic, version (else
 *    -EPROTONOSUPPORT), known type, flags = RESPONSE exactly on response
 *    types, attempt >= 1, session id 0 exactly on HELLO, the fragmentation
 *    rules of frame_layout.h, msg_len <= SHMQ_NET_MSG_MAX, payload_len equal
 *    to the datagram's remaining bytes, and the CRC32C. HELLO and HELLO_ACK
 *    must be one frame.
 *  - body: shmq_net_body_check() checks a whole (reassembled) body against
 *    its type: exact lengths, names (the local protocol's charset and
 *    canonical NUL padding), enums, reserved fields zero, counts within the
 *    limits, entries that tile the body exactly with zero padding, every
 *    ringmsg decodable (common/ringmsg.h) and carrying the batch's producer
 *    id and consecutive sequences, queue offsets strictly increasing, the
 *    invariants stated in the layout comments. ADMIN / ADMIN_RESP: only the
 *    envelope of the control message inside (length bounds, ctl magic,
 *    version, header length, direction flags, never HAS_FD); the receiver
 *    decodes it with shmq_ctl_decode() (common/ctl_codec.h).
 * No function trusts a byte it did not just write; all are reentrant.
 *
 * Bodies are little-endian and the layout structs are their host form on the
 * only byte order we target, so decoding a fixed part is a memcpy into the
 * struct (never a cast of a possibly unaligned pointer).
 */
#ifndef SHMQ_DPDK_NET_FRAME_CODEC_H
#define SHMQ_DPDK_NET_FRAME_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ringmsg.h"
#include "dpdk_net/frame_layout.h"

/** A validated frame: its header (host order) and its payload bytes. */
struct shmq_net_frame {
	struct shmq_net_hdr h;
	const uint8_t *payload; /**< h.payload_len bytes, inside the decoded buffer */
};

/** What identifies a message on the wire (everything but its body). */
struct shmq_net_msginfo {
	uint16_t type;          /**< enum shmq_net_type; flags follow from it */
	uint16_t attempt;       /**< >= 1 */
	uint64_t session_id;    /**< 0 exactly for HELLO */
	uint64_t request_id;
};

/** @brief true for the response types (HELLO_ACK, *_ACK, PULL_RESP, ERROR). */
bool shmq_net_type_is_response(unsigned type);

/** @brief "HELLO", "PRODUCE", ...; "UNKNOWN" for other values. */
const char *shmq_net_type_name(unsigned type);

/**
 * @brief Decode and validate one frame (one UDP payload of exactly @p len
 *        bytes). @p f->payload points into @p buf.
 * @return 0; -EPROTONOSUPPORT (foreign magic or version); -EBADMSG
 *         (anything else malformed, including a CRC mismatch).
 */
int shmq_net_frame_decode(const void *buf, size_t len, struct shmq_net_frame *f);

/**
 * @brief Fragment size to use for frames of at most @p frame_max bytes: the
 *        payload room rounded down to 8 (so fragments stay 8-aligned in the
 *        reassembled body).
 * @return the size, or 0 if @p frame_max is outside
 *         [SHMQ_NET_FRAME_MIN, SHMQ_NET_FRAME_MAX].
 */
uint32_t shmq_net_frag_size(uint32_t frame_max);

/** @brief Fragments of a @p msg_len body cut at @p frag_size (1 for empty);
 *         0 if more than SHMQ_NET_FRAG_COUNT_MAX or @p frag_size is 0 for a
 *         non-empty body. */
uint32_t shmq_net_frag_count(uint32_t msg_len, uint32_t frag_size);

/**
 * @brief Write fragment @p index of the message (@p mi, @p body of
 *        @p body_len bytes) cut at @p frag_size into @p out.
 *
 * Does not re-validate the body (call shmq_net_body_check() once per message
 * before sending its fragments); validates everything the frame validator
 * checks, so the frame decodes.
 * @return the frame's length; -EINVAL (bad type, attempt, session, sizes,
 *         index); -EMSGSIZE (@p cap too small).
 */
int shmq_net_frame_encode(const struct shmq_net_msginfo *mi, const void *body, uint32_t body_len,
			  uint32_t frag_size, uint32_t index, void *out, size_t cap);

/**
 * @brief Validate a whole message body of @p type (the validator described
 *        above; used before sending and after reassembly).
 * @return 0 or -EBADMSG.
 */
int shmq_net_body_check(unsigned type, const void *body, size_t len);

/** Append-only writer of a body into a caller's buffer. */
struct shmq_net_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;                /**< first error (-EMSGSIZE, -EINVAL); later calls do nothing */
};

/** @brief Start writing a body into @p buf of @p cap bytes. */
void shmq_net_builder_init(struct shmq_net_builder *b, void *buf, size_t cap);

/** @brief Append @p n raw bytes (a fixed body part). */
void shmq_net_builder_put(struct shmq_net_builder *b, const void *p, size_t n);

/** @brief Append one entry: encode @p m as a ringmsg with @p queue_offset
 *         (0 in PRODUCE), zero-padded to 8. */
void shmq_net_builder_msg(struct shmq_net_builder *b, uint64_t queue_offset,
			  const struct shmq_ringmsg_in *m);

/** @brief Append one entry holding an already-encoded ringmsg (@p len bytes),
 *         e.g. one copied from a ring or the commitlog for PULL_RESP. */
void shmq_net_builder_raw_msg(struct shmq_net_builder *b, uint64_t queue_offset,
			      const void *ringmsg, uint32_t len);

/** @brief The body length, or the first error. */
int64_t shmq_net_builder_finish(const struct shmq_net_builder *b);

/** Iterator over the entries of a body that passed shmq_net_body_check(). */
struct shmq_net_entry_iter {
	const uint8_t *p;
	const uint8_t *end;
};

/** @brief Position @p it on the first entry of a checked PRODUCE or PULL_RESP
 *         body; copies the fixed header into @p hdr (a
 *         shmq_net_produce_hdr or shmq_net_pull_resp_hdr, @p hdr_len bytes).
 * @return 0, or -EBADMSG if @p len is shorter than @p hdr_len. */
int shmq_net_entries_begin(const void *body, size_t len, void *hdr, size_t hdr_len,
			   struct shmq_net_entry_iter *it);

/**
 * @brief Next entry: its queue offset and a decoded view of its ringmsg (the
 *        view points into the body).
 * @return 1 with an entry; 0 at the end; SHMQ_ECORRUPT if the body was not
 *         checked (never for a checked one).
 */
int shmq_net_entry_next(struct shmq_net_entry_iter *it, uint64_t *queue_offset,
			struct shmq_ringmsg_view *v);

/** @brief Fill an ERROR body (message truncated, non-printable bytes -> '?'). */
void shmq_net_error_init(struct shmq_net_error *e, int status, const char *text);

#endif
