/* SPDX-License-Identifier: MIT
 *
 * run.c: one yerba-bench worker: a libuv loop holding its share of the clients.
 * Phases: logins (at most o->inflight in flight, at most o->ramp started per
 * second), mark 1, the scenario's measured phase (idle hold, chat, churn; nothing
 * for login), mark 2, logout. Chat bodies carry the run id, the step, a sequence
 * number and the CLOCK_MONOTONIC send time in ns; the receiver computes the latency.
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "alloc.h"
#include "log.h"
#include "net.h"

#define TICK_MS        1   /* scheduler period: logins and chat sends */
#define SWEEP_MS       100 /* login timeouts, churn */
#define LOGOUT_WAIT_MS 10000

enum phase { PH_LOGIN, PH_MEASURE, PH_LOGOUT, PH_DONE };
enum bc_state { BC_OFF, BC_LOGIN, BC_ONLINE, BC_LOGOUT };

struct bclient {
    struct worker *w;
    struct client *c;
    enum bc_state st;
    bool timed_out;
    unsigned idx;     /* local index */
    uint64_t t_start; /* login start, ns */
    uint64_t seq;     /* chat: next sequence number as sender */
};

struct worker {
    const struct bench_options *o;
    struct bench_result *res;
    uv_loop_t loop;
    struct net *net;
    struct bclient *cl;
    unsigned n;
    enum phase phase;
    uint64_t run_id;
    uint64_t rng;

    /* logins */
    unsigned *queue; /* ring of local indices waiting to log in */
    unsigned q_head, q_len;
    unsigned inflight, online, open; /* open: clients with a live struct client */
    unsigned login_done;             /* initial logins finished (ok or not) */
    uint64_t ramp_start_ns, ramp_started;

    uv_timer_t tick, sweep, phase_timer, defer;
    /* barriers */
    int ctl_fd;
    uv_poll_t ctl_poll;
    void (*after_barrier)(struct worker *w);

