/* SPDX-License-Identifier: MIT
 *
 * side.c: yerba-bench's side process, forked next to the measured clients so that
 * what it does cannot stall their loop (and so that it can stop reading its socket
 * by simply not running its loop). It plays one hostile or heavy part:
 *  - attackers (halfopen): many raw TCP connections from 127.1.x.y that never log
 *    in, idle or sending a stream header one byte every --trickle seconds;
 *  - the flooder (chat --flooder): one session sending to itself as fast as its
 *    socket takes it, logging in again whenever the server cuts it off;
 *  - the roster account (rosterchurn): logs in (roster get, presence) and out
 *    --cycles times, reading the server's RSS after each logout;
 *  - the slow reader (slowreader): logs in, then does not read until told.
 * Protocol on the socketpair: the parent sends 'G' (go) where a scenario waits for
 * it, the side answers 'R' when ready; 'B' tells the slow reader to read again;
 * 'S' stops attackers and the flooder; the side ends by writing its side_result.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "alloc.h"
#include "bench.h"
#include "net.h"

#define SIDE_TICK_MS      1
#define ATTACK_INFLIGHT   256        /* attacker connects in progress at most */
#define REFUSED_NS        2000000000 /* closed sooner than this after connect: refused */
#define FLOOD_QUEUE_BYTES 32768      /* flooder: keep this much queued, no more */
#define FLOOD_PER_TICK    2000
#define SLOW_DRAIN_MS     8000 /* slow reader: longest wait for the end after 'B' */

static char trickle_header[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

enum att_state { A_WAIT, A_CONNECTING, A_OPEN, A_CLOSING };

struct attacker {
    uv_tcp_t tcp;
    uv_connect_t req;
    struct side *s;
    enum att_state st;
    bool tried;       /* first attempt finished */
    uint64_t t_conn;  /* connected at, ns */
    uint64_t next_ns; /* A_WAIT: reconnect at; A_OPEN: next trickle byte at */
    size_t hdr_pos;
};

struct side {
    const struct bench_options *o;
    struct side_result *r;
    int fd;
    uv_loop_t loop;
    struct net *net;
    uv_timer_t tick;
    uv_poll_t ctl;
    uv_timer_t deadline;
    bool stopping;
    /* attackers */
    struct attacker *att;
    unsigned n_att, connecting, open, first_done;
    bool ready_sent;
    /* sessions */
    struct client *c;
    char user[64];
    uint64_t t_online, t_cycle;
    bool was_online;     /* the current session got online */
    uint64_t relogin_ns; /* flooder: log in again at this time (0: not waiting) */
    uint64_t seq;
    uint64_t presences;
    unsigned cycle;
};

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
side_signal(int fd, char b)
{
    ssize_t n;
    do
        n = write(fd, &b, 1);
    while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

int
side_wait(int fd)
{
    char b;
    ssize_t n;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    do
        n = read(fd, &b, 1);
    while (n < 0 && errno == EINTR);
    fcntl(fd, F_SETFL, fl);
    return n == 1 ? (unsigned char)b : -1;
}

static void
finish(struct side *s)
{
    s->stopping = true;
    uv_stop(&s->loop);
}

/* --- attackers -------------------------------------------------------------- */

static void att_connect(struct side *s, struct attacker *a);

static void
att_closed(uv_handle_t *h)
{
    struct attacker *a = h->data;
    struct side *s = a->s;
    a->st = A_WAIT;
    a->next_ns = s->o->reconnect_s > 0 && !s->stopping
                     ? now_ns() + (uint64_t)(s->o->reconnect_s * 1e9)
                     : UINT64_MAX;
}

static void
att_close(struct attacker *a)
{
    if (a->st == A_OPEN)
        a->s->open--;
    a->st = A_CLOSING;
    uv_close((uv_handle_t *)&a->tcp, att_closed);
}

static void
att_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)h;
    (void)size;
    static char sink[4096]; /* the server's header and errors: read and dropped */
    *buf = uv_buf_init(sink, sizeof sink);
}

