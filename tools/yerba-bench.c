/* SPDX-License-Identifier: MIT
 *
 * yerba-bench.c: the load generator's command line. It parses the options, raises
 * the open-file limit, and runs the scenario in this process or in --procs forked
 * workers, each with its share of the users, whose results it merges. With workers
 * it is the parent that reads the server's figures at each mark, once every worker
 * has reached it. See docs/bench.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bench.h"
#include "log.h"

#define MAX_PROCS 64

static void
usage(FILE *f)
{
    fputs("usage: yerba-bench [OPTIONS]\n"
          "  --host IP            server address (127.0.0.1)\n"
          "  --port N             server port (5222)\n"
          "  --domain D           XMPP domain (localhost)\n"
          "  --direct-tls         TLS from the first byte (default: STARTTLS)\n"
          "  --users PREFIX       accounts PREFIX1..PREFIXN (user)\n"
          "  --password P         the accounts' password (password)\n"
          "  --resource R         resource to bind (bench; '' lets the server pick)\n"
          "  --sasl M             plain | scram-sha-1 | scram-sha-256 (scram-sha-1)\n"
          "  --sources A,B,...    local source addresses, round-robin\n"
          "  --ramp N[/s]         new connections per second (0: no limit)\n"
          "  --inflight K         logins in flight at most (100)\n"
          "  --clients N          number of clients (100)\n"
          "  --offset I           first user index, 0-based (0: user1)\n"
          "  --duration S         idle hold / chat / churn seconds (10)\n"
          "  --rate R             chat: aggregate messages per second (1000)\n"
          "  --scenario S         idle | chat | login | churn | halfopen | rosterchurn |\n"
          "                       slowreader (idle)\n"
          "  --step               chat: raise the rate each step until loss or p99 too high\n"
          "  --step-secs S        step length (5)    --step-factor F  rate factor (1.5)\n"
          "  --step-p99 MS        p99 limit of a good step (250)\n"
          "  --max-rate R         step mode: stop before a step above R msg/s\n"
          "  --drain S            chat: longest wait for messages in flight (3)\n"
          "  --churn F            churn: fraction of sessions cycled per second (0.1)\n"
          "  --no-roster          skip the roster get at login\n"
          "  --login-timeout S    a login taking longer fails (30)\n"
          "  --max-fail PCT       exit 1 above this percentage of failed clients (0)\n"
          "  --server-pid PID     report the server's CPU and memory figures\n"
          "  --procs P            worker processes (1)\n"
          "  --json               also print one JSON line\n"
          "robustness (docs/bench.md):\n"
          "  --attackers N        halfopen: connections that never log in (1000)\n"
          "  --attack-sources N   halfopen: their addresses 127.1.0.1.. (N/50 rounded up)\n"
          "  --attack-first K     halfopen: start at the (K+1)-th of those addresses (0)\n"
          "  --trickle S          halfopen: send the stream header one byte every S s\n"
          "  --reconnect S        halfopen: reconnect a closed attacker after S s (0: no)\n"
          "  --settle S           halfopen: wait after the attackers connected (1)\n"
          "  --flooder            chat: a second pass with one client flooding\n"
          "  --flood-once         the flooder does not come back after its cut-off\n"
          "  --special-user N     the flooder / roster account / slow reader (clients+offset+1)\n"
          "  --cycles N           rosterchurn: log-in/log-out cycles (20)\n"
          "  --online-secs S      rosterchurn: seconds online per cycle (0.5)\n"
          "  --burst-kib N        slowreader: KiB sent to the reader (8192)\n"
          "  --msg-bytes N        slowreader: body bytes per message (8000)\n"
          "  --verbose            log the network layer's debug lines\n",
          f);
}

static int
parse_sources(struct bench_options *o, char *list)
{
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (o->n_sources == BENCH_MAX_SOURCES)
            return -1;
        o->sources[o->n_sources++] = tok;
    }
    return o->n_sources > 0 ? 0 : -1;
}

static bool
parse_double(const char *s, double min, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || (*end && strcmp(end, "/s") != 0) || v < min)
        return false;
    *out = v;
    return true;
}

static bool
parse_int(const char *s, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

enum {
    OPT_HOST = 256,
    OPT_PORT,
    OPT_DOMAIN,
    OPT_DIRECT,
    OPT_USERS,
    OPT_PASSWORD,
    OPT_RESOURCE,
    OPT_SASL,
    OPT_SOURCES,
    OPT_RAMP,
    OPT_INFLIGHT,
    OPT_CLIENTS,
    OPT_OFFSET,
    OPT_DURATION,
    OPT_RATE,
    OPT_SCENARIO,
    OPT_STEP,
    OPT_STEP_SECS,
    OPT_STEP_FACTOR,
    OPT_STEP_P99,
    OPT_MAX_RATE,
    OPT_DRAIN,
    OPT_CHURN,
    OPT_NO_ROSTER,
    OPT_LOGIN_TIMEOUT,
    OPT_MAX_FAIL,
    OPT_SERVER_PID,
    OPT_PROCS,
    OPT_JSON,
    OPT_VERBOSE,
    OPT_ATTACKERS,
    OPT_ATTACK_SOURCES,
    OPT_ATTACK_FIRST,
    OPT_TRICKLE,
    OPT_RECONNECT,
    OPT_SETTLE,
    OPT_FLOODER,
    OPT_FLOOD_ONCE,
    OPT_SPECIAL_USER,
    OPT_CYCLES,
    OPT_ONLINE_SECS,
    OPT_BURST_KIB,
    OPT_MSG_BYTES,
    OPT_HELP,
};

static const struct option long_opts[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"domain", required_argument, NULL, OPT_DOMAIN},
    {"direct-tls", no_argument, NULL, OPT_DIRECT},
    {"users", required_argument, NULL, OPT_USERS},
    {"password", required_argument, NULL, OPT_PASSWORD},
    {"resource", required_argument, NULL, OPT_RESOURCE},
    {"sasl", required_argument, NULL, OPT_SASL},
    {"sources", required_argument, NULL, OPT_SOURCES},
    {"ramp", required_argument, NULL, OPT_RAMP},
    {"inflight", required_argument, NULL, OPT_INFLIGHT},
    {"clients", required_argument, NULL, OPT_CLIENTS},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"rate", required_argument, NULL, OPT_RATE},
    {"scenario", required_argument, NULL, OPT_SCENARIO},
    {"step", no_argument, NULL, OPT_STEP},
    {"step-secs", required_argument, NULL, OPT_STEP_SECS},
    {"step-factor", required_argument, NULL, OPT_STEP_FACTOR},
    {"step-p99", required_argument, NULL, OPT_STEP_P99},
    {"max-rate", required_argument, NULL, OPT_MAX_RATE},
    {"drain", required_argument, NULL, OPT_DRAIN},
    {"churn", required_argument, NULL, OPT_CHURN},
    {"no-roster", no_argument, NULL, OPT_NO_ROSTER},
    {"login-timeout", required_argument, NULL, OPT_LOGIN_TIMEOUT},
    {"max-fail", required_argument, NULL, OPT_MAX_FAIL},
    {"server-pid", required_argument, NULL, OPT_SERVER_PID},
    {"procs", required_argument, NULL, OPT_PROCS},
    {"json", no_argument, NULL, OPT_JSON},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"attackers", required_argument, NULL, OPT_ATTACKERS},
    {"attack-sources", required_argument, NULL, OPT_ATTACK_SOURCES},
    {"attack-first", required_argument, NULL, OPT_ATTACK_FIRST},
    {"trickle", required_argument, NULL, OPT_TRICKLE},
    {"reconnect", required_argument, NULL, OPT_RECONNECT},
    {"settle", required_argument, NULL, OPT_SETTLE},
    {"flooder", no_argument, NULL, OPT_FLOODER},
    {"flood-once", no_argument, NULL, OPT_FLOOD_ONCE},
    {"special-user", required_argument, NULL, OPT_SPECIAL_USER},
    {"cycles", required_argument, NULL, OPT_CYCLES},
    {"online-secs", required_argument, NULL, OPT_ONLINE_SECS},
    {"burst-kib", required_argument, NULL, OPT_BURST_KIB},
    {"msg-bytes", required_argument, NULL, OPT_MSG_BYTES},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Returns 0, 1 (--help) or -1 (bad option, message printed). */