    /* chat */
    bool sending;
    bool step_open; /* the current step still counts arrivals */
    unsigned step;  /* index into res->steps */
    double rate;
    uint64_t send_start_ns, step_sent;
    unsigned next_pair;
    /* churn */
    uint64_t churn_start_ns;
    double churn_credit;
    /* rosterchurn, slowreader: waiting for the side process's result */
    uv_poll_t side_poll;
    uv_timer_t rss_timer;
};

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
rng_next(struct worker *w)
{
    /* xorshift64: only picks churn victims */
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static void pump_logins(struct worker *w);
static void start_measure(struct worker *w);
static void end_measure(struct worker *w);
static void start_logout(struct worker *w);

/* --- barriers --------------------------------------------------------- */

static void
on_defer(uv_timer_t *t)
{
    struct worker *w = t->data;
    void (*next)(struct worker *) = w->after_barrier;
    w->after_barrier = NULL;
    if (next)
        next(w);
}

static void
on_ctl(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct worker *w = p->data;
    char b;
    ssize_t r = status < 0 ? -1 : read(w->ctl_fd, &b, 1);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    uv_poll_stop(p);
    if (r != 1) {
        /* The parent is gone: stop measuring, just log out. */
        fprintf(stderr, "yerba-bench: worker lost its parent\n");
        w->ctl_fd = -1;
    }
    uv_timer_start(&w->defer, on_defer, 0, 0);
}

/* Reaches mark k; next runs (from the loop, never from inside the caller) once every
 * worker is there and the server's figures are read. */
static void
barrier(struct worker *w, int k, void (*next)(struct worker *))
{
    w->after_barrier = next;
    if (w->ctl_fd < 0) {
        struct bench_mark *m = &w->res->marks[k];
        if (w->o->server_pid > 0)
            procstat_read(w->o->server_pid, &m->server);
        m->t_ns = now_ns();
        uv_timer_start(&w->defer, on_defer, 0, 0);
        return;
    }
    w->res->marks[k].t_ns = now_ns();
    char b = (char)k;
    if (write(w->ctl_fd, &b, 1) != 1) {
        w->ctl_fd = -1;
        uv_timer_start(&w->defer, on_defer, 0, 0);
        return;
    }
    uv_poll_start(&w->ctl_poll, UV_READABLE, on_ctl);
}

/* --- logins ------------------------------------------------------------- */

static void logout(struct bclient *b);
static void on_online(void *ud, struct client *c);
static void on_stanza(void *ud, struct client *c, const struct stanza *st);
static void on_closed(void *ud, struct client *c, enum client_error err, const char *detail);

static const struct client_callbacks callbacks = {
    .online = on_online,
    .stanza = on_stanza,
    .closed = on_closed,
};

static void
note_failure(struct worker *w, struct bclient *b, const char *what, const char *detail)
{
    if (w->res->first_failure[0] == '\0')
        snprintf(w->res->first_failure, sizeof w->res->first_failure, "%s%u: %s%s%s", w->o->users,
                 w->o->offset + b->idx + 1, what, detail ? " " : "", detail ? detail : "");
}

/* The initial logins are over when every client has finished its first attempt. */
static void
login_finished(struct worker *w)
{
    w->login_done++;
    if (w->phase == PH_LOGIN && w->login_done == w->n)
        barrier(w, 1, start_measure);
}

static void
start_login(struct worker *w, struct bclient *b)
{
    const struct bench_options *o = w->o;
    char user[128];
    snprintf(user, sizeof user, "%s%u", o->users, o->offset + b->idx + 1);
    struct client_config cc = {
        .ip = o->host,
        .port = o->port,
        .bind_ip = o->n_sources ? o->sources[(o->offset + b->idx) % (unsigned)o->n_sources] : NULL,
        .direct_tls = o->direct_tls,
        .domain = o->domain,
        .user = user,
        .password = o->password,
        .resource = o->resource,
        .sasl = o->sasl,
        .roster_get = o->roster,
        .initial_presence = true,
    };
    b->t_start = now_ns();
    b->timed_out = false;
    b->c = client_new(w->net, &cc, &callbacks, b);
    if (b->c == NULL) {
        w->res->logins_failed++;
        w->res->fails[CLIENT_E_CONNECT]++;
        note_failure(w, b, "connect", "could not start");
        if (w->phase == PH_LOGIN)
            login_finished(w);
        return;
    }
    b->st = BC_LOGIN;
    w->inflight++;
    w->open++;
}

/* Starts queued logins while the in-flight limit and the ramp allow. */
static void
pump_logins(struct worker *w)
{
    const struct bench_options *o = w->o;
    uint64_t now = now_ns();
    while (w->q_len > 0 && w->inflight < (unsigned)o->inflight) {
        if (o->ramp > 0) {
            double allowed = o->ramp * (double)(now - w->ramp_start_ns) / 1e9 + 1;
            if ((double)w->ramp_started >= allowed)
                break;
        }
        unsigned i = w->queue[w->q_head];
        w->q_head = (w->q_head + 1) % w->n;
        w->q_len--;
        w->ramp_started++;
        start_login(w, &w->cl[i]);
    }
}

static void
enqueue_login(struct worker *w, unsigned i)
{
    w->queue[(w->q_head + w->q_len) % w->n] = i;
    w->q_len++;
}

static void
on_online(void *ud, struct client *c)
{
    (void)c;
    struct bclient *b = ud;
    struct worker *w = b->w;
    hist_record(&w->res->login_lat, now_ns() - b->t_start);
    w->res->logins_ok++;
    if (w->phase == PH_LOGIN)
        w->res->first_logins_ok++;
    w->inflight--;
    w->online++;
    b->st = BC_ONLINE;
    if (w->phase == PH_LOGIN)
        login_finished(w);
    else if (w->phase == PH_MEASURE && w->o->scenario == SCENARIO_CHURN)
        w->res->churn_cycles++;
    else if (w->phase == PH_LOGOUT)
        logout(b);
    pump_logins(w);
}

static void
on_closed(void *ud, struct client *c, enum client_error err, const char *detail)
{
    (void)c;
    struct bclient *b = ud;
    struct worker *w = b->w;
    enum bc_state was = b->st;
    b->c = NULL;
    b->st = BC_OFF;
    w->open--;
    if (was == BC_LOGIN) {
        w->inflight--;
        w->res->logins_failed++;
        if (b->timed_out)
            w->res->login_timeouts++;
        else
            w->res->fails[err]++;
        note_failure(w, b, b->timed_out ? "timeout" : client_error_name(err), detail);
        if (w->phase == PH_LOGIN)
            login_finished(w);
    } else if (was == BC_ONLINE) {
        w->online--;
        w->res->dropped++;
        if (w->sending && w->step < BENCH_MAX_STEPS)
            w->res->steps[w->step].dropped++;
        note_failure(w, b, "dropped", detail ? detail : client_error_name(err));
    } else if (was == BC_LOGOUT) {
        w->online--;
        if (err == CLIENT_OK)
            w->res->logouts_ok++;
        if (w->phase == PH_MEASURE && w->o->scenario == SCENARIO_CHURN)
            enqueue_login(w, b->idx);
    }
    if (w->phase == PH_LOGOUT && w->open == 0) {
        w->phase = PH_DONE;
        uv_stop(&w->loop);
    }
    pump_logins(w);
}

static void
logout(struct bclient *b)
{
    if (b->c == NULL)
        return;
    if (b->st == BC_ONLINE)
        b->st = BC_LOGOUT;
    client_close(b->c);
}

/* --- chat ----------------------------------------------------------------- */

static void
send_one(struct worker *w)
{
    unsigned pairs = w->n / 2;
    for (unsigned tries = 0; tries < pairs; tries++) {
        unsigned p = w->next_pair++ % pairs;
        struct bclient *s = &w->cl[2 * p], *r = &w->cl[2 * p + 1];
        if (s->st != BC_ONLINE || r->st != BC_ONLINE)
            continue;
        char msg[512];
        int len = snprintf(msg, sizeof msg,
                           "<message to='%s' type='chat'><body>yb %" PRIx64 " %u %" PRIu64
                           " %" PRIu64 "</body></message>",
                           client_jid(r->c), w->run_id, w->step, s->seq++, now_ns());
        if (len <= 0 || (size_t)len >= sizeof msg || client_send_raw(s->c, msg, (size_t)len) != 0)
            continue;
        w->res->sent++;
        w->res->steps[w->step].sent++;
        w->step_sent++;
        return;
    }
}

static void
on_stanza(void *ud, struct client *c, const struct stanza *st)
{
    (void)c;
    struct bclient *b = ud;
    struct worker *w = b->w;
    if (strcmp(stanza_name(st), "message") != 0)
        return;
    const char *body = node_child_text(stanza_root(st), "body", NULL);
    uint64_t run, seq, ts;
    unsigned step;
    if (body == NULL ||
        sscanf(body, "yb %" SCNx64 " %u %" SCNu64 " %" SCNu64, &run, &step, &seq, &ts) != 4 ||
        run != w->run_id || step >= BENCH_MAX_STEPS ||
        stanza_child(st, "delay", "urn:xmpp:delay") != NULL) {
        w->res->foreign++; /* e.g. offline messages from an earlier run */
        return;
    }
    uint64_t now = now_ns();
    uint64_t lat = now > ts ? now - ts : 0;
    w->res->received++;
    hist_record(&w->res->msg_lat, lat);
    /* A step's figures are frozen at the end of its drain; later arrivals are late. */
    if (step == w->step && w->step_open) {
        w->res->steps[step].received++;
        hist_record(&w->res->steps[step].lat, lat);
    } else {
        w->res->late++;
    }
}

static void
on_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    pump_logins(w);
    if (!w->sending || w->n < 2)
        return;
    uint64_t elapsed = now_ns() - w->send_start_ns;
    uint64_t due = (uint64_t)(w->rate * (double)elapsed / 1e9);
    /* After a stall, catch up in slices so that receiving is not starved. */
    uint64_t cap = (uint64_t)(w->rate / 20) + 1;
    for (uint64_t k = 0; w->step_sent < due && k < cap; k++)
        send_one(w);
}