static void
att_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct attacker *a = st->data;
    if (n >= 0)
        return;
    /* The server closed it: a refusal at accept, or the auth timeout later. */
    if (now_ns() - a->t_conn < REFUSED_NS)
        a->s->r->att_refused++;
    else
        a->s->r->att_timed_out++;
    att_close(a);
}

static void
att_first_done(struct side *s, struct attacker *a)
{
    if (a->tried)
        return;
    a->tried = true;
    s->first_done++;
}

static void
att_connected(uv_connect_t *req, int status)
{
    struct attacker *a = req->data;
    struct side *s = a->s;
    s->connecting--;
    att_first_done(s, a);
    if (a->st == A_CLOSING)
        return;
    if (status < 0) {
        s->r->att_connect_failed++;
        att_close(a);
        return;
    }
    s->r->att_connected++;
    a->st = A_OPEN;
    a->t_conn = now_ns();
    a->hdr_pos = 0;
    /* spread the trickle over the period */
    a->next_ns = a->t_conn + (uint64_t)(s->o->trickle_s * 1e9 * (double)(rand() % 1000) / 1000.0);
    s->open++;
    if (s->open > s->r->att_open_max)
        s->r->att_open_max = s->open;
    uv_read_start((uv_stream_t *)&a->tcp, att_alloc, att_read);
}

static void
att_source(const struct bench_options *o, unsigned i, char *ip, size_t len)
{
    unsigned k =
        (unsigned)o->attack_first + i % (unsigned)(o->attack_sources > 0 ? o->attack_sources : 1);
    snprintf(ip, len, "127.1.%u.%u", k / 250, k % 250 + 1);
}

static void
att_connect(struct side *s, struct attacker *a)
{
    const struct bench_options *o = s->o;
    char ip[32];
    struct sockaddr_in src, dst;
    att_source(o, (unsigned)(a - s->att), ip, sizeof ip);
    uv_ip4_addr(ip, 0, &src);
    uv_ip4_addr(o->host, o->port, &dst);
    s->r->att_attempts++;
    uv_tcp_init(&s->loop, &a->tcp);
    a->tcp.data = a;
    a->req.data = a;
    a->st = A_CONNECTING;
    if (uv_tcp_bind(&a->tcp, (const struct sockaddr *)&src, 0) != 0 ||
        uv_tcp_connect(&a->req, &a->tcp, (const struct sockaddr *)&dst, att_connected) != 0) {
        s->r->att_connect_failed++;
        att_first_done(s, a);
        att_close(a);
        return;
    }
    s->connecting++;
}

static void
att_tick(struct side *s)
{
    uint64_t now = now_ns();
    for (unsigned i = 0; i < s->n_att; i++) {
        struct attacker *a = &s->att[i];
        if (a->st == A_WAIT && !s->stopping && a->next_ns <= now && s->connecting < ATTACK_INFLIGHT)
            att_connect(s, a);
        else if (a->st == A_OPEN && s->o->attack_trickle && a->next_ns <= now &&
                 a->hdr_pos < sizeof trickle_header - 1) {
            uv_buf_t b = uv_buf_init(trickle_header + a->hdr_pos, 1);
            if (uv_try_write((uv_stream_t *)&a->tcp, &b, 1) == 1) {
                a->hdr_pos++;
                s->r->att_bytes++;
            }
            a->next_ns = now + (uint64_t)(s->o->trickle_s * 1e9);
        }
    }
    if (!s->ready_sent && s->first_done == s->n_att) {
        s->ready_sent = true;
        side_signal(s->fd, 'R');
    }
}

static void
att_start(struct side *s)
{
    s->n_att = (unsigned)s->o->attackers;
    s->att = yb_calloc(s->n_att ? s->n_att : 1, sizeof *s->att);
    for (unsigned i = 0; i < s->n_att; i++) {
        s->att[i].s = s;
        s->att[i].st = A_WAIT;
        s->att[i].next_ns = 0;
    }
}

