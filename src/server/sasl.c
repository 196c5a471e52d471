/* SPDX-License-Identifier: MIT
 *
 * sasl.c: the server side of SASL on c2s streams (RFC 6120 §6): SCRAM-SHA-1/256/512
 * and their -PLUS variants with tls-exporter and tls-server-end-point channel binding
 * (RFC 5802, RFC 7677, RFC 9266, XEP-0440), and PLAIN over TLS (RFC 4616). Credential
 * lookups and password checks run off the core thread (auth.c); failures are answered
 * after a delay that grows per source address.
 */
#include <string.h>

#include "base64.h"
#include "sasl.h"
#include "server.h"

enum sasl_kind { SASL_KIND_SCRAM, SASL_KIND_PLAIN };

struct sasl_exchange {
    struct session *s;
    enum sasl_kind kind;
    enum scram_hash hash;
    bool plus;
    bool waiting; /* an asynchronous step is running */
    bool cancelled;
    int step; /* SCRAM: 0 before client-first, 1 after server-first */
    struct scram_server *scram;
    char *node;
};

/* Per source address: failures and when the last happened. */
struct auth_penalty {
    unsigned n_failures;
    uint64_t last_ms;
};

struct delayed_failure {
    uv_timer_t timer;
    struct session *s;
    enum sasl_failure failure;
};

static unsigned stream_failures_limit = 3;

/* Per account ("node@domain", existing or not): failures in the current window and
 * the block that follows account_max_failures of them (docs/config.md "Limits"). */
struct account_penalty {
    unsigned n_failures;
    uint64_t window_start_ms;
    uint64_t blocked_until_ms; /* 0: not blocked */
    struct limit_burst log;
};

static struct hashmap account_failures; /* "node@domain" -> struct account_penalty */
static bool account_failures_ready;

static char *
account_key(const struct session *s, const char *node)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s@%s", node, s->host->domain);
    return buf_steal(&b);
}

/* Whether node's logins are refused now (account_max_failures). */
static bool
account_blocked(const struct session *s, const char *node)
{
    if (!account_failures_ready || srv->cfg->account_max_failures == 0 || node == NULL)
        return false;
    char *key = account_key(s, node);
    struct account_penalty *p = hashmap_get(&account_failures, key);
    yb_free(key);
    return p != NULL && p->blocked_until_ms != 0 && clock_mono_ms() < p->blocked_until_ms;
}

/* A wrong password for node: counts towards its block. */
static void
account_failed(const struct session *s, const char *node)
{
    const struct config *cfg = srv->cfg;
    if (cfg->account_max_failures == 0 || node == NULL)
        return;
    if (!account_failures_ready) {
        hashmap_init(&account_failures);
        account_failures_ready = true;
    }
    char *key = account_key(s, node);
    struct account_penalty *p = hashmap_get(&account_failures, key);
    if (p == NULL) {
        p = yb_calloc(1, sizeof *p);
        hashmap_set(&account_failures, key, p);
    }
    uint64_t now = clock_mono_ms();
    uint64_t window = (uint64_t)cfg->account_block_s * 1000;
    if (p->n_failures == 0 || now - p->window_start_ms >= window) {
        p->n_failures = 0;
        p->window_start_ms = now;
    }
    if (++p->n_failures >= cfg->account_max_failures &&
        (p->blocked_until_ms == 0 || now >= p->blocked_until_ms)) {
        p->blocked_until_ms = now + window;
        p->n_failures = 0;
        srv->stats.accounts_blocked++;
        log_warn(s->who,
                 "account %s blocked for %u s after %u failed logins (account_max_failures)", key,
                 cfg->account_block_s, cfg->account_max_failures);
    }
    yb_free(key);
}

