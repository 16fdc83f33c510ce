/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recovery at open (store.h S6). Single-threaded: runs before the flusher
 * starts and before the store is handed out.
 *
 *  1. Choose where to start verifying: the checkpoint's commitlog flushed
 *     offset when it lies inside the segments found, else the first segment.
 *  2. Scan forward record by record (size, magic, CRC of everything after the
 *     CRC field, lengths, offset field) until a zero size word, a missing
 *     segment, or the first invalid record: that position is the end.
 *  3. Cut the tail: zero the rest of the segment holding the end (so a later
 *     scan cannot resurrect stale bytes) and delete later segments.
 *  4. Drop consumequeue/index entries past the end, then re-dispatch every
 *     record from the checkpoint's consumequeue/index positions to the end
 *     (both are idempotent for entries that survived).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "broker/store/store_int.h"
#include "common/atomic.h"

/* Index of the last byte != 0 in [from, to) of p, plus 1; 0 if all zero. */
static uint64_t nonzero_extent(const uint8_t *p, uint64_t from, uint64_t to)
{
	uint64_t i = to;
	while (i > from && (i - from) % 8)
		if (p[--i])
			return i + 1;
	while (i >= from + 8) {
		uint64_t w;
		memcpy(&w, p + i - 8, 8);
		if (w) {
			while (!p[i - 1])
				i--;
			return i;
		}
		i -= 8;
	}
	while (i > from)
		if (p[--i])
			return i + 1;
	return 0;
}

static int rebuild(struct shmq_store *s, uint64_t from, uint64_t end, uint64_t ix_max)
{
	shmq_cl_t *cl = s->cl;
	uint64_t pos = from;
	while (pos < end) {
		struct shmq_cl_seg *g = NULL;
		if (shmq_cl_pin(cl, pos, &g) != 0)
			break;
		uint64_t within = pos - g->base;
		struct shmq_store_view v;
		int rc = shmq_cl_decode(g->map + within, g->size - within, pos, true, &v, NULL);
		if (rc == SHMQ_CL_DEC_FILLER) {
			pos = g->base + g->size;
			shmq_cl_unpin(g);
			continue;
		}
		if (rc != SHMQ_CL_DEC_MSG) {
			/* the start position came from a checkpoint we cannot vouch
			 * for beyond its CRC: stop instead of guessing */
			shmq_cl_unpin(g);
			fprintf(stderr, "shmq store: recovery: rebuild stopped at %" PRIu64 ": %s\n",
				pos, shmq_strerror(rc));
			break;
		}
		struct shmq_store_queue *q;
		rc = shmq_store_queue_get(s, v.topic, v.topic_len, v.queue_id, true, &q);
		if (rc == 0) {
			uint64_t max = shmq_cq_max_offset(q->cq);
			struct shmq_cq_entry e = {
				.commitlog_offset = pos,
				.size = v.size,
				.tag_hash = shmq_store_tag_hash(v.tags, v.tags_len),
			};
			if (v.queue_offset > max) {
				fprintf(stderr,
					"shmq store: recovery: %.*s/%" PRIu32 " misses queue offsets %" PRIu64
					"..%" PRIu64 " (consumequeue lost entries below the checkpoint)\n",
					(int)v.topic_len, v.topic, v.queue_id, max, v.queue_offset);
			} else {
				rc = shmq_cq_append(q->cq, v.queue_offset, &e);
				if (rc == 0 && v.queue_offset == max)
					s->report.cq_entries_rebuilt++;
				/* a stored entry that disagrees with the verified
				 * record was torn by the crash: the log wins */
				if (rc == -EINVAL && v.queue_offset < max &&
				    shmq_cq_repair(q->cq, v.queue_offset, &e) == 1)
					s->report.cq_entries_repaired++;
			}
		}
		if (pos >= ix_max) {
			int n = shmq_store_index_keys(s, &v);
			if (n > 0)
				s->report.index_entries_rebuilt += (uint64_t)n;
		}
		pos += v.size;
		shmq_cl_unpin(g);
	}
	return 0;
}