static void
att_stop(struct side *s)
{
    s->r->att_open_end = s->open;
    s->stopping = true;
    for (unsigned i = 0; i < s->n_att; i++)
        if (s->att[i].st == A_OPEN || s->att[i].st == A_CONNECTING)
            att_close(&s->att[i]);
}

/* --- sessions (flooder, roster account, slow reader) ----------------------- */

static void sess_online(void *ud, struct client *c);
static void sess_stanza(void *ud, struct client *c, const struct stanza *st);
static void sess_closed(void *ud, struct client *c, enum client_error err, const char *detail);

static const struct client_callbacks sess_cb = {
    .online = sess_online,
    .stanza = sess_stanza,
    .closed = sess_closed,
};

static void
sess_login(struct side *s, const char *resource)
{
    const struct bench_options *o = s->o;
    struct client_config cc = {
        .ip = o->host,
        .port = o->port,
        /* its own address, so that its reconnections do not eat the measured
         * clients' per-address connection budget */
        .bind_ip = strncmp(o->host, "127.", 4) == 0 ? "127.0.3.1" : NULL,
        .direct_tls = o->direct_tls,
        .domain = o->domain,
        .user = s->user,
        .password = o->password,
        .resource = resource,
        .sasl = o->sasl,
        .roster_get = true,
        .initial_presence = true,
    };
    s->t_cycle = now_ns();
    s->presences = 0;
    s->was_online = false;
    s->c = client_new(s->net, &cc, &sess_cb, s);
    if (s->c == NULL)
        finish(s);
}

static void
flood_tick(struct side *s)
{
    if (s->c == NULL && s->relogin_ns && now_ns() >= s->relogin_ns && !s->stopping) {
        s->relogin_ns = 0;
        sess_login(s, "flood");
    }
    if (s->c == NULL || !client_is_online(s->c) || s->stopping)
        return;
    const char *jid = client_jid(s->c);
    for (int k = 0; k < FLOOD_PER_TICK && client_pending_output(s->c) < FLOOD_QUEUE_BYTES; k++) {
        char msg[256];
        int len = snprintf(msg, sizeof msg,
                           "<message to='%s' type='chat'><body>flood %" PRIu64 "</body></message>",
                           jid, s->seq++);
        if (client_send_raw(s->c, msg, (size_t)len) != 0)
            break;
        s->r->fl_sent++;
    }
}

static void on_slow_deadline(uv_timer_t *t);

static void
sess_online(void *ud, struct client *c)
{
    (void)c;
    struct side *s = ud;
    s->t_online = now_ns();
    s->was_online = true;
    switch (s->o->scenario) {
    case SCENARIO_CHAT: /* the flooder */
        s->r->fl_logins++;
        if (s->r->fl_logins == 1)
            side_signal(s->fd, 'R');
        break;
    case SCENARIO_ROSTERCHURN: {
        double ms = (double)(now_ns() - s->t_cycle) / 1e6;
        if (ms > s->r->cycle_ms_max)
            s->r->cycle_ms_max = ms;
        break;
    }
    case SCENARIO_SLOWREADER:
        /* Stop reading: the loop does not run until the parent says 'B'. */
        side_signal(s->fd, 'R');
        side_wait(s->fd);
        uv_update_time(&s->loop);
        uv_timer_start(&s->deadline, on_slow_deadline, SLOW_DRAIN_MS, 0);
        break;
    default:
        break;
    }
}

static void
sess_stanza(void *ud, struct client *c, const struct stanza *st)
{
    (void)c;
    struct side *s = ud;
    const char *name = stanza_name(st);
    if (strcmp(name, "message") == 0) {
        if (s->o->scenario == SCENARIO_CHAT)
            s->r->fl_echoes++;
        else if (s->o->scenario == SCENARIO_SLOWREADER)
            s->r->sr_received++;
    } else if (strcmp(name, "presence") == 0 && stanza_attr(st, "type") == NULL) {
        s->presences++;
    }
}

