/* SPDX-License-Identifier: MIT
 *
 * report.c: merging workers' results and printing them: one human-readable block,
 * and with --json one JSON line holding every figure (null where a figure does not
 * apply to the scenario or no server PID was given). docs/bench.md explains each.
 */
#include "bench.h"

#include <inttypes.h>
#include <string.h>

const char *
bench_scenario_name(enum bench_scenario s)
{
    static const char *const names[] = {"idle",     "chat",        "login",     "churn",
                                        "halfopen", "rosterchurn", "slowreader"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

void
bench_result_init(struct bench_result *r)
{
    memset(r, 0, sizeof *r);
    hist_init(&r->login_lat);
    hist_init(&r->msg_lat);
    for (unsigned i = 0; i < BENCH_MAX_STEPS; i++)
        hist_init(&r->steps[i].lat);
}

void
bench_result_merge(struct bench_result *dst, const struct bench_result *src, bool first)
{
    dst->workers += src->workers;
    dst->clients += src->clients;
    dst->logins_ok += src->logins_ok;
    dst->first_logins_ok += src->first_logins_ok;
    dst->logins_failed += src->logins_failed;
    dst->login_timeouts += src->login_timeouts;
    for (unsigned i = 0; i < CLIENT_N_ERRORS; i++)
        dst->fails[i] += src->fails[i];
    dst->online += src->online;
    dst->dropped += src->dropped;
    dst->logouts_ok += src->logouts_ok;
    dst->sent += src->sent;
    dst->received += src->received;
    dst->late += src->late;
    dst->foreign += src->foreign;
    dst->churn_cycles += src->churn_cycles;
    hist_merge(&dst->login_lat, &src->login_lat);
    hist_merge(&dst->msg_lat, &src->msg_lat);
    if (first)
        memcpy(dst->marks, src->marks, sizeof dst->marks);
    if (first || src->n_steps < dst->n_steps)
        dst->n_steps = src->n_steps;
    for (unsigned i = 0; i < src->n_steps && i < BENCH_MAX_STEPS; i++) {
        struct bench_step *d = &dst->steps[i];
        const struct bench_step *s = &src->steps[i];
        d->rate += s->rate;
        d->secs = d->secs > s->secs ? d->secs : s->secs;
        d->sent += s->sent;
        d->received += s->received;
        d->dropped += s->dropped;
        d->saturated = d->saturated || s->saturated;
        /* Steps run at the same times in every worker: one worker's view of the
         * server's CPU is the whole server's. */
        if (!d->server_start.valid) {
            d->server_start = s->server_start;
            d->server_end = s->server_end;
        }
        d->gen_cpu_us += s->gen_cpu_us;
        d->gen_secs = d->gen_secs > s->gen_secs ? d->gen_secs : s->gen_secs;
        hist_merge(&d->lat, &s->lat);
    }
    if (dst->first_failure[0] == '\0')
        memcpy(dst->first_failure, src->first_failure, sizeof dst->first_failure);
}

/* --- figures ------------------------------------------------------------ */

struct figures {
    double login_s, logins_per_s;
    double measure_s;
    bool server; /* marks 0-2 hold server figures */
    double cpu_login_us, cpu_msg_us, cpu_cycle_us, cpu_measure_pct;
    double rss_per_session_kib;
    double rss_held_per_session_kib; /* idle: after the hold */
    double send_s;                   /* seconds of sending, all steps */
    double send_rate;                /* messages sent in those steps per second */
    int best_step;                   /* step mode: the highest good step, -1 if none */
};

static bool
step_good(const struct bench_options *o, const struct bench_step *s)
{
    return s->sent > 0 && s->received == s->sent && s->dropped == 0 &&
           (double)hist_percentile(&s->lat, 99) <= o->step_p99_ms * 1e6;
}

static double
per(double num, double den)
{
    return den > 0 ? num / den : -1;
}

static void
compute(const struct bench_options *o, const struct bench_result *r, struct figures *f)
{
    memset(f, 0, sizeof *f);
    const struct bench_mark *m = r->marks;
    f->login_s = (double)(m[1].t_ns - m[0].t_ns) / 1e9;
    f->logins_per_s = per((double)r->first_logins_ok, f->login_s);
    f->measure_s = (double)(m[2].t_ns - m[1].t_ns) / 1e9;
    f->server = m[0].server.valid && m[1].server.valid && m[2].server.valid;
    if (f->server) {
        double cpu_login = (double)(m[1].server.cpu_us - m[0].server.cpu_us);
        double cpu_measure = (double)(m[2].server.cpu_us - m[1].server.cpu_us);
        f->cpu_login_us = per(cpu_login, (double)r->first_logins_ok);
        f->cpu_msg_us = per(cpu_measure, (double)r->received);
        f->cpu_cycle_us = per(cpu_measure, (double)r->churn_cycles);
        f->cpu_measure_pct = per(cpu_measure / 1e4, f->measure_s);
        f->rss_per_session_kib =
            per((double)(m[1].server.rss_kib - m[0].server.rss_kib), (double)r->online);
        f->rss_held_per_session_kib =
            per((double)(m[2].server.rss_kib - m[0].server.rss_kib), (double)r->online);
    }
    f->best_step = -1;
    uint64_t step_sent = 0;
    for (unsigned i = 0; i < r->n_steps; i++) {
        f->send_s += r->steps[i].secs;
        step_sent += r->steps[i].sent;
        if (o->step && step_good(o, &r->steps[i]))
            f->best_step = (int)i;
        else if (o->step)
            break;
    }
    f->send_rate = f->send_s > 0 ? (double)step_sent / f->send_s : 0;
}

static double
ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void
print_hist(FILE *f, const char *label, const struct hist *h)
{
    fprintf(f,
            "%-10s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms (%" PRIu64 " samples)\n",
            label, ms(hist_percentile(h, 50)), ms(hist_percentile(h, 90)),
            ms(hist_percentile(h, 99)), ms(hist_percentile(h, 99.9)), ms(h->max_ns), h->count);
}

static void
print_human(const struct bench_options *o, const struct bench_result *r, const struct figures *g,
            FILE *f)
{
    fprintf(f, "yerba-bench %s: %" PRIu64 " clients in %d process%s, %s, %s, %s:%d\n",
            bench_scenario_name(o->scenario), r->clients, r->workers, r->workers == 1 ? "" : "es",
            o->direct_tls ? "direct TLS" : "STARTTLS", client_sasl_mech(o->sasl), o->host, o->port);
    fprintf(f, "logins     %" PRIu64 " ok, %" PRIu64 " failed", r->logins_ok, r->logins_failed);
    if (r->logins_failed) {
        fprintf(f, " (");
        const char *sep = "";
        for (unsigned i = 1; i < CLIENT_N_ERRORS; i++) {
            if (r->fails[i]) {
                fprintf(f, "%s%s %" PRIu64, sep, client_error_name(i), r->fails[i]);
                sep = ", ";
            }
        }
        if (r->login_timeouts)
            fprintf(f, "%stimeout %" PRIu64, sep, r->login_timeouts);
        fprintf(f, ")");
    }
    fprintf(f, "; first logins in %.2f s: %.1f logins/s\n", g->login_s,
            g->logins_per_s > 0 ? g->logins_per_s : 0);
    print_hist(f, "login", &r->login_lat);
    fprintf(f,
            "sessions   %" PRIu64 " online after the logins, %" PRIu64 " dropped, %" PRIu64
            " clean logouts\n",
            r->online, r->dropped, r->logouts_ok);
    if (o->scenario == SCENARIO_CHAT) {
        fprintf(f,
                "messages   sent %" PRIu64 ", received %" PRIu64 ", lost %" PRIu64 " (late %" PRIu64
                ", foreign %" PRIu64 "), %.1f msg/s sent\n",
                r->sent, r->received, r->sent > r->received ? r->sent - r->received : 0, r->late,
                r->foreign, g->send_rate);
        print_hist(f, "latency", &r->msg_lat);
    }
    if (o->scenario == SCENARIO_CHAT && o->step) {
        for (unsigned i = 0; i < r->n_steps; i++) {
            const struct bench_step *s = &r->steps[i];
            fprintf(f,
                    "step %-5u %.0f msg/s: sent %" PRIu64 ", received %" PRIu64 ", dropped %" PRIu64
                    ", p99 %.3f ms%s%s",
                    i + 1, s->rate, s->sent, s->received, s->dropped,
                    ms(hist_percentile(&s->lat, 99)), step_good(o, s) ? "" : " BAD",
                    s->saturated ? " (generator saturated)" : "");
            if (s->server_start.valid && s->server_end.valid && s->received)
                fprintf(f, ", server %.2f µs/msg",
                        (double)(s->server_end.cpu_us - s->server_start.cpu_us) /
                            (double)s->received);
            if (s->gen_secs > 0 && s->received)
                fprintf(f, ", generator %.2f µs/msg (%.0f %% of a core)",
                        (double)s->gen_cpu_us / (double)s->received,
                        (double)s->gen_cpu_us / 1e4 / s->gen_secs);
            fprintf(f, "\n");
        }
        if (g->best_step >= 0)
            fprintf(f, "best       %.0f msg/s without loss and with p99 <= %.0f ms\n",
                    r->steps[g->best_step].rate, o->step_p99_ms);
        else
            fprintf(f, "best       no step without loss and with p99 <= %.0f ms\n", o->step_p99_ms);
    }
    if (o->scenario == SCENARIO_CHURN)
        fprintf(f, "churn      %" PRIu64 " logout/login cycles in %.2f s: %.1f/s\n",
                r->churn_cycles, g->measure_s, per((double)r->churn_cycles, g->measure_s));
    if (g->server) {
        const struct bench_mark *m = r->marks;
        fprintf(f, "server     rss %" PRId64 " KiB before, %" PRId64 " KiB after the logins",
                m[0].server.rss_kib, m[1].server.rss_kib);
        if (r->online)
            fprintf(f, " (%.2f KiB/session)", g->rss_per_session_kib);
        if (o->scenario == SCENARIO_IDLE) {
            /* What idle sessions cost once the server has had time to notice that
             * they are idle (its idle sweep frees parser and TLS buffers). */
            fprintf(f, ", %" PRId64 " KiB after the hold", m[2].server.rss_kib);
            if (r->online)
                fprintf(f, " (%.2f KiB/session)", g->rss_held_per_session_kib);
        }
        if (g->cpu_login_us >= 0)
            fprintf(f, "; cpu %.1f µs/login", g->cpu_login_us);
        if (o->scenario == SCENARIO_CHAT && r->received)
            fprintf(f, ", %.2f µs/delivered message", g->cpu_msg_us);
        if (o->scenario == SCENARIO_CHURN && r->churn_cycles)
            fprintf(f, ", %.1f µs/cycle", g->cpu_cycle_us);
        fprintf(f, ", %.1f %% of a core while measuring%s\n", g->cpu_measure_pct,
                m[0].server.cpu_is_ticks ? " (clock ticks)" : "");
    }
    if (r->first_failure[0])
        fprintf(f, "first failure: %s\n", r->first_failure);
}

/* JSON numbers: negative "per" results (nothing to divide by) become null. */
static void
jnum(FILE *f, const char *key, double v, bool ok)
{
    if (ok && v >= 0)
        fprintf(f, ",\"%s\":%.3f", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

static void
jhist(FILE *f, const char *prefix, const struct hist *h)
{
    static const struct {
        const char *name;
        double p;
    } pcts[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}};
    char key[64];
    for (unsigned i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
        snprintf(key, sizeof key, "%s_%s_ms", prefix, pcts[i].name);
        jnum(f, key, ms(hist_percentile(h, pcts[i].p)), h->count > 0);
    }
    snprintf(key, sizeof key, "%s_max_ms", prefix);
    jnum(f, key, ms(h->max_ns), h->count > 0);
    snprintf(key, sizeof key, "%s_mean_ms", prefix);
    jnum(f, key, ms(hist_mean(h)), h->count > 0);
}

static void
jstr(FILE *f, const char *key, const char *s)
{
    fprintf(f, ",\"%s\":\"", key);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void
print_json(const struct bench_options *o, const struct bench_result *r, const struct figures *g,
           FILE *f)
{
    bool chat = o->scenario == SCENARIO_CHAT;
    fprintf(f, "{\"scenario\":\"%s\",\"clients\":%" PRIu64 ",\"procs\":%d",
            bench_scenario_name(o->scenario), r->clients, r->workers);
    jstr(f, "tls", o->direct_tls ? "direct" : "starttls");
    jstr(f, "sasl", client_sasl_mech(o->sasl));
    fprintf(f,
            ",\"logins_ok\":%" PRIu64 ",\"logins_failed\":%" PRIu64 ",\"login_timeouts\":%" PRIu64,
            r->logins_ok, r->logins_failed, r->login_timeouts);
    for (unsigned i = 1; i < CLIENT_N_ERRORS; i++)
        fprintf(f, ",\"fail_%s\":%" PRIu64, client_error_name(i), r->fails[i]);
    jnum(f, "login_secs", g->login_s, true);
    jnum(f, "logins_per_s", g->logins_per_s, true);
    jhist(f, "login", &r->login_lat);
    fprintf(f, ",\"online\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"logouts_ok\":%" PRIu64, r->online,
            r->dropped, r->logouts_ok);
    jnum(f, "measure_secs", g->measure_s, true);
    fprintf(f,
            ",\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"late\":%" PRIu64
            ",\"foreign\":%" PRIu64,
            r->sent, r->received, r->sent > r->received ? r->sent - r->received : 0, r->late,
            r->foreign);
    jnum(f, "send_rate", g->send_rate, chat);
    jhist(f, "lat", &r->msg_lat);
    fprintf(f, ",\"churn_cycles\":%" PRIu64, r->churn_cycles);
    jnum(f, "churn_cycles_per_s", per((double)r->churn_cycles, g->measure_s),
         o->scenario == SCENARIO_CHURN);
    const struct bench_mark *m = r->marks;
    jnum(f, "server_rss_before_kib", (double)m[0].server.rss_kib, g->server);
    jnum(f, "server_rss_after_kib", (double)m[1].server.rss_kib, g->server);
    jnum(f, "server_rss_per_session_kib", g->rss_per_session_kib, g->server && r->online);
    jnum(f, "server_rss_held_kib", (double)m[2].server.rss_kib,
         g->server && o->scenario == SCENARIO_IDLE);
    jnum(f, "server_rss_held_per_session_kib", g->rss_held_per_session_kib,
         g->server && r->online && o->scenario == SCENARIO_IDLE);
    jnum(f, "server_cpu_us_per_login", g->cpu_login_us, g->server);
    jnum(f, "server_cpu_us_per_msg", g->cpu_msg_us, g->server && chat);
    jnum(f, "server_cpu_us_per_cycle", g->cpu_cycle_us, g->server && o->scenario == SCENARIO_CHURN);
    jnum(f, "server_cpu_pct_measure", g->cpu_measure_pct, g->server);
    fprintf(f, ",\"steps\":[");
    for (unsigned i = 0; chat && o->step && i < r->n_steps; i++) {
        const struct bench_step *s = &r->steps[i];
        bool cpu = s->server_start.valid && s->server_end.valid && s->received;
        fprintf(f,
                "%s{\"rate\":%.1f,\"sent\":%" PRIu64 ",\"received\":%" PRIu64
                ",\"dropped\":%" PRIu64 ",\"good\":%s,\"saturated\":%s",
                i ? "," : "", s->rate, s->sent, s->received, s->dropped,
                step_good(o, s) ? "true" : "false", s->saturated ? "true" : "false");
        jnum(f, "p99_ms", ms(hist_percentile(&s->lat, 99)), s->lat.count > 0);
        jnum(f, "server_cpu_us_per_msg",
             cpu ? (double)(s->server_end.cpu_us - s->server_start.cpu_us) / (double)s->received
                 : 0,
             cpu);
        bool gen = s->gen_secs > 0 && s->received;
        jnum(f, "generator_cpu_us_per_msg", gen ? (double)s->gen_cpu_us / (double)s->received : 0,
             gen);
        jnum(f, "generator_cpu_pct", gen ? (double)s->gen_cpu_us / 1e4 / s->gen_secs : 0, gen);
        fprintf(f, "}");
    }
    fprintf(f, "]");
    jnum(f, "best_rate", g->best_step >= 0 ? r->steps[g->best_step].rate : 0,
         chat && o->step && g->best_step >= 0);
    jstr(f, "first_failure", r->first_failure);
    fprintf(f, ",\"exit\":%d}\n", bench_exit_code(o, r));
}

void
bench_report(const struct bench_options *o, const struct bench_result *r, FILE *f)
{
    struct figures g;
    compute(o, r, &g);
    print_human(o, r, &g, f);
    if (o->json)
        print_json(o, r, &g, f);
    fflush(f);
}

int
bench_exit_code(const struct bench_options *o, const struct bench_result *r)
{
    double failures = (double)(r->logins_failed + (o->step ? 0 : r->dropped));
    if (r->clients > 0 && failures * 100.0 > o->fail_pct * (double)r->clients)
        return 1;
    if (r->magic != BENCH_RESULT_MAGIC || r->workers < o->procs ||
        (r->clients > 0 && r->logins_ok == 0))
        return 3;
    return 0;
}