static int
parse_options(int argc, char **argv, struct bench_options *o)
{
    *o = (struct bench_options){
        .host = "127.0.0.1",
        .port = 5222,
        .domain = "localhost",
        .users = "user",
        .password = "password",
        .resource = "bench",
        .sasl = CLIENT_SASL_SCRAM_SHA1,
        .inflight = 100,
        .clients = 100,
        .duration_s = 10,
        .rate = 1000,
        .scenario = SCENARIO_IDLE,
        .step_s = 5,
        .step_factor = 1.5,
        .step_p99_ms = 250,
        .drain_s = 3,
        .churn_per_s = 0.1,
        .login_timeout_s = 30,
        .roster = true,
        .procs = 1,
        .attackers = 1000,
        .settle_s = 1,
        .cycles = 20,
        .online_s = 0.5,
        .burst_kib = 8192,
        .msg_bytes = 8000,
        .side_fd = -1,
    };
    int opt, pid;
    bool ok = true;
    while (ok && (opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (opt) {
        case OPT_HOST:
            o->host = optarg;
            break;
        case OPT_PORT:
            ok = parse_int(optarg, 1, 65535, &o->port);
            break;
        case OPT_DOMAIN:
            o->domain = optarg;
            break;
        case OPT_DIRECT:
            o->direct_tls = true;
            break;
        case OPT_USERS:
            o->users = optarg;
            break;
        case OPT_PASSWORD:
            o->password = optarg;
            break;
        case OPT_RESOURCE:
            o->resource = optarg[0] ? optarg : NULL;
            break;
        case OPT_SASL:
            if (strcmp(optarg, "plain") == 0)
                o->sasl = CLIENT_SASL_PLAIN;
            else if (strcmp(optarg, "scram-sha-1") == 0)
                o->sasl = CLIENT_SASL_SCRAM_SHA1;
            else if (strcmp(optarg, "scram-sha-256") == 0)
                o->sasl = CLIENT_SASL_SCRAM_SHA256;
            else
                ok = false;
            break;
        case OPT_SOURCES:
            ok = parse_sources(o, optarg) == 0;
            break;
        case OPT_RAMP:
            ok = parse_double(optarg, 0, &o->ramp);
            break;
        case OPT_INFLIGHT:
            ok = parse_int(optarg, 1, 10000000, &o->inflight);
            break;
        case OPT_CLIENTS:
            ok = parse_int(optarg, 0, 10000000, &o->clients);
            break;
        case OPT_OFFSET:
            ok = parse_int(optarg, 0, 100000000, &o->offset);
            break;
        case OPT_DURATION:
            ok = parse_double(optarg, 0, &o->duration_s);
            break;
        case OPT_RATE:
            ok = parse_double(optarg, 0.001, &o->rate);
            break;
        case OPT_SCENARIO:
            if (strcmp(optarg, "idle") == 0)
                o->scenario = SCENARIO_IDLE;
            else if (strcmp(optarg, "chat") == 0)
                o->scenario = SCENARIO_CHAT;
            else if (strcmp(optarg, "login") == 0)
                o->scenario = SCENARIO_LOGIN;
            else if (strcmp(optarg, "churn") == 0)
                o->scenario = SCENARIO_CHURN;
            else if (strcmp(optarg, "halfopen") == 0)
                o->scenario = SCENARIO_HALFOPEN;
            else if (strcmp(optarg, "rosterchurn") == 0)
                o->scenario = SCENARIO_ROSTERCHURN;
            else if (strcmp(optarg, "slowreader") == 0)
                o->scenario = SCENARIO_SLOWREADER;
            else
                ok = false;
            break;
        case OPT_STEP:
            o->step = true;
            break;
        case OPT_STEP_SECS:
            ok = parse_double(optarg, 0.1, &o->step_s);
            break;
        case OPT_STEP_FACTOR:
            ok = parse_double(optarg, 1.01, &o->step_factor);
            break;
        case OPT_STEP_P99:
            ok = parse_double(optarg, 0, &o->step_p99_ms);
            break;
        case OPT_MAX_RATE:
            ok = parse_double(optarg, 0, &o->step_max_rate);
            break;
        case OPT_DRAIN:
            ok = parse_double(optarg, 0, &o->drain_s);
            break;
        case OPT_CHURN:
            ok = parse_double(optarg, 0, &o->churn_per_s);
            break;
        case OPT_NO_ROSTER:
            o->roster = false;
            break;
        case OPT_LOGIN_TIMEOUT:
            ok = parse_double(optarg, 0.1, &o->login_timeout_s);
            break;
        case OPT_MAX_FAIL:
            ok = parse_double(optarg, 0, &o->fail_pct);
            break;
        case OPT_SERVER_PID:
            ok = parse_int(optarg, 1, 1 << 30, &pid);
            o->server_pid = pid;
            break;
        case OPT_PROCS:
            ok = parse_int(optarg, 1, MAX_PROCS, &o->procs);
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_VERBOSE:
            log_set_level(LOG_DEBUG);
            break;
        case OPT_ATTACKERS:
            ok = parse_int(optarg, 0, 1000000, &o->attackers);
            break;
        case OPT_ATTACK_SOURCES:
            ok = parse_int(optarg, 1, 250 * 250, &o->attack_sources);
            break;
        case OPT_ATTACK_FIRST:
            ok = parse_int(optarg, 0, 250 * 250, &o->attack_first);
            break;
        case OPT_TRICKLE:
            ok = parse_double(optarg, 0.001, &o->trickle_s);
            o->attack_trickle = true;
            break;
        case OPT_RECONNECT:
            ok = parse_double(optarg, 0, &o->reconnect_s);
            break;
        case OPT_SETTLE:
            ok = parse_double(optarg, 0, &o->settle_s);
            break;
        case OPT_FLOODER:
            o->flooder = true;
            break;
        case OPT_FLOOD_ONCE:
            o->flooder = true;
            o->flood_once = true;
            break;
        case OPT_SPECIAL_USER:
            ok = parse_int(optarg, 1, 100000000, &o->special_user);
            break;
        case OPT_CYCLES:
            ok = parse_int(optarg, 1, SIDE_MAX_CYCLES, &o->cycles);
            break;
        case OPT_ONLINE_SECS:
            ok = parse_double(optarg, 0, &o->online_s);
            break;
        case OPT_BURST_KIB:
            ok = parse_int(optarg, 1, 1 << 22, &o->burst_kib);
            break;
        case OPT_MSG_BYTES:
            ok = parse_int(optarg, 1, 1 << 20, &o->msg_bytes);
            break;
        case OPT_HELP:
        case 'h':
            usage(stdout);
            return 1;
        default:
            ok = false;
            break;
        }
    }
    if (!ok || optind != argc) {
        if (opt != '?')
            fprintf(stderr, "yerba-bench: bad value for --%s\n",
                    opt > 0 && opt >= OPT_HOST && opt < OPT_HELP ? long_opts[opt - OPT_HOST].name
                                                                 : "?");
        usage(stderr);
        return -1;
    }
    if (o->special_user == 0)
        o->special_user = o->offset + o->clients + 1;
    if (o->attack_sources == 0)
        o->attack_sources = (o->attackers + 49) / 50;
    bool side = o->scenario == SCENARIO_HALFOPEN || o->scenario == SCENARIO_ROSTERCHURN ||
                o->scenario == SCENARIO_SLOWREADER || o->flooder;
    if (side && (o->procs != 1 || o->step)) {
        fprintf(stderr, "yerba-bench: halfopen, rosterchurn, slowreader and --flooder run "
                        "in one process, without --step\n");
        return -1;
    }
    if (o->flooder && o->scenario != SCENARIO_CHAT) {
        fprintf(stderr, "yerba-bench: --flooder goes with --scenario chat\n");
        return -1;
    }
    if (o->scenario == SCENARIO_CHAT && o->clients % 2) {
        fprintf(stderr, "yerba-bench: chat needs an even number of clients (pairs)\n");
        return -1;
    }
    return 0;
}

/* Each worker's share: chat keeps pairs together (even counts and offsets). */
static void
share(const struct bench_options *o, int k, struct bench_options *out)
{
    *out = *o;
    int unit = o->scenario == SCENARIO_CHAT ? 2 : 1;
    int units = o->clients / unit, base = units / o->procs, extra = units % o->procs;
    int first = k * base + (k < extra ? k : extra);
    out->clients = (base + (k < extra)) * unit;
    out->offset = o->offset + first * unit;
    out->rate = o->clients ? o->rate * out->clients / o->clients : 0;
    out->ramp = o->ramp / o->procs;
    out->inflight = o->inflight / o->procs > 0 ? o->inflight / o->procs : 1;
    out->procs = 1;
}

static ssize_t
read_full(int fd, void *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = read(fd, (char *)buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    return (ssize_t)off;
}

static int
write_full(int fd, const void *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, (const char *)buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Forks the workers and drives their marks: at each, wait for every live worker's
 * byte, read the server's figures, release them all. Then merge their results. */
static void
run_procs(const struct bench_options *o, struct bench_result *out)
{
    int fds[MAX_PROCS];
    pid_t pids[MAX_PROCS];
    bool alive[MAX_PROCS];
    fflush(NULL);
    for (int k = 0; k < o->procs; k++) {
        int sv[2];
        alive[k] = false;
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
            perror("yerba-bench: socketpair");
            fds[k] = -1;
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(sv[0]);
            for (int j = 0; j < k; j++)
                if (fds[j] >= 0)
                    close(fds[j]);
            struct bench_options mine;
            share(o, k, &mine);
            struct bench_result *r = yb_malloc(sizeof *r);
            if (r == NULL)
                _exit(3);
            bench_result_init(r);
            bench_run(&mine, sv[1], r);
            /* uv_poll made the socket non-blocking; the result is written whole. */
            fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) & ~O_NONBLOCK);
            _exit(write_full(sv[1], r, sizeof *r) == 0 ? 0 : 3);
        }
        close(sv[1]);
        fds[k] = pid > 0 ? sv[0] : -1;
        pids[k] = pid;
        alive[k] = pid > 0;
        if (pid < 0) {
            perror("yerba-bench: fork");
            close(sv[0]);
        }
    }
    for (int mark = 0; mark < BENCH_MARKS; mark++) {
        for (int k = 0; k < o->procs; k++) {
            char b;
            if (alive[k] && (read_full(fds[k], &b, 1) != 1 || b != mark))
                alive[k] = false;
        }
        struct bench_mark *m = &out->marks[mark];
        if (o->server_pid > 0)
            procstat_read(o->server_pid, &m->server);
        m->t_ns = now_ns();
        for (int k = 0; k < o->procs; k++) {
            char b = (char)mark;
            if (alive[k] && write_full(fds[k], &b, 1) != 0)
                alive[k] = false;
        }
    }
    struct bench_result *r = yb_malloc(sizeof *r);
    struct bench_mark marks[BENCH_MARKS];
    memcpy(marks, out->marks, sizeof marks);
    bool first = true;
    for (int k = 0; k < o->procs; k++) {
        if (alive[k] && r && read_full(fds[k], r, sizeof *r) == (ssize_t)sizeof *r &&
            r->magic == BENCH_RESULT_MAGIC) {
            bench_result_merge(out, r, first);
            first = false;
        } else if (pids[k] > 0) {
            fprintf(stderr, "yerba-bench: worker %d gave no result\n", k);
        }
        if (fds[k] >= 0)
            close(fds[k]);
        if (pids[k] > 0)
            waitpid(pids[k], NULL, 0);
    }
    yb_free(r);
    memcpy(out->marks, marks, sizeof marks);
    out->clients = (uint64_t)o->clients;
    out->magic = BENCH_RESULT_MAGIC;
}