static void
sess_closed(void *ud, struct client *c, enum client_error err, const char *detail)
{
    (void)c;
    struct side *s = ud;
    s->c = NULL;
    switch (s->o->scenario) {
    case SCENARIO_CHAT:
        if (err != CLIENT_OK && !s->stopping && !s->was_online)
            s->r->fl_login_failures++;
        if (err != CLIENT_OK && !s->stopping && s->was_online) {
            s->r->fl_cutoffs++;
            if (s->r->fl_cutoffs == 1) {
                s->r->fl_first_sent = s->r->fl_sent;
                s->r->fl_first_cut_s = (double)(now_ns() - s->t_online) / 1e9;
                snprintf(s->r->fl_first_error, sizeof s->r->fl_first_error, "%s %s",
                         client_error_name(err), detail ? detail : "");
            }
        }
        if (!s->stopping && !(s->o->flood_once && s->r->fl_cutoffs > 0))
            /* a persistent flooder comes back */
            s->relogin_ns = now_ns() + (s->was_online ? 0 : 200000000u);
        break;
    case SCENARIO_ROSTERCHURN: {
        if (err != CLIENT_OK)
            s->r->cycles_failed++;
        s->r->presences_last = s->presences;
        /* let the server finish the logout's presence broadcast before reading */
        usleep(200000);
        struct procstat ps;
        if (s->o->server_pid > 0 && procstat_read(s->o->server_pid, &ps) == 0 &&
            s->r->cycles < SIDE_MAX_CYCLES)
            s->r->rss_kib[s->r->cycles] = ps.rss_kib;
        s->r->cycles++;
        if ((int)s->r->cycles >= s->o->cycles)
            finish(s);
        else
            sess_login(s, "churn");
        break;
    }
    case SCENARIO_SLOWREADER:
        s->r->sr_disconnected = err != CLIENT_OK;
        snprintf(s->r->sr_end, sizeof s->r->sr_end, "%s%s%s", client_error_name(err),
                 detail ? " " : "", detail ? detail : "");
        finish(s);
        break;
    default:
        break;
    }
}

static void
on_slow_deadline(uv_timer_t *t)
{
    struct side *s = t->data;
    if (s->c != NULL) {
        snprintf(s->r->sr_end, sizeof s->r->sr_end, "still connected");
        s->r->sr_disconnected = false;
        client_abort(s->c);
    }
}

/* --- loop ----------------------------------------------------------------- */

static void
on_tick(uv_timer_t *t)
{
    struct side *s = t->data;
    if (s->o->scenario == SCENARIO_HALFOPEN)
        att_tick(s);
    else if (s->o->scenario == SCENARIO_CHAT)
        flood_tick(s);
    else if (s->o->scenario == SCENARIO_ROSTERCHURN && s->c && client_is_online(s->c) &&
             now_ns() - s->t_online >= (uint64_t)(s->o->online_s * 1e9))
        client_close(s->c);
}

/* 'S' from the parent: stop attacking or flooding, then report. */
static void
on_ctl(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct side *s = p->data;
    char b = 0;
    ssize_t n = status < 0 ? -1 : read(s->fd, &b, 1);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    uv_poll_stop(p);
    if (s->o->scenario == SCENARIO_HALFOPEN)
        att_stop(s);
    s->stopping = true;
    if (s->c != NULL)
        client_abort(s->c);
    uv_stop(&s->loop);
}