/* A login for a blocked account: refused without looking at the credentials. */
static void
account_refused(const struct session *s, const char *node)
{
    srv->stats.refused_account_blocked++;
    char *key = account_key(s, node);
    struct account_penalty *p = hashmap_get(&account_failures, key);
    uint64_t supp = 0;
    if (p != NULL && limit_burst_log(&p->log, &supp))
        log_warn(s->who,
                 "login for blocked account %s refused (from %s); %llu such refusals not "
                 "logged before",
                 key, s->conn ? conn_peer_ip(s->conn) : "?", (unsigned long long)supp);
    yb_free(key);
}

static void
send_str(struct session *s, const char *str)
{
    if (s->conn != NULL && s->state != C2S_CLOSING)
        conn_send_raw(s->conn, str, strlen(str));
}

static void
exchange_free(struct sasl_exchange *x)
{
    if (x == NULL)
        return;
    scram_server_free(x->scram);
    yb_free(x->node);
    yb_free(x);
}

static void
end_exchange(struct session *s)
{
    struct sasl_exchange *x = s->sasl;
    s->sasl = NULL;
    if (x == NULL)
        return;
    if (x->waiting)
        x->cancelled = true; /* the callback frees it */
    else
        exchange_free(x);
    if (s->state == C2S_SASL)
        s->state = C2S_NEGOTIATING;
}

void
sasl_cancel(struct session *s)
{
    end_exchange(s);
}

static void
send_failure_now(struct session *s, enum sasl_failure f)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "<failure xmlns='" NS_SASL "'><%s/></failure>", sasl_failure_name(f));
    send_str(s, b.data);
    buf_fini(&b);
}

static void
on_delayed_failure(uv_timer_t *t)
{
    struct delayed_failure *d = t->data;
    send_failure_now(d->s, d->failure);
    if (d->s->sasl_failures >= stream_failures_limit)
        c2s_stream_error(d->s, STE_NOT_AUTHORIZED, "too many failed authentication attempts");
    session_unref(d->s);
    uv_close((uv_handle_t *)&d->timer, (uv_close_cb)yb_free);
}

/* Wrong credentials: not-authorized after a delay that doubles with each failure
 * from the same address (DESIGN.md §8). */
static void
fail_credentials(struct session *s, enum sasl_failure f)
{
    if (s->sasl != NULL && s->sasl->node != NULL && f == SASL_NOT_AUTHORIZED)
        account_failed(s, s->sasl->node);
    end_exchange(s);
    srv->stats.auth_failures++;
    s->sasl_failures++;
    const char *ip = s->conn ? conn_peer_ip(s->conn) : "?";
    struct auth_penalty *p = hashmap_get(&srv->auth_failures, ip);
    if (p == NULL) {
        p = yb_calloc(1, sizeof *p);
        hashmap_set(&srv->auth_failures, ip, p);
    }
    p->n_failures++;
    p->last_ms = clock_mono_ms();
    uint64_t delay = srv->cfg->auth_fail_delay_ms;
    for (unsigned i = 1; i < p->n_failures && delay < srv->cfg->auth_fail_delay_max_ms; i++)
        delay *= 2;
    if (delay > srv->cfg->auth_fail_delay_max_ms)
        delay = srv->cfg->auth_fail_delay_max_ms;
    log_info(s->who, "authentication failed from %s (%u recent failures; answering in %llu ms)", ip,
             p->n_failures, (unsigned long long)delay);
    struct delayed_failure *d = yb_calloc(1, sizeof *d);
    d->s = s;
    d->failure = f;
    session_ref(s);
    uv_timer_init(srv->loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, on_delayed_failure, delay, 0);
}

/* A login for a blocked account: <temporary-auth-failure/> (RFC 6120 §6.5.12: try
 * again later), after the same per-address delay as a wrong password, and counted
 * towards the stream's failures, so that guessing on stays as slow as before. */
static void
blocked_failure(struct session *s)
{
    fail_credentials(s, SASL_TEMPORARY_AUTH_FAILURE);
}

/* Malformed exchanges fail at once: they are protocol errors, not guesses. */
static void
fail_protocol(struct session *s, enum sasl_failure f)
{
    end_exchange(s);
    send_failure_now(s, f);
}

