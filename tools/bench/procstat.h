/* SPDX-License-Identifier: MIT
 *
 * procstat.h: the server's figures from /proc (Linux): CPU time used and resident
 * memory (VmRSS in /proc/PID/status). Read before and after a measured phase; the
 * differences give CPU per message or per login and memory per session.
 * CPU time is the sum of every thread's /proc/PID/task/TID/schedstat run time
 * (nanoseconds, scheduler-exact); where schedstat is missing, utime + stime from
 * /proc/PID/stat (fields 14 and 15, in clock ticks: 10 ms steps at USER_HZ 100).
 */
#ifndef YB_BENCH_PROCSTAT_H
#define YB_BENCH_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct procstat {
    bool valid;        /* false: no such process, or /proc unreadable */
    int64_t cpu_us;    /* CPU time of all its threads, in microseconds */
    bool cpu_is_ticks; /* cpu_us came from clock ticks (coarse) */
    int64_t rss_kib;
};

/* Reads pid's figures. Returns 0, or -1 (out->valid false). */
int procstat_read(pid_t pid, struct procstat *out);

#endif