static void
close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int
side_main(const struct bench_options *o, int fd)
{
    struct side s;
    memset(&s, 0, sizeof s);
    struct side_result *r = yb_calloc(1, sizeof *r);
    if (r == NULL)
        return 3;
    s.o = o;
    s.r = r;
    s.fd = fd;
    srand((unsigned)getpid());
    uv_loop_init(&s.loop);
    struct net_config nc = {.max_output_bytes = 4u << 20};
    parser_limits_default(&nc.parser);
    s.net = net_new(&s.loop, &nc);
    uv_timer_init(&s.loop, &s.tick);
    s.tick.data = &s;
    uv_timer_start(&s.tick, on_tick, SIDE_TICK_MS, SIDE_TICK_MS);
    uv_timer_init(&s.loop, &s.deadline);
    s.deadline.data = &s;
    uv_poll_init(&s.loop, &s.ctl, fd);
    s.ctl.data = &s;
    snprintf(s.user, sizeof s.user, "%s%d", o->users, o->special_user);
    switch (o->scenario) {
    case SCENARIO_HALFOPEN:
        att_start(&s);
        uv_poll_start(&s.ctl, UV_READABLE, on_ctl);
        break;
    case SCENARIO_CHAT:
        sess_login(&s, "flood");
        uv_poll_start(&s.ctl, UV_READABLE, on_ctl);
        break;
    case SCENARIO_ROSTERCHURN:
        side_wait(fd); /* 'G': the contacts are online */
        sess_login(&s, "churn");
        break;
    case SCENARIO_SLOWREADER:
        side_wait(fd);
        sess_login(&s, "slow");
        break;
    default:
        break;
    }
    uv_run(&s.loop, UV_RUN_DEFAULT);
    /* let closes finish (attackers, a logout in flight) */
    s.stopping = true;
    if (s.c != NULL)
        client_abort(s.c);
    net_free(s.net);
    uv_walk(&s.loop, close_handle, NULL);
    uv_run(&s.loop, UV_RUN_DEFAULT);
    uv_loop_close(&s.loop);
    r->magic = SIDE_RESULT_MAGIC;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    size_t off = 0;
    while (off < sizeof *r) {
        ssize_t n = write(fd, (const char *)r + off, sizeof *r - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 3;
        off += (size_t)n;
    }
    yb_free(s.att);
    yb_free(r);
    return 0;
}

pid_t
side_start(const struct bench_options *o, int *fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        _exit(side_main(o, sv[1]));
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return -1;
    }
    *fd = sv[0];
    return pid;
}