static void step_start(struct worker *w);

/* A step is good with nothing lost, no session dropped and p99 within the limit. */
static bool
step_good(const struct bench_options *o, const struct bench_step *s)
{
    return s->sent > 0 && s->received == s->sent && s->dropped == 0 &&
           (double)hist_percentile(&s->lat, 99) <= o->step_p99_ms * 1e6;
}

static void
drain_check(uv_timer_t *t)
{
    struct worker *w = t->data;
    struct bench_step *s = &w->res->steps[w->step];
    bool timeout = now_ns() - w->send_start_ns >= (uint64_t)((s->secs + w->o->drain_s) * 1e9);
    if (s->received < s->sent && !timeout)
        return;
    uv_timer_stop(t);
    w->step_open = false;
    if (w->o->server_pid > 0)
        procstat_read(w->o->server_pid, &s->server_end);
    /* The generator shares the machine: its own load tells whether a step measured
     * the server or the generator. */
    struct procstat gen_end;
    if (procstat_read(getpid(), &gen_end) == 0 && s->gen_start.valid) {
        s->gen_cpu_us = gen_end.cpu_us - s->gen_start.cpu_us;
        s->gen_secs = (double)(now_ns() - w->send_start_ns) / 1e9;
    }
    w->res->n_steps = w->step + 1;
    bool more = w->o->step && step_good(w->o, s) && w->step + 1 < BENCH_MAX_STEPS &&
                (w->o->step_max_rate <= 0 || w->rate * w->o->step_factor <= w->o->step_max_rate);
    if (w->o->step)
        fprintf(stderr,
                "yerba-bench: step %u: %.0f msg/s, sent %" PRIu64 ", received %" PRIu64
                ", p99 %.3f ms%s\n",
                w->step + 1, s->rate, s->sent, s->received, hist_percentile(&s->lat, 99) / 1e6,
                s->saturated ? " (generator saturated)" : "");
    if (more) {
        w->step++;
        w->rate *= w->o->step_factor;
        step_start(w);
    } else {
        end_measure(w);
    }
}

