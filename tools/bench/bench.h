/* SPDX-License-Identifier: MIT
 *
 * bench.h: yerba-bench's options, its results and the functions between them: a
 * worker runs one scenario with its share of the clients on one event loop
 * (run.c); results of several workers merge by adding counts and histograms; the
 * report prints them (report.c). Results are plain data so that a forked worker
 * can hand them to its parent through a pipe.
 */
#ifndef YB_BENCH_BENCH_H
#define YB_BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "client.h"
#include "hist.h"
#include "procstat.h"

#define BENCH_MAX_SOURCES 64
#define BENCH_MAX_STEPS   24
/* Phase boundaries where server figures are read: 0 before the logins, 1 when all
 * logins have finished, 2 at the end of the measured phase. */
#define BENCH_MARKS 3

enum bench_scenario {
    SCENARIO_IDLE,
    SCENARIO_CHAT,
    SCENARIO_LOGIN,
    SCENARIO_CHURN,
    SCENARIO_HALFOPEN,    /* logins quiet, then again with attackers connected (side.c) */
    SCENARIO_ROSTERCHURN, /* contacts online; one big-roster account cycles (side.c) */
    SCENARIO_SLOWREADER,  /* contacts send a burst to an account that does not read */
};

#define SIDE_MAX_CYCLES 1000

/* What the side process (side.c) measured: attackers, the flooder, the roster
 * account's cycles, the slow reader. Plain data, written through a socketpair. */
struct side_result {
    uint32_t magic;
    /* halfopen */
    uint64_t att_attempts, att_connected, att_connect_failed;
    uint64_t att_refused;   /* closed by the server within 2 s of the connect */
    uint64_t att_timed_out; /* closed by the server later (auth_timeout) */
    uint64_t att_open_max, att_open_end, att_bytes;
    /* flooder */
    uint64_t fl_logins, fl_sent, fl_cutoffs, fl_echoes;
    uint64_t fl_login_failures; /* logins again refused (e.g. connections_per_minute) */
    uint64_t fl_first_sent;     /* stanzas sent before the first cut-off */
    double fl_first_cut_s;      /* seconds from going online to the first cut-off */
    char fl_first_error[64];    /* "stream policy-violation" */
    /* rosterchurn */
    unsigned cycles, cycles_failed;
    uint64_t presences_last;          /* available presences received in the last cycle */
    int64_t rss_kib[SIDE_MAX_CYCLES]; /* server RSS after each cycle's logout */
    double cycle_ms_max;
    /* slowreader */
    uint64_t sr_received;             /* burst messages the victim got before the end */
    char sr_end[64];                  /* how its stream ended */
    bool sr_disconnected;             /* the server closed it */
    uint64_t sr_sent, sr_send_errors; /* burst messages the contacts sent (run.c) */
    /* server RSS (run.c): before the victim logged in, peak during the burst, after */
    int64_t sr_rss_before_kib, sr_rss_peak_kib, sr_rss_after_kib;
};
#define SIDE_RESULT_MAGIC 0x79626e73u

struct bench_options {
    const char *host; /* numeric server address */
    int port;
    const char *domain;
    bool direct_tls;
    const char *users; /* account names are <users><n>, n from 1 */
    const char *password;
    const char *resource;
    enum client_sasl sasl;
    const char *sources[BENCH_MAX_SOURCES]; /* local addresses, round-robin */
    int n_sources;
    double ramp;       /* new connections per second, 0: no limit */
    int inflight;      /* logins in progress at most */
    int clients;       /* this worker's (or the whole run's) client count */
    int offset;        /* index of the first user, 0-based (user<offset+1>) */
    double duration_s; /* idle hold, chat sending, churn */
    double rate;       /* chat messages per second (this worker's share in a worker) */
    enum bench_scenario scenario;
    pid_t server_pid; /* 0: no server figures */
    bool json;
    bool step;            /* chat step mode */
    double step_s;        /* step mode: seconds of sending per step */
    double step_factor;   /* step mode: rate multiplier per step */
    double step_p99_ms;   /* step mode: a step is good with p99 at or below this */
    double step_max_rate; /* step mode: no step above this rate; 0: no limit */
    double drain_s;       /* chat: longest wait for messages after sending stops */
    double churn_per_s;   /* churn: fraction of the sessions cycled per second */
    double login_timeout_s;
    double fail_pct; /* exit 1 when failures exceed this percentage of clients */
    bool roster;     /* roster get during login */
    int procs;

