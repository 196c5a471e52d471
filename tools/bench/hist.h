/* SPDX-License-Identifier: MIT
 *
 * hist.h: a latency histogram with log-linear buckets, in the manner of
 * HdrHistogram: values below 128 ns are exact, above that every power of two is
 * split into 64 equal buckets, so any recorded value is known to within 1/64
 * (1.6 %, 0.8 % on average) from 128 ns up to HIST_MAX_NS (about 18 minutes).
 * Fixed size and plain data, so histograms are merged by adding counts and can be
 * sent whole through a pipe between processes of the same binary.
 */
#ifndef YB_BENCH_HIST_H
#define YB_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7 /* 128 exact buckets, then 64 per power of two */
#define HIST_MAX_BITS 40
#define HIST_MAX_NS   ((UINT64_C(1) << HIST_MAX_BITS) - 1)
#define HIST_BUCKETS                                                                               \
    ((1 << HIST_SUB_BITS) + (HIST_MAX_BITS - HIST_SUB_BITS) * (1 << (HIST_SUB_BITS - 1)))

struct hist {
    uint64_t count;
    uint64_t min_ns, max_ns; /* exact; min_ns is UINT64_MAX while empty */
    uint64_t sum_ns;         /* for the mean */
    uint64_t buckets[HIST_BUCKETS];
};

/* Empties h. */
void hist_init(struct hist *h);
/* Records one value in nanoseconds (values above HIST_MAX_NS count as HIST_MAX_NS). */
void hist_record(struct hist *h, uint64_t ns);
/* Adds every count of src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at percentile p (0-100]: the midpoint of the bucket holding it, clamped
 * to the exact min and max. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
/* The mean in nanoseconds, 0 when empty. */
uint64_t hist_mean(const struct hist *h);

#endif