static void
prune_accounts(uint64_t now)
{
    if (!account_failures_ready)
        return;
    uint64_t window = (uint64_t)srv->cfg->account_block_s * 1000;
    struct hashmap_iter it;
    const char *key;
    void *v;
    hashmap_iter_init(&it, &account_failures);
    while (hashmap_iter_next(&it, &key, &v)) {
        struct account_penalty *p = v;
        bool blocked = p->blocked_until_ms != 0 && now < p->blocked_until_ms;
        bool window_open = p->n_failures > 0 && now - p->window_start_ms < window;
        if (!blocked && !window_open) {
            hashmap_remove(&account_failures, key);
            yb_free(p);
        }
    }
}

void
sasl_prune_penalties(void)
{
    uint64_t now = clock_mono_ms();
    struct hashmap_iter it;
    const char *ip;
    void *v;
    hashmap_iter_init(&it, &srv->auth_failures);
    while (hashmap_iter_next(&it, &ip, &v)) {
        struct auth_penalty *p = v;
        /* Forget an address ten minutes after its last failure. */
        if (now - p->last_ms > 600000) {
            hashmap_remove(&srv->auth_failures, ip);
            yb_free(p);
        }
    }
    prune_accounts(now);
}

void
sasl_fini(void)
{
    if (account_failures_ready) {
        struct hashmap_iter ait;
        void *av;
        hashmap_iter_init(&ait, &account_failures);
        while (hashmap_iter_next(&ait, NULL, &av))
            yb_free(av);
        hashmap_fini(&account_failures);
        account_failures_ready = false;
    }
    struct hashmap_iter it;
    void *v;
    hashmap_iter_init(&it, &srv->auth_failures);
    while (hashmap_iter_next(&it, NULL, &v))
        yb_free(v);
    hashmap_fini(&srv->auth_failures);
}

static void
succeed(struct session *s, const char *additional)
{
    struct sasl_exchange *x = s->sasl;
    s->username = yb_strdup(x->node);
    end_exchange(s);
    s->authenticated = true;
    c2s_authenticated(s);
    s->state = C2S_WAIT_HEADER;
    s->header_sent = false;
    srv->stats.logins++;
    struct buf b = BUF_INIT;
    buf_puts(&b, "<success xmlns='" NS_SASL "'");
    if (additional != NULL) {
        char *enc = base64_encode(additional, strlen(additional));
        buf_printf(&b, ">%s</success>", enc);
        yb_free(enc);
    } else {
        buf_puts(&b, "/>");
    }
    send_str(s, b.data);
    buf_fini(&b);
    log_info(s->who, "authenticated as %s@%s", s->username, s->host->domain);
    /* RFC 6120 §6.4.6: both sides restart the stream. */
    conn_restart_stream(s->conn);
}

static void
send_challenge(struct session *s, const char *data)
{
    struct buf b = BUF_INIT;
    char *enc = base64_encode(data, strlen(data));
    buf_printf(&b, "<challenge xmlns='" NS_SASL "'>%s</challenge>", enc);
    yb_free(enc);
    send_str(s, b.data);
    buf_fini(&b);
}

/* Returns false when the exchange was cancelled (the stream is gone or reset). */
static bool
async_resume(struct sasl_exchange *x)
{
    x->waiting = false;
    if (x->cancelled || x->s->sasl != x) {
        struct session *s = x->s;
        exchange_free(x);
        session_unref(s);
        return false;
    }
    session_unref(x->s);
    return true;
}

static void
on_scram_keys(void *ud, int status, const struct scram_keys *keys)
{
    struct sasl_exchange *x = ud;
    if (!async_resume(x))
        return;
    struct session *s = x->s;
    if (status != 0 && status != YB_ENOENT) {
        fail_protocol(s, SASL_TEMPORARY_AUTH_FAILURE);
        return;
    }
    /* An unknown user gets a plausible challenge and fails at the proof, so the
     * exchange does not reveal which accounts exist. */
    char *first = scram_server_first(x->scram, status == 0 ? keys : NULL);
    x->step = 1;
    send_challenge(s, first);
    yb_free(first);
}