    /* halfopen (side.c) */
    int attackers;       /* idle connections held during the second pass */
    int attack_sources;  /* source addresses 127.1.0.1, 127.1.0.2, ... */
    int attack_first;    /* ... starting at the (attack_first+1)-th of them */
    bool attack_trickle; /* send a stream header one byte at a time */
    double trickle_s;    /* seconds between two bytes */
    double reconnect_s;  /* reconnect a closed attacker after this; 0: never */
    double settle_s;     /* wait after the attackers connected, before the logins */
    /* chat --flooder: one more client (user<clients+offset+1>) floods during the
     * second of two chat passes */
    bool flooder;
    bool flood_once; /* the flooder does not log in again after its cut-off */
    /* rosterchurn / slowreader: the special account's index (its user number) */
    int special_user;
    int cycles;      /* rosterchurn: log-in/log-out cycles */
    double online_s; /* rosterchurn: seconds online per cycle */
    int burst_kib;   /* slowreader: bytes sent to the victim, in KiB */
    int msg_bytes;   /* slowreader: body size of a burst message */
    /* run.c talks to the side process through side_fd (-1: none) */
    int side_fd;
    struct side_result *side;
};

struct bench_mark {
    uint64_t t_ns; /* CLOCK_MONOTONIC */
    struct procstat server;
};

/* One step of chat step mode (or the single chat phase). */
struct bench_step {
    double rate;       /* the rate asked for */
    double secs;       /* seconds of sending */
    uint64_t sent;     /* messages sent in the step */
    uint64_t received; /* of those, received before the drain ended */
    uint64_t dropped;  /* sessions lost during the step */
    bool saturated;    /* the generator sent less than 98 % of what the rate asked */
    struct procstat server_start, server_end; /* read by the worker itself */
    struct procstat gen_start;                /* this worker's own figures at the start */
    int64_t gen_cpu_us; /* the generator's CPU during the step and its drain, all workers */
    double gen_secs;    /* how long that was (the longest worker's) */
    struct hist lat;
};

struct bench_result {
    uint32_t magic; /* BENCH_RESULT_MAGIC: a worker finished and wrote this */
    int workers;
    uint64_t clients;
    uint64_t logins_ok, logins_failed, login_timeouts;
    uint64_t first_logins_ok;        /* logins_ok before mark 1 (not churn's) */
    uint64_t fails[CLIENT_N_ERRORS]; /* failed logins by cause */
    uint64_t online;                 /* sessions online at mark 1 */
    uint64_t dropped;                /* online sessions lost before logout */
    uint64_t logouts_ok;
    uint64_t sent, received, late, foreign;
    uint64_t churn_cycles; /* logouts followed by a login, during churn */
    struct hist login_lat, msg_lat;
    struct bench_mark marks[BENCH_MARKS];
    unsigned n_steps;
    struct bench_step steps[BENCH_MAX_STEPS];
    char first_failure[96]; /* "user7: auth not-authorized" */
};
#define BENCH_RESULT_MAGIC 0x79626e31u

/* Runs one worker: connects o->clients clients (users offset+1 ...), runs the
 * scenario and fills res. ctl_fd < 0: a single process, which reads the server's
 * figures itself at each mark. Otherwise at each mark the worker writes the mark's
 * number to ctl_fd and waits for a byte back (the parent reads the server's figures
 * meanwhile, with every worker at the same point). Returns 0, or -1 when it could
 * not run at all (res still holds what it measured). */
int bench_run(const struct bench_options *o, int ctl_fd, struct bench_result *res);

void bench_result_init(struct bench_result *r);
/* Adds src's counts, histograms and steps into dst (steps: only those both ran). */
void bench_result_merge(struct bench_result *dst, const struct bench_result *src, bool first);
/* Prints the human-readable block, and with o->json one JSON line, to f. */
void bench_report(const struct bench_options *o, const struct bench_result *r, FILE *f);
/* 0: fine; 1: failed logins (and, except in step mode, where losing sessions is how
 * the last step may end, dropped sessions) above o->fail_pct; 3: the scenario could
 * not run. */
int bench_exit_code(const struct bench_options *o, const struct bench_result *r);

const char *bench_scenario_name(enum bench_scenario s);

/* side.c: forks the side process for o's scenario (attackers, flooder, roster
 * account, slow reader); *fd is the parent's end of their socketpair. Returns the
 * PID or -1. */
pid_t side_start(const struct bench_options *o, int *fd);
/* Waits for one byte from the side process; returns it, or -1. */
int side_wait(int fd);
/* Sends one byte to the side process. */
int side_signal(int fd, char b);
/* Reads the side process's result (blocking); with pid > 0 also closes fd and reaps
 * the process. Returns 0 or -1. */
int side_finish(pid_t pid, int fd, struct side_result *out);
/* The side figures, human-readable, and as a JSON object's members (no braces). */
void side_report(const struct bench_options *o, const struct side_result *s, FILE *f);
void side_json(const struct bench_options *o, const struct side_result *s, FILE *f);

#endif