int shmq_store_recover(struct shmq_store *s, const struct shmq_ckpt_state *ck, bool have_ck)
{
	struct shmq_store_recovery_report *r = &s->report;
	shmq_cl_t *cl = s->cl;
	uint64_t ssz = s->o.segment_size;
	r->checkpoint_valid = have_ck;
	r->checkpoint_seq = ck->seq;
	r->checkpoint_offset = ck->cl_flushed;
	r->segments_found = (uint32_t)cl->nsegs;
	r->reason = SHMQ_RECOVERY_CLEAN_END;

	uint64_t end = 0;
	size_t ncontig = 0;
	if (cl->nsegs) {
		ncontig = 1;
		while (ncontig < cl->nsegs &&
		       cl->segs[ncontig]->base == cl->segs[ncontig - 1]->base + ssz)
			ncontig++;
		uint64_t lo = cl->segs[0]->base, hi = cl->segs[ncontig - 1]->base + ssz;
		uint64_t from = lo;
		if (have_ck && ck->cl_flushed >= lo && ck->cl_flushed <= hi &&
		    ck->cl_flushed % SHMQ_CL_ALIGN == 0)
			from = ck->cl_flushed;
		/* A segment file shorter than the checkpoint says was truncated
		 * behind our back: the checkpoint no longer vouches for it, so
		 * verify from that segment's start. */
		for (size_t i = 0; i < ncontig && cl->segs[i]->base < from; i++)
			if (cl->segs[i]->file_size < cl->segs[i]->size &&
			    cl->segs[i]->base + cl->segs[i]->file_size < from) {
				from = cl->segs[i]->base;
				break;
			}
		r->scan_from = from;

		/* step 2: verify forward */
		uint64_t pos = from;
		size_t k = (size_t)((from - lo) / ssz);
		int32_t last_k = -1;
		for (;;) {
			if (k >= ncontig) {
				if (ncontig < cl->nsegs)
					r->reason = SHMQ_RECOVERY_GAP;
				break;
			}
			struct shmq_cl_seg *g = cl->segs[k];
			if ((int32_t)k != last_k) {
				r->segments_scanned++;
				last_k = (int32_t)k;
			}
			uint64_t within = pos - g->base;
			if (within >= g->size) {
				k++;
				continue;
			}
			struct shmq_store_view v;
			int reason = SHMQ_RECOVERY_CLEAN_END;
			int rc = shmq_cl_decode(g->map + within, g->size - within, pos, true, &v,
						&reason);
			if (rc == SHMQ_CL_DEC_MSG) {
				r->records_verified++;
				/* relaxed: single-threaded here */
				atomic_store_explicit(&g->last_store_ts, v.store_ts_ms,
						      memory_order_relaxed);
				pos += v.size;
				continue;
			}
			if (rc == SHMQ_CL_DEC_FILLER) {
				pos += v.size;
				continue;
			}
			if (rc != SHMQ_CL_DEC_END)
				r->reason = reason;
			break;
		}
		end = pos;

		/* step 3: cut the tail */
		size_t c = (size_t)((end - lo) / ssz); /* segment holding the end */
		if (c < ncontig) {
			struct shmq_cl_seg *g = cl->segs[c];
			uint64_t within = end - g->base;
			uint64_t nz = nonzero_extent(g->map, within, g->size);
			if (nz) {
				r->bytes_truncated += nz - within;
				memset(g->map + within, 0, nz - within);
				if (msync(g->map, g->size, MS_SYNC) != 0)
					return -errno;
				if (r->reason == SHMQ_RECOVERY_CLEAN_END)
					r->reason = SHMQ_RECOVERY_ZEROED;
			}
			if (g->file_size < g->size && within <= g->file_size &&
			    (r->reason != SHMQ_RECOVERY_CLEAN_END ||
			     (have_ck && end < ck->cl_flushed)))
				r->reason = SHMQ_RECOVERY_SHORT_FILE;
		}
		for (size_t i = c + 1; i < cl->nsegs; i++)
			r->bytes_truncated += nonzero_extent(cl->segs[i]->map, 0, cl->segs[i]->size);
		uint64_t keep = c < ncontig ? cl->segs[c]->base : end - ssz;
		if (c >= ncontig && c > 0 && end % ssz != 0)
			keep = cl->segs[ncontig - 1]->base;
		r->segments_deleted = (uint32_t)shmq_cl_drop_after(cl, keep);
	} else {
		/* no segment at all: start where the checkpoint says, on a segment boundary */
		end = have_ck ? ck->cl_flushed - ck->cl_flushed % ssz : 0;
		r->scan_from = end;
	}
	r->end_offset = end;
	r->truncate_offset = end;
	int rc = shmq_cl_set_end(cl, end);
	if (rc < 0)
		return rc;

	/* step 4: consumequeue and index */
	pthread_rwlock_rdlock(&s->qlock);
	for (struct shmq_store_queue *q = s->queues; q; q = q->all) {
		int64_t d = shmq_cq_truncate(q->cq, end);
		if (d > 0)
			r->cq_entries_dropped += (uint64_t)d;
	}
	pthread_rwlock_unlock(&s->qlock);
	rc = shmq_index_truncate(s->ix, end);
	if (rc < 0)
		return rc;
	uint64_t min = shmq_cl_min(cl);
	uint64_t from = have_ck ? ck->cq_flushed : min;
	if (have_ck && ck->index_flushed < from)
		from = ck->index_flushed;
	if (have_ck && ck->cl_flushed < from)
		from = ck->cl_flushed;
	if (from < min || from > end)
		from = min;
	if (end > 0 && cl->nsegs) {
		uint64_t ix_max = shmq_index_max_commitlog_offset(s->ix);
		rc = rebuild(s, from, end, ix_max);
		if (rc < 0)
			return rc;
	}
	/* release: pairs with the acquire in maybe_checkpoint() */
	atomic_store_explicit(&s->dispatched, end, memory_order_release);
	return 0;
}