static void
on_plain_checked(void *ud, int status)
{
    struct sasl_exchange *x = ud;
    if (!async_resume(x))
        return;
    struct session *s = x->s;
    if (status == 0)
        succeed(s, NULL);
    else if (status == YB_EAUTH || status == YB_ENOENT)
        fail_credentials(s, SASL_NOT_AUTHORIZED);
    else
        fail_protocol(s, SASL_TEMPORARY_AUTH_FAILURE);
}

/* authzid, when given, must name the authenticating account (RFC 6120 §6.3.8). */
static bool
authzid_ok(struct session *s, const char *node, const char *authzid)
{
    if (authzid == NULL)
        return true;
    struct jid *j = jid_new(authzid);
    bool ok = j != NULL && j->node != NULL && j->resource == NULL && strcmp(j->node, node) == 0 &&
              strcmp(j->domain, s->host->domain) == 0;
    jid_free(j);
    return ok;
}

static void
scram_first(struct session *s, struct sasl_exchange *x, const char *msg, size_t len)
{
    struct scram_cb cb = {
        .tls_exporter = s->exporter_len ? s->exporter : NULL,
        .tls_exporter_len = s->exporter_len,
        .tls_server_end_point = s->end_point_len ? s->end_point : NULL,
        .tls_server_end_point_len = s->end_point_len,
        .tls_unique = s->unique_len ? s->unique : NULL,
        .tls_unique_len = s->unique_len,
        .server_supports_plus = s->tls,
    };
    const char *username = NULL, *authzid = NULL;
    x->scram = scram_server_new(x->hash, x->plus);
    int rc = scram_server_client_first(x->scram, msg, len, &cb, &username, &authzid);
    if (rc == YB_EINVAL) {
        fail_protocol(s, SASL_MALFORMED_REQUEST);
        return;
    }
    if (rc != 0) {
        /* A channel-binding mismatch is not a password guess: no delay, so that a
         * client can go on to another mechanism at once. */
        fail_protocol(s, SASL_NOT_AUTHORIZED);
        return;
    }
    x->node = jid_nodeprep(username);
    if (x->node == NULL) {
        fail_credentials(s, SASL_NOT_AUTHORIZED);
        return;
    }
    if (!authzid_ok(s, x->node, authzid)) {
        fail_protocol(s, SASL_INVALID_AUTHZID);
        return;
    }
    x->waiting = true;
    session_ref(s);
    auth_get_keys(s->host->domain, x->node, x->hash, on_scram_keys, x);
}

static void
scram_final(struct session *s, struct sasl_exchange *x, const char *msg, size_t len)
{
    if (account_blocked(s, x->node)) {
        /* Not even checked: the proof might be right (see docs/config.md). */
        account_refused(s, x->node);
        end_exchange(s);
        blocked_failure(s);
        return;
    }
    char *server_final = NULL;
    int rc = scram_server_client_final(x->scram, msg, len, &server_final);
    if (rc == 0) {
        succeed(s, server_final);
        yb_free(server_final);
    } else if (rc == YB_EINVAL) {
        fail_protocol(s, SASL_MALFORMED_REQUEST);
    } else {
        fail_credentials(s, SASL_NOT_AUTHORIZED);
    }
}

static void
plain_step(struct session *s, struct sasl_exchange *x, const char *msg, size_t len)
{
    char *storage = NULL;
    const char *authzid, *authcid, *password;
    if (sasl_plain_parse(msg, len, &storage, &authzid, &authcid, &password) != 0) {
        fail_protocol(s, SASL_MALFORMED_REQUEST);
        return;
    }
    x->node = jid_nodeprep(authcid);
    if (x->node == NULL) {
        yb_free(storage);
        fail_credentials(s, SASL_NOT_AUTHORIZED);
        return;
    }
    if (!authzid_ok(s, x->node, authzid)) {
        yb_free(storage);
        fail_protocol(s, SASL_INVALID_AUTHZID);
        return;
    }
    if (account_blocked(s, x->node)) {
        memset(storage, 0, len);
        yb_free(storage);
        account_refused(s, x->node);
        end_exchange(s);
        blocked_failure(s);
        return;
    }
    x->waiting = true;
    session_ref(s);
    auth_check_plain(s->host->domain, x->node, password, on_plain_checked, x);
    /* The password is copied by auth_check_plain; wipe ours. */
    memset(storage, 0, len);
    yb_free(storage);
}