static void
step_stop_sending(uv_timer_t *t)
{
    struct worker *w = t->data;
    struct bench_step *s = &w->res->steps[w->step];
    w->sending = false;
    s->saturated = (double)w->step_sent < 0.98 * w->rate * s->secs;
    uv_timer_start(&w->phase_timer, drain_check, 10, 10);
}

static void
step_start(struct worker *w)
{
    struct bench_step *s = &w->res->steps[w->step];
    s->rate = w->rate;
    s->secs = w->o->step ? w->o->step_s : w->o->duration_s;
    hist_init(&s->lat);
    if (w->o->server_pid > 0)
        procstat_read(w->o->server_pid, &s->server_start);
    procstat_read(getpid(), &s->gen_start);
    w->step_sent = 0;
    w->send_start_ns = now_ns();
    w->sending = true;
    w->step_open = true;
    uv_timer_start(&w->phase_timer, step_stop_sending, (uint64_t)(s->secs * 1000), 0);
}

/* --- churn ------------------------------------------------------------ */

/* Logs out a random online session for every 1/(churn_per_s * n) seconds passed;
 * the logout's completion queues the login again (on_closed). */
static void
churn(struct worker *w)
{
    w->churn_credit += w->o->churn_per_s * w->n * SWEEP_MS / 1000.0;
    for (unsigned tries = 0; w->churn_credit >= 1 && tries < 4 * w->n; tries++) {
        struct bclient *b = &w->cl[rng_next(w) % w->n];
        if (b->st != BC_ONLINE)
            continue;
        logout(b);
        w->churn_credit -= 1;
    }
    if (w->churn_credit > 1)
        w->churn_credit = 1; /* nobody online to cycle: do not build up a burst */
}

static void
on_sweep(uv_timer_t *t)
{
    struct worker *w = t->data;
    uint64_t now = now_ns(), limit = (uint64_t)(w->o->login_timeout_s * 1e9);
    for (unsigned i = 0; i < w->n; i++) {
        struct bclient *b = &w->cl[i];
        if (b->st == BC_LOGIN && now - b->t_start > limit && !b->timed_out) {
            b->timed_out = true;
            client_abort(b->c);
        }
    }
    if (w->phase == PH_MEASURE && w->o->scenario == SCENARIO_CHURN &&
        now - w->churn_start_ns < (uint64_t)(w->o->duration_s * 1e9))
        churn(w);
}

/* --- rosterchurn and slowreader: the side process does the measured part --- */

static void
on_side_result(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    struct worker *w = p->data;
    uv_poll_stop(p);
    uv_timer_stop(&w->rss_timer);
    struct side_result *sr = w->o->side;
    /* side_finish() reads the rest; keep what run.c measured itself */
    uint64_t sent = sr->sr_sent, errs = sr->sr_send_errors;
    int64_t before = sr->sr_rss_before_kib, peak = sr->sr_rss_peak_kib;
    w->o->side->magic = 0;
    if (side_finish(0, w->o->side_fd, sr) != 0)
        fprintf(stderr, "yerba-bench: the side process gave no result\n");
    sr->sr_sent = sent;
    sr->sr_send_errors = errs;
    sr->sr_rss_before_kib = before;
    sr->sr_rss_peak_kib = peak;
    end_measure(w);
}

