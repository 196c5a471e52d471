/* SPDX-License-Identifier: MIT
 *
 * mod_ping.c: XEP-0199 XMPP Ping. Answers pings sent to a served domain (§4.2) and
 * to an existing account's bare JID (the server answers on the account's behalf,
 * RFC 6120 §10.3.3). Keepalive (§4.1): a client silent for c2s ping_interval gets a
 * ping from the server, and its stream is closed with connection-timeout when
 * neither an answer (result or error) nor anything else arrives within
 * ping_timeout.
 */
#include <string.h>

#include "module_api.h"

#define NS_PING      "urn:xmpp:ping"
#define TICK_MS      1000
#define MAX_PER_TICK 256

static struct module *self_module;
static struct module_timer *tick_timer;

/* An outstanding server ping on a session. */
struct ping_state {
    char id[24];
    uint64_t sent_ms; /* clock_mono_ms() */
};

static enum hook_result
on_ping_host(struct iq_request *req, void *ud)
{
    (void)ud;
    iq_reply_result(req);
    return HOOK_HANDLED;
}

static void
on_user_loaded(struct user *u, int status, void *ud)
{
    (void)status;
    struct iq_request *req = ud;
    if (u == NULL)
        iq_reply_error(req, SE_SERVICE_UNAVAILABLE, NULL); /* RFC 6121 §8.5.1 */
    else
        iq_reply_result(req);
}

static enum hook_result
on_ping_bare(struct iq_request *req, void *ud)
{
    (void)ud;
    const struct jid *to = iq_request_to(req);
    if (to == NULL || iq_request_from_self(req)) {
        iq_reply_result(req);
        return HOOK_HANDLED;
    }
    if (user_find(to->bare) != NULL) {
        iq_reply_result(req);
        return HOOK_HANDLED;
    }
    iq_request_keep(req); /* user_acquire may call back at once */
    user_acquire(to->domain, to->node, on_user_loaded, req);
    return HOOK_HANDLED;
}

/* ---- keepalive ---- */

static void
clear_state(struct session *s)
{
    struct ping_state *ps = session_get_data(s, self_module);
    if (ps == NULL)
        return;
    session_set_data(s, self_module, NULL);
    yb_free(ps);
}

/* A client's answer to our ping is a result or error addressed to the server
 * (which iq dispatch would drop): take it here. */
static enum hook_result
on_stanza_out(struct event *ev, void *ud)
{
    (void)ud;
    struct ping_state *ps = session_get_data(ev->session, self_module);
    if (ps == NULL || strcmp(stanza_name(ev->stanza), "iq") != 0)
        return HOOK_PASS;
    const char *type = stanza_attr(ev->stanza, "type");
    const char *id = stanza_attr(ev->stanza, "id");
    if (type == NULL || id == NULL || strcmp(id, ps->id) != 0 ||
        (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
        return HOOK_PASS;
    if (ev->to != NULL && (ev->to->node != NULL || ev->to->resource != NULL ||
                           strcmp(ev->to->domain, session_domain(ev->session)) != 0))
        return HOOK_PASS;
    clear_state(ev->session);
    return HOOK_HANDLED;
}

static enum hook_result
on_session_closed(struct event *ev, void *ud)
{
    (void)ud;
    clear_state(ev->session);
    return HOOK_PASS;
}

struct sweep {
    uint64_t now_ms, interval_ms, timeout_ms;
    struct session *expired[MAX_PER_TICK];
    size_t n_expired;
    size_t n_sent;
};

static void
send_ping(struct session *s, struct ping_state *ps)
{
    struct stanza *iq = stanza_new("iq", NS_CLIENT);
    stanza_set_attr(iq, "type", "get");
    stanza_set_attr(iq, "id", ps->id);
    stanza_set_attr(iq, "from", session_domain(s));
    stanza_set_attr(iq, "to", session_jid(s)->full);
    node_add_child(stanza_root(iq), "ping", NS_PING);
    session_send(s, iq);
}

static void
check_session(void *ud, struct session *s)
{
    struct sweep *sw = ud;
    struct ping_state *ps = session_get_data(s, self_module);
    uint64_t idle = session_idle_ms(s);
    if (ps != NULL) {
        uint64_t since = sw->now_ms - ps->sent_ms;
        if (idle < since) {
            clear_state(s); /* it spoke after our ping: alive */
        } else if (since >= sw->timeout_ms && sw->n_expired < MAX_PER_TICK) {
            sw->expired[sw->n_expired++] = s;
        }
        return;
    }
    if (idle < sw->interval_ms || sw->n_sent >= MAX_PER_TICK)
        return;
    ps = yb_calloc(1, sizeof *ps);
    memcpy(ps->id, "ping-", 5);
    server_random_id(ps->id + 5);
    ps->sent_ms = sw->now_ms;
    session_set_data(s, self_module, ps);
    sw->n_sent++;
    send_ping(s, ps);
}

static void
on_tick(void *ud)
{
    (void)ud;
    const struct config *cfg = server_config();
    if (cfg->ping_interval_s == 0)
        return;
    struct sweep *sw = yb_calloc(1, sizeof *sw);
    sw->now_ms = clock_mono_ms();
    sw->interval_ms = (uint64_t)cfg->ping_interval_s * 1000;
    sw->timeout_ms = (uint64_t)cfg->ping_timeout_s * 1000;
    session_foreach(NULL, check_session, sw);
    /* Closed after the walk: session_foreach's callback must not end sessions. */
    for (size_t i = 0; i < sw->n_expired; i++) {
        log_info("ping", "%s did not answer a ping; closing", session_jid(sw->expired[i])->full);
        clear_state(sw->expired[i]);
        session_close_error(sw->expired[i], STE_CONNECTION_TIMEOUT, "no answer to ping");
    }
    yb_free(sw);
}

static void
drop_state(void *ud, struct session *s)
{
    (void)ud;
    clear_state(s);
}

static int
ping_load(struct module *m)
{
    self_module = m;
    int rc = module_add_feature(m, NS_PING);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_HOST, NS_PING, "ping", on_ping_host, NULL);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_BARE, NS_PING, "ping", on_ping_bare, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_STANZA_OUT, 100, on_stanza_out, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_SESSION_CLOSED, 0, on_session_closed, NULL);
    if (rc == 0)
        tick_timer = module_timer_start(m, TICK_MS, on_tick, NULL);
    return rc;
}

static void
ping_unload(struct module *m)
{
    (void)m;
    module_timer_stop(tick_timer);
    tick_timer = NULL;
    session_foreach(NULL, drop_state, NULL);
}

MODULE_DEFINE(ping,
              .summary = "XMPP Ping: answers pings; pings silent clients and closes dead ones",
              .xeps = "0199@2.0.1",
              .notes = "Keepalive: c2s ping_interval and ping_timeout; any stanza from the "
                       "client after the ping also counts as an answer",
              .load = ping_load, .unload = ping_unload);