const char *shmq_store_recovery_reason_str(int reason)
{
	switch (reason) {
	case SHMQ_RECOVERY_CLEAN_END: return "clean end (zero size word)";
	case SHMQ_RECOVERY_BAD_SIZE: return "record size out of range";
	case SHMQ_RECOVERY_BAD_MAGIC: return "bad record magic";
	case SHMQ_RECOVERY_BAD_CRC: return "record CRC mismatch";
	case SHMQ_RECOVERY_BAD_FIELDS: return "record fields inconsistent";
	case SHMQ_RECOVERY_SHORT_FILE: return "segment file shorter than segment_size";
	case SHMQ_RECOVERY_GAP: return "missing segment file";
	case SHMQ_RECOVERY_ZEROED: return "zeroed region followed by stale bytes";
	default: return "unknown";
	}
}

void shmq_store_report_print(const struct shmq_store_recovery_report *r, FILE *f)
{
	fprintf(f,
		"shmq store recovery: %s start, checkpoint %s (seq %" PRIu64 ", offset %" PRIu64 ")\n"
		"  scanned from %" PRIu64 ": %" PRIu32 "/%" PRIu32 " segments, %" PRIu64
		" records verified\n"
		"  end %" PRIu64 " (%s); truncated %" PRIu64 " bytes, %" PRIu32 " segments deleted\n"
		"  consumequeue: %" PRIu64 " dropped, %" PRIu64 " rebuilt, %" PRIu64 " repaired; index: %" PRIu64
		" rebuilt; %.3f ms\n",
		r->abnormal ? "abnormal" : "normal", r->checkpoint_valid ? "valid" : "absent",
		r->checkpoint_seq, r->checkpoint_offset, r->scan_from, r->segments_scanned,
		r->segments_found, r->records_verified, r->end_offset,
		shmq_store_recovery_reason_str(r->reason), r->bytes_truncated, r->segments_deleted,
		r->cq_entries_dropped, r->cq_entries_rebuilt, r->cq_entries_repaired,
		r->index_entries_rebuilt,
		(double)r->duration_ns / 1e6);
}