/* bench_report's JSON line for r, without its closing brace, in a malloc'd string. */
static char *
json_of(const struct bench_options *o, const struct bench_result *r)
{
    struct bench_options oj = *o;
    oj.json = true;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
    bench_report(&oj, r, f);
    fclose(f);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '}'))
        text[--len] = '\0'; /* the last line ends in "}\n" */
    char *last = strrchr(text, '\n');
    char *out = yb_strdup(last ? last + 1 : text);
    free(text);
    return out;
}

/* The human block of r, without its JSON line. */
static void
human_of(const struct bench_options *o, const struct bench_result *r, const char *title)
{
    struct bench_options oh = *o;
    oh.json = false;
    printf("== %s ==\n", title);
    bench_report(&oh, r, stdout);
}

/* halfopen and chat --flooder: a quiet pass, then the same with the side process
 * (attackers or the flooder) running. Returns the exit code. */
static int
run_two_passes(struct bench_options *o)
{
    struct bench_result *quiet = yb_malloc(sizeof *quiet), *loaded = yb_malloc(sizeof *loaded);
    struct side_result *sr = yb_calloc(1, sizeof *sr);
    if (quiet == NULL || loaded == NULL || sr == NULL)
        return 3;
    bench_result_init(quiet);
    bench_result_init(loaded);
    struct bench_options pass = *o;
    if (o->scenario == SCENARIO_HALFOPEN)
        pass.scenario = SCENARIO_LOGIN;
    bench_run(&pass, -1, quiet);

    int fd = -1;
    pid_t pid = side_start(o, &fd);
    if (pid < 0) {
        perror("yerba-bench: side process");
        return 3;
    }
    if (side_wait(fd) != 'R')
        fprintf(stderr, "yerba-bench: the side process did not get ready\n");
    if (o->scenario == SCENARIO_HALFOPEN && o->settle_s > 0)
        usleep((useconds_t)(o->settle_s * 1e6));
    bench_run(&pass, -1, loaded);
    side_signal(fd, 'S');
    if (side_finish(pid, fd, sr) != 0)
        fprintf(stderr, "yerba-bench: the side process gave no result\n");

    human_of(&pass, quiet, "quiet");
    human_of(&pass, loaded, o->scenario == SCENARIO_HALFOPEN ? "under attack" : "with flooder");
    side_report(o, sr, stdout);
    int rc = bench_exit_code(&pass, loaded);
    if (o->json) {
        char *qj = json_of(&pass, quiet), *lj = json_of(&pass, loaded);
        printf("%s,\"scenario_run\":\"%s\",\"quiet_exit\":%d,\"quiet\":%s},", lj ? lj : "{",
               o->scenario == SCENARIO_HALFOPEN ? "halfopen" : "flooder",
               bench_exit_code(&pass, quiet), qj ? qj : "{");
        side_json(o, sr, stdout);
        printf("}\n");
        yb_free(qj);
        yb_free(lj);
    }
    yb_free(quiet);
    yb_free(loaded);
    yb_free(sr);
    return rc;
}