int
side_finish(pid_t pid, int fd, struct side_result *out)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    size_t off = 0;
    int rc = 0;
    while (off < sizeof *out) {
        ssize_t n = read(fd, (char *)out + off, sizeof *out - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    if (pid > 0) {
        close(fd);
        waitpid(pid, NULL, 0);
    }
    return rc == 0 && out->magic == SIDE_RESULT_MAGIC ? 0 : -1;
}

/* --- report --------------------------------------------------------------- */

void
side_report(const struct bench_options *o, const struct side_result *s, FILE *f)
{
    switch (o->scenario) {
    case SCENARIO_HALFOPEN:
        fprintf(f,
                "attackers  %d from %d addresses (%s): %" PRIu64 " attempts, %" PRIu64
                " connected, %" PRIu64 " connect failures\n"
                "           closed by the server: %" PRIu64 " at once (refused), %" PRIu64
                " later (timeout); open at most %" PRIu64 ", at the end %" PRIu64 "\n",
                o->attackers, o->attack_sources, o->attack_trickle ? "trickle" : "idle",
                s->att_attempts, s->att_connected, s->att_connect_failed, s->att_refused,
                s->att_timed_out, s->att_open_max, s->att_open_end);
        break;
    case SCENARIO_CHAT:
        fprintf(f,
                "flooder    %" PRIu64 " logins (%" PRIu64 " refused), %" PRIu64 " sent, %" PRIu64
                " echoed back, cut off %" PRIu64 " times; first cut-off after %" PRIu64
                " stanzas in %.3f s (%s)\n",
                s->fl_logins, s->fl_login_failures, s->fl_sent, s->fl_echoes, s->fl_cutoffs,
                s->fl_first_sent, s->fl_first_cut_s,
                s->fl_first_error[0] ? s->fl_first_error : "none");
        break;
    case SCENARIO_ROSTERCHURN:
        fprintf(f,
                "cycles     %u (%u failed), presences in the last %" PRIu64
                ", slowest login %.1f ms\nrss KiB   ",
                s->cycles, s->cycles_failed, s->presences_last, s->cycle_ms_max);
        for (unsigned i = 0; i < s->cycles && i < SIDE_MAX_CYCLES; i++)
            fprintf(f, " %" PRId64, s->rss_kib[i]);
        fputc('\n', f);
        break;
    case SCENARIO_SLOWREADER:
        fprintf(f,
                "burst      %" PRIu64 " messages sent (%d B bodies, %" PRIu64
                " send errors), %" PRIu64 " read by the victim; end: %s\n"
                "rss KiB    before %" PRId64 ", peak %" PRId64 ", after %" PRId64 "\n",
                s->sr_sent, o->msg_bytes, s->sr_send_errors, s->sr_received, s->sr_end,
                s->sr_rss_before_kib, s->sr_rss_peak_kib, s->sr_rss_after_kib);
        break;
    default:
        break;
    }
}

void
side_json(const struct bench_options *o, const struct side_result *s, FILE *f)
{
    switch (o->scenario) {
    case SCENARIO_HALFOPEN:
        fprintf(f,
                "\"attackers\":%d,\"attack_sources\":%d,\"attack_mode\":\"%s\","
                "\"att_attempts\":%" PRIu64 ",\"att_connected\":%" PRIu64
                ",\"att_connect_failed\":%" PRIu64 ",\"att_refused\":%" PRIu64
                ",\"att_timed_out\":%" PRIu64 ",\"att_open_max\":%" PRIu64
                ",\"att_open_end\":%" PRIu64 ",\"att_bytes\":%" PRIu64,
                o->attackers, o->attack_sources, o->attack_trickle ? "trickle" : "idle",
                s->att_attempts, s->att_connected, s->att_connect_failed, s->att_refused,
                s->att_timed_out, s->att_open_max, s->att_open_end, s->att_bytes);
        break;
    case SCENARIO_CHAT:
        fprintf(f,
                "\"fl_logins\":%" PRIu64 ",\"fl_login_failures\":%" PRIu64 ",\"fl_sent\":%" PRIu64
                ",\"fl_echoes\":%" PRIu64 ",\"fl_cutoffs\":%" PRIu64 ",\"fl_first_sent\":%" PRIu64
                ",\"fl_first_cut_s\":%.4f,\"fl_first_error\":\"%s\"",
                s->fl_logins, s->fl_login_failures, s->fl_sent, s->fl_echoes, s->fl_cutoffs,
                s->fl_first_sent, s->fl_first_cut_s, s->fl_first_error);
        break;
    case SCENARIO_ROSTERCHURN:
        fprintf(f,
                "\"cycles\":%u,\"cycles_failed\":%u,\"presences_last\":%" PRIu64
                ",\"cycle_login_ms_max\":%.2f,\"rss_kib\":[",
                s->cycles, s->cycles_failed, s->presences_last, s->cycle_ms_max);
        for (unsigned i = 0; i < s->cycles && i < SIDE_MAX_CYCLES; i++)
            fprintf(f, "%s%" PRId64, i ? "," : "", s->rss_kib[i]);
        fputc(']', f);
        break;
    case SCENARIO_SLOWREADER:
        fprintf(f,
                "\"sr_sent\":%" PRIu64 ",\"sr_send_errors\":%" PRIu64 ",\"sr_received\":%" PRIu64
                ",\"sr_disconnected\":%s,\"sr_end\":\"%s\",\"sr_rss_before_kib\":%" PRId64
                ",\"sr_rss_peak_kib\":%" PRId64 ",\"sr_rss_after_kib\":%" PRId64,
                s->sr_sent, s->sr_send_errors, s->sr_received,
                s->sr_disconnected ? "true" : "false", s->sr_end, s->sr_rss_before_kib,
                s->sr_rss_peak_kib, s->sr_rss_after_kib);
        break;
    default:
        break;
    }
}
