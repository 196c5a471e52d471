/* SPDX-License-Identifier: MIT
 *
 * hist.c: the log-linear latency histogram (see hist.h for the bucket layout).
 */
#include "hist.h"

#include <string.h>

#define SUB_COUNT (1u << HIST_SUB_BITS)
#define SUB_HALF  (SUB_COUNT / 2)

void
hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min_ns = UINT64_MAX;
}

/* Bucket of v: v itself below SUB_COUNT; above, the top HIST_SUB_BITS - 1 bits after
 * the leading one select one of SUB_HALF buckets in v's power of two. */
static unsigned
bucket_of(uint64_t v)
{
    if (v < SUB_COUNT)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - (HIST_SUB_BITS - 1);
    unsigned top = (unsigned)(v >> shift); /* in [SUB_HALF, SUB_COUNT) */
    return SUB_COUNT + (shift - 1) * SUB_HALF + (top - SUB_HALF);
}

/* The lowest value of bucket b and its width. */
static void
bucket_range(unsigned b, uint64_t *low, uint64_t *width)
{
    if (b < SUB_COUNT) {
        *low = b;
        *width = 1;
        return;
    }
    unsigned shift = (b - SUB_COUNT) / SUB_HALF + 1;
    uint64_t top = SUB_HALF + (b - SUB_COUNT) % SUB_HALF;
    *low = top << shift;
    *width = UINT64_C(1) << shift;
}

void
hist_record(struct hist *h, uint64_t ns)
{
    if (ns > HIST_MAX_NS)
        ns = HIST_MAX_NS;
    h->buckets[bucket_of(ns)]++;
    h->count++;
    h->sum_ns += ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum_ns += src->sum_ns;
    if (src->min_ns < dst->min_ns)
        dst->min_ns = src->min_ns;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
}

uint64_t
hist_percentile(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    /* The rank of the value, 1-based: p99 of 1000 values is the 990th. */
    double want = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want || rank == 0)
        rank++;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen >= rank) {
            uint64_t low, width;
            bucket_range(b, &low, &width);
            uint64_t v = low + width / 2;
            if (v < h->min_ns)
                v = h->min_ns;
            if (v > h->max_ns)
                v = h->max_ns;
            return v;
        }
    }
    return h->max_ns;
}

uint64_t
hist_mean(const struct hist *h)
{
    return h->count ? h->sum_ns / h->count : 0;
}