static void
on_rss_sample(uv_timer_t *t)
{
    struct worker *w = t->data;
    struct procstat ps;
    if (w->o->server_pid > 0 && procstat_read(w->o->server_pid, &ps) == 0 &&
        ps.rss_kib > w->o->side->sr_rss_peak_kib)
        w->o->side->sr_rss_peak_kib = ps.rss_kib;
}

/* Every online client sends its share of --burst-kib to the victim's full JID. */
static void
send_burst(struct worker *w)
{
    const struct bench_options *o = w->o;
    struct side_result *sr = o->side;
    size_t body = (size_t)o->msg_bytes;
    char *msg = yb_malloc(body + 256);
    uint64_t total = (uint64_t)o->burst_kib * 1024 / body + 1;
    for (uint64_t k = 0; msg != NULL && k < total;) {
        bool any = false;
        for (unsigned i = 0; i < w->n && k < total; i++) {
            struct bclient *b = &w->cl[i];
            if (b->st != BC_ONLINE)
                continue;
            any = true;
            int len = snprintf(msg, body + 256, "<message to='%s%d@%s/slow' type='headline'><body>",
                               o->users, o->special_user, o->domain);
            memset(msg + len, 'x', body);
            len += (int)body;
            len += snprintf(msg + len, 64, "</body></message>");
            if (client_send_raw(b->c, msg, (size_t)len) == 0)
                sr->sr_sent++;
            else
                sr->sr_send_errors++;
            k++;
        }
        if (!any)
            break;
    }
    yb_free(msg);
}

static void on_phase_end(uv_timer_t *t);

static void
side_measure(struct worker *w)
{
    const struct bench_options *o = w->o;
    if (o->side_fd < 0 || o->side == NULL) {
        end_measure(w);
        return;
    }
    side_signal(o->side_fd, 'G');
    if (o->scenario == SCENARIO_SLOWREADER) {
        struct procstat ps;
        if (o->server_pid > 0 && procstat_read(o->server_pid, &ps) == 0)
            o->side->sr_rss_before_kib = o->side->sr_rss_peak_kib = ps.rss_kib;
        if (side_wait(o->side_fd) != 'R') {
            end_measure(w);
            return;
        }
        send_burst(w);
        uv_timer_start(&w->rss_timer, on_rss_sample, 20, 20);
        /* 'B' after the settle (on_burst_settled), then the result */
        uv_timer_start(&w->phase_timer, on_phase_end, (uint64_t)(o->duration_s * 1000), 0);
        return;
    }
    uv_poll_start(&w->side_poll, UV_READABLE, on_side_result);
}

/* --- phases ------------------------------------------------------------- */

static void
on_phase_end(uv_timer_t *t)
{
    struct worker *w = t->data;
    if (w->o->scenario == SCENARIO_CHURN && (w->inflight > 0 || w->q_len > 0)) {
        uv_timer_start(t, on_phase_end, 50, 0); /* let the last cycles finish */
        return;
    }
    if (w->o->scenario == SCENARIO_SLOWREADER) {
        /* the burst had its time: let the victim read again and report */
        side_signal(w->o->side_fd, 'B');
        uv_poll_start(&w->side_poll, UV_READABLE, on_side_result);
        return;
    }
    end_measure(w);
}

static void
start_measure(struct worker *w)
{
    const struct bench_options *o = w->o;
    w->res->online = w->online;
    w->phase = PH_MEASURE;
    switch (o->scenario) {
    case SCENARIO_LOGIN:
        end_measure(w);
        break;
    case SCENARIO_IDLE:
        uv_timer_start(&w->phase_timer, on_phase_end, (uint64_t)(o->duration_s * 1000), 0);
        break;
    case SCENARIO_CHURN:
        w->churn_start_ns = now_ns();
        uv_timer_start(&w->phase_timer, on_phase_end, (uint64_t)(o->duration_s * 1000), 0);
        break;
    case SCENARIO_CHAT:
        w->rate = o->rate;
        w->step = 0;
        step_start(w);
        break;
    case SCENARIO_HALFOPEN: /* yerba-bench.c runs it as two login passes */
        end_measure(w);
        break;
    case SCENARIO_ROSTERCHURN:
    case SCENARIO_SLOWREADER:
        side_measure(w);
        break;
    }
}