static void
step(struct session *s, struct sasl_exchange *x, const char *msg, size_t len)
{
    if (x->kind == SASL_KIND_PLAIN)
        plain_step(s, x, msg, len);
    else if (x->step == 0)
        scram_first(s, x, msg, len);
    else
        scram_final(s, x, msg, len);
}

static bool
parse_mechanism(struct session *s, const char *mech, struct sasl_exchange *x)
{
    if (mech == NULL)
        return false;
    if (strcmp(mech, "PLAIN") == 0) {
        x->kind = SASL_KIND_PLAIN;
        return s->tls && srv->cfg->allow_plain;
    }
    static const enum scram_hash hashes[] = {SCRAM_SHA1, SCRAM_SHA256, SCRAM_SHA512};
    for (int i = 0; i < 3; i++) {
        const char *name = scram_hash_mech(hashes[i]);
        size_t n = strlen(name);
        if (strncmp(mech, name, n) != 0)
            continue;
        x->kind = SASL_KIND_SCRAM;
        x->hash = hashes[i];
        if (mech[n] == '\0')
            return true;
        if (strcmp(mech + n, "-PLUS") == 0 && s->tls) {
            x->plus = true;
            return true;
        }
    }
    return false;
}

/* Decodes a SASL payload; "=" is the empty response (RFC 6120 §6.4.2). */
static char *
decode_payload(const struct xml_node *n, size_t *len)
{
    const char *text = node_text(n);
    if (strcmp(text, "=") == 0 || text[0] == '\0') {
        *len = 0;
        return yb_strdup("");
    }
    return (char *)base64_decode(text, strlen(text), len);
}

void
sasl_handle(struct session *s, struct stanza *st)
{
    const char *name = stanza_name(st);
    struct sasl_exchange *x = s->sasl;
    if (x != NULL && x->waiting) {
        /* The client must wait for our answer (RFC 6120 §6.4). */
        c2s_stream_error(s, STE_POLICY_VIOLATION, "SASL data while waiting");
        return;
    }
    if (strcmp(name, "abort") == 0) {
        end_exchange(s);
        send_failure_now(s, SASL_ABORTED);
        return;
    }
    size_t len = 0;
    if (strcmp(name, "auth") == 0) {
        if (x != NULL) {
            fail_protocol(s, SASL_MALFORMED_REQUEST);
            return;
        }
        x = yb_calloc(1, sizeof *x);
        x->s = s;
        if (!parse_mechanism(s, stanza_attr(st, "mechanism"), x)) {
            exchange_free(x);
            send_failure_now(s, SASL_INVALID_MECHANISM);
            return;
        }
        s->sasl = x;
        s->state = C2S_SASL;
        if (node_text(stanza_root(st))[0] == '\0') {
            /* No initial response: ask for it with an empty challenge. */
            send_str(s, "<challenge xmlns='" NS_SASL "'/>");
            return;
        }
    } else if (strcmp(name, "response") == 0) {
        if (x == NULL) {
            fail_protocol(s, SASL_MALFORMED_REQUEST);
            return;
        }
    } else {
        fail_protocol(s, SASL_MALFORMED_REQUEST);
        return;
    }
    char *msg = decode_payload(stanza_root(st), &len);
    if (msg == NULL) {
        fail_protocol(s, SASL_INCORRECT_ENCODING);
        return;
    }
    step(s, s->sasl, msg, len);
    memset(msg, 0, len);
    yb_free(msg);
}
