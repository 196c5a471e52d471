/* SPDX-License-Identifier: MIT
 *
 * procstat.c: reads a process's CPU time and RSS from /proc (proc(5)).
 */
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* utime and stime (fields 14 and 15, in clock ticks). The second field, the command
 * name, may hold spaces and parentheses, so parsing starts after the last ')'. */
static int
read_cpu(pid_t pid, int64_t *cpu_us)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')');
    unsigned long long utime, stime;
    /* After ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15). */
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                            &stime) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        return -1;
    *cpu_us = (int64_t)((utime + stime) * 1000000ull / (unsigned long long)hz);
    return 0;
}

static int
read_rss(pid_t pid, int64_t *rss_kib)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int rc = -1;
    long long kib;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "VmRSS: %lld kB", &kib) == 1) {
            *rss_kib = kib;
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* The sum of the first field (ns on CPU) of every live thread's schedstat. Time of
 * threads that already exited is lost, which the server's long-lived threads never
 * are. */
static int
read_schedstat(pid_t pid, int64_t *cpu_us)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    unsigned long long total = 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char tpath[300];
        snprintf(tpath, sizeof tpath, "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
        FILE *f = fopen(tpath, "r");
        if (f == NULL)
            continue; /* the thread just exited */
        unsigned long long ns;
        if (fscanf(f, "%llu", &ns) == 1) {
            total += ns;
            n++;
        }
        fclose(f);
    }
    closedir(d);
    if (n == 0)
        return -1;
    *cpu_us = (int64_t)(total / 1000);
    return 0;
}

int
procstat_read(pid_t pid, struct procstat *out)
{
    memset(out, 0, sizeof *out);
    if (pid <= 0 || read_rss(pid, &out->rss_kib) != 0)
        return -1;
    if (read_schedstat(pid, &out->cpu_us) != 0) {
        if (read_cpu(pid, &out->cpu_us) != 0)
            return -1;
        out->cpu_is_ticks = true;
    }
    out->valid = true;
    return 0;
}