static void
end_measure(struct worker *w)
{
    uv_timer_stop(&w->phase_timer);
    w->sending = false;
    w->step_open = false;
    barrier(w, 2, start_logout);
}

static void
on_logout_deadline(uv_timer_t *t)
{
    struct worker *w = t->data;
    for (unsigned i = 0; i < w->n; i++)
        if (w->cl[i].c)
            client_abort(w->cl[i].c);
}

static void
start_logout(struct worker *w)
{
    w->phase = PH_LOGOUT;
    w->q_len = 0;
    if (w->open == 0) {
        w->phase = PH_DONE;
        uv_stop(&w->loop);
        return;
    }
    uv_timer_start(&w->phase_timer, on_logout_deadline, LOGOUT_WAIT_MS, 0);
    for (unsigned i = 0; i < w->n; i++)
        if (w->cl[i].st == BC_ONLINE)
            logout(&w->cl[i]);
    /* logins still in flight are closed when they come online (on_online) */
}

static void
start_logins(struct worker *w)
{
    w->phase = PH_LOGIN;
    w->ramp_start_ns = now_ns();
    if (w->n == 0) {
        barrier(w, 1, start_measure);
        return;
    }
    for (unsigned i = 0; i < w->n; i++)
        enqueue_login(w, i);
    pump_logins(w);
}

/* --- setup ---------------------------------------------------------------- */

static void
close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int
bench_run(const struct bench_options *o, int ctl_fd, struct bench_result *res)
{
    struct worker w;
    memset(&w, 0, sizeof w);
    w.o = o;
    w.res = res;
    w.ctl_fd = ctl_fd;
    w.n = (unsigned)o->clients;
    w.run_id = now_ns() ^ ((uint64_t)getpid() << 32);
    w.rng = w.run_id | 1;
    res->clients = w.n;
    res->workers = 1;
    int rc = 0;
    if (uv_loop_init(&w.loop) != 0)
        return -1;
    struct net_config nc = {.max_output_bytes = 4u << 20};
    parser_limits_default(&nc.parser);
    w.net = net_new(&w.loop, &nc);
    w.cl = yb_calloc(w.n ? w.n : 1, sizeof *w.cl);
    w.queue = yb_calloc(w.n ? w.n : 1, sizeof *w.queue);
    if (w.net == NULL || w.cl == NULL || w.queue == NULL) {
        fprintf(stderr, "yerba-bench: cannot set up the network layer\n");
        w.n = 0; /* still pass the barriers so the parent is not left waiting */
        rc = -1;
    }
    for (unsigned i = 0; i < w.n; i++) {
        w.cl[i].w = &w;
        w.cl[i].idx = i;
    }
    uv_timer_init(&w.loop, &w.tick);
    uv_timer_init(&w.loop, &w.sweep);
    uv_timer_init(&w.loop, &w.phase_timer);
    uv_timer_init(&w.loop, &w.defer);
    uv_timer_init(&w.loop, &w.rss_timer);
    w.rss_timer.data = &w;
    if (o->side_fd >= 0) {
        uv_poll_init(&w.loop, &w.side_poll, o->side_fd);
        w.side_poll.data = &w;
    }
    w.tick.data = w.sweep.data = w.phase_timer.data = w.defer.data = &w;
    if (ctl_fd >= 0) {
        uv_poll_init(&w.loop, &w.ctl_poll, ctl_fd);
        w.ctl_poll.data = &w;
    }
    uv_timer_start(&w.tick, on_tick, TICK_MS, TICK_MS);
    uv_timer_start(&w.sweep, on_sweep, SWEEP_MS, SWEEP_MS);

    barrier(&w, 0, start_logins);
    uv_run(&w.loop, UV_RUN_DEFAULT);

    net_free(w.net);
    uv_walk(&w.loop, close_handle, NULL);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    uv_loop_close(&w.loop);
    yb_free(w.cl);
    yb_free(w.queue);
    res->magic = BENCH_RESULT_MAGIC;
    return rc;
}