/* rosterchurn and slowreader: one pass; run.c hands the measured phase to the side
 * process. */
static int
run_with_side(struct bench_options *o)
{
    struct bench_result *res = yb_malloc(sizeof *res);
    struct side_result *sr = yb_calloc(1, sizeof *sr);
    if (res == NULL || sr == NULL)
        return 3;
    bench_result_init(res);
    int fd = -1;
    pid_t pid = side_start(o, &fd);
    if (pid < 0) {
        perror("yerba-bench: side process");
        return 3;
    }
    o->side_fd = fd;
    o->side = sr;
    bench_run(o, -1, res);
    close(fd);
    waitpid(pid, NULL, 0);
    if (o->scenario == SCENARIO_SLOWREADER && o->server_pid > 0) {
        /* give the server a moment to free the victim's queue, then read it */
        usleep(1000000);
        struct procstat ps;
        if (procstat_read(o->server_pid, &ps) == 0)
            sr->sr_rss_after_kib = ps.rss_kib;
    }
    human_of(o, res, bench_scenario_name(o->scenario));
    side_report(o, sr, stdout);
    int rc = bench_exit_code(o, res);
    if (sr->magic != SIDE_RESULT_MAGIC)
        rc = 3;
    if (o->json) {
        char *j = json_of(o, res);
        printf("%s,", j ? j : "{");
        side_json(o, sr, stdout);
        printf("}\n");
        yb_free(j);
    }
    yb_free(res);
    yb_free(sr);
    return rc;
}

static void
raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
main(int argc, char **argv)
{
    struct bench_options o;
    log_set_level(LOG_WARN);
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    if (o.scenario == SCENARIO_HALFOPEN || o.flooder)
        return run_two_passes(&o);
    if (o.scenario == SCENARIO_ROSTERCHURN || o.scenario == SCENARIO_SLOWREADER)
        return run_with_side(&o);
    struct bench_result *res = yb_malloc(sizeof *res);
    if (res == NULL)
        return 3;
    bench_result_init(res);
    if (o.procs == 1)
        bench_run(&o, -1, res);
    else
        run_procs(&o, res);
    bench_report(&o, res, stdout);
    rc = bench_exit_code(&o, res);
    yb_free(res);
    return rc;
}
