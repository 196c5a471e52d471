/* SPDX-License-Identifier: MIT
 *
 * c2s.c: client-to-server streams (RFC 6120 §4, §5, §7): stream header checks,
 * features, STARTTLS, handing SASL to sasl.c, resource binding and the legacy session
 * request, stream errors and closing. Once a stream is bound its stanzas go to the
 * router. The socket, TLS and parser are net/'s; this file only sees conn_* calls.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define NS_XEP0440        "urn:xmpp:sasl-cb:0"
#define MAX_SASL_FAILURES 3

/* XEP-0138 */
#define NS_COMPRESS         "http://jabber.org/protocol/compress"
#define NS_COMPRESS_FEATURE "http://jabber.org/features/compress"

/* ---- limits (docs/config.md "Limits") ---- */

/* Per source address: open connections and the new-connection bucket. */
struct addr_limit {
    unsigned n_conns;
    unsigned n_unauth; /* of which not authenticated yet */
    double tokens;
    uint64_t refill_ms;
    struct limit_burst log;
};

static struct hashmap addr_limits; /* peer address -> struct addr_limit */
static bool addr_limits_ready;
static size_t n_unauth; /* streams counted in max_unauthenticated_streams */
static struct list_node unauth_streams = {&unauth_streams, &unauth_streams}; /* oldest first */
static struct hashmap account_buckets; /* bare JID -> struct rate_bucket */
static bool account_buckets_ready;
static struct limit_burst evict_log;
static struct limit_burst unauth_log; /* one for all: the limit is global */
static struct limit_burst rate_log;   /* stanza and byte rate closes, all sessions */
static struct limit_burst parser_log; /* parser limits, all sessions */
static struct limit_burst overflow_log;

enum stream_error_cond
parse_error_condition(enum parser_error err)
{
    switch (err) {
    case PARSER_E_NOT_WELL_FORMED:
        break;
    case PARSER_E_RESTRICTED_XML:
        return STE_RESTRICTED_XML;
    case PARSER_E_POLICY:
        return STE_POLICY_VIOLATION; /* size, depth, attribute and header limits */
    case PARSER_E_BAD_FORMAT:
        return STE_BAD_FORMAT;
    case PARSER_E_NOMEM:
        return STE_INTERNAL_SERVER_ERROR;
    case PARSER_E_UNSUPPORTED_ENCODING:
        return STE_UNSUPPORTED_ENCODING;
    }
    return STE_NOT_WELL_FORMED;
}

bool
limit_burst_log(struct limit_burst *b, uint64_t *suppressed)
{
    uint64_t now = clock_mono_ms();
    bool quiet = b->last_ms == 0 || now - b->last_ms >= 60000;
    b->last_ms = now;
    if (!quiet) {
        b->suppressed++;
        return false;
    }
    *suppressed = b->suppressed;
    b->suppressed = 0;
    return true;
}

static void
refill(double *tokens, uint64_t *last_ms, uint64_t now, double per_ms, double cap)
{
    if (now > *last_ms)
        *tokens += (double)(now - *last_ms) * per_ms;
    if (*tokens > cap)
        *tokens = cap;
    *last_ms = now;
}

static struct addr_limit *
addr_get(const char *ip)
{
    if (!addr_limits_ready) {
        hashmap_init(&addr_limits);
        addr_limits_ready = true;
    }
    struct addr_limit *a = hashmap_get(&addr_limits, ip);
    if (a == NULL) {
        a = yb_calloc(1, sizeof *a);
        a->tokens = srv->cfg->connection_burst;
        a->refill_ms = clock_mono_ms();
        hashmap_set(&addr_limits, ip, a);
    }
    return a;
}

/* max_unauthenticated_streams is full: the oldest unauthenticated stream is closed to
 * make room. Refusing the new connection instead would let anyone who holds the
 * budget with idle connections (from many addresses) lock every client out until
 * auth_timeout, and again on reconnecting; a client that is really logging in is
 * among the newest and finishes in a fraction of a second. One address may not hold
 * more than a tenth of the budget, so it cannot evict everyone else's. */
static bool
make_room(const char *ip, struct addr_limit *a, const char *listener)
{
    const struct config *cfg = srv->cfg;
    uint64_t supp = 0;
    unsigned share = cfg->max_unauthenticated_streams / 10;
    if (a->n_unauth >= (share > 0 ? share : 1)) {
        srv->stats.refused_unauthenticated++;
        if (limit_burst_log(&unauth_log, &supp))
            log_warn(listener,
                     "refusing connections from %s: %u unauthenticated streams, its share of "
                     "max_unauthenticated_streams; %llu refusals not logged before",
                     ip, a->n_unauth, (unsigned long long)supp);
        return false;
    }
    struct session *old = LIST_ENTRY(unauth_streams.next, struct session, unauth_link);
    srv->stats.evicted_unauthenticated++;
    if (limit_burst_log(&evict_log, &supp))
        log_warn(listener,
                 "%zu unauthenticated streams (max_unauthenticated_streams): closing the "
                 "oldest ones to make room; %llu such closes not logged before",
                 n_unauth, (unsigned long long)supp);
    c2s_authenticated(old); /* no longer counted: its slot is the new connection's */
    c2s_stream_error(old, STE_POLICY_VIOLATION, "too many unauthenticated connections");
    return true;
}

/* Whether a new connection from ip may be taken; counts and logs a refusal. */
static bool
admit(const char *ip, const char *listener)
{
    const struct config *cfg = srv->cfg;
    uint64_t supp = 0;
    struct addr_limit *a = addr_get(ip);
    if (cfg->max_unauthenticated_streams > 0 && n_unauth >= cfg->max_unauthenticated_streams &&
        !list_is_empty(&unauth_streams) && !make_room(ip, a, listener))
        return false;
    if (cfg->max_connections_per_address > 0 && a->n_conns >= cfg->max_connections_per_address) {
        srv->stats.refused_address_connections++;
        if (limit_burst_log(&a->log, &supp))
            log_warn(listener,
                     "refusing connections from %s: %u open (max_connections_per_address); "
                     "%llu refusals not logged before",
                     ip, a->n_conns, (unsigned long long)supp);
        return false;
    }
    if (cfg->connections_per_minute > 0) {
        refill(&a->tokens, &a->refill_ms, clock_mono_ms(), cfg->connections_per_minute / 60000.0,
               cfg->connection_burst);
        if (a->tokens < 1.0) {
            srv->stats.refused_connection_rate++;
            if (limit_burst_log(&a->log, &supp))
                log_warn(listener,
                         "refusing connections from %s: more than %u a minute "
                         "(connections_per_minute, connection_burst %u); "
                         "%llu refusals not logged before",
                         ip, cfg->connections_per_minute, cfg->connection_burst,
                         (unsigned long long)supp);
            return false;
        }
        a->tokens -= 1.0;
    }
    a->n_conns++;
    return true;
}

/* The account's shared bucket (created full), for a session that just
 * authenticated as bare. */
static struct rate_bucket *
account_bucket(const char *bare)
{
    if (!account_buckets_ready) {
        hashmap_init(&account_buckets);
        account_buckets_ready = true;
    }
    struct rate_bucket *b = hashmap_get(&account_buckets, bare);
    if (b == NULL) {
        b = yb_calloc(1, sizeof *b);
        b->stanza_tokens = srv->cfg->stanza_burst;
        b->byte_tokens = (double)srv->cfg->byte_burst;
        b->rate_ms = clock_mono_ms();
        if (hashmap_set(&account_buckets, bare, b) != 0) {
            yb_free(b);
            return NULL;
        }
    }
    b->users++;
    return b;
}

void
c2s_authenticated(struct session *s)
{
    if (s->counted_unauth) {
        s->counted_unauth = false;
        list_remove(&s->unauth_link);
        n_unauth--;
        struct addr_limit *a = addr_limits_ready && s->conn != NULL
                                   ? hashmap_get(&addr_limits, conn_peer_ip(s->conn))
                                   : NULL;
        if (a != NULL && a->n_unauth > 0)
            a->n_unauth--;
    }
    if (s->bucket == &s->own && s->username != NULL && s->host != NULL) {
        struct buf bare = BUF_INIT;
        buf_printf(&bare, "%s@%s", s->username, s->host->domain);
        struct rate_bucket *b = account_bucket(bare.data);
        buf_fini(&bare);
        if (b != NULL)
            s->bucket = b;
    }
}

static void
release_limits(struct session *s, struct conn *c)
{
    c2s_authenticated(s);
    if (s->bucket != &s->own) {
        s->bucket->users--; /* kept until full again: see c2s_housekeeping() */
        s->bucket = &s->own;
    }
    if (s->counted_address) {
        s->counted_address = false;
        struct addr_limit *a =
            addr_limits_ready ? hashmap_get(&addr_limits, conn_peer_ip(c)) : NULL;
        if (a != NULL && a->n_conns > 0)
            a->n_conns--;
    }
}

/* The per-stream stanza and byte buckets; false when the stream was closed. */
static bool
rate_ok(struct session *s)
{
    const struct config *cfg = srv->cfg;
    uint64_t now = clock_mono_ms();
    uint64_t bytes = conn_bytes_received(s->conn);
    uint64_t fresh = bytes - s->bytes_seen;
    s->bytes_seen = bytes;
    struct rate_bucket *b = s->bucket;
    uint64_t last = b->rate_ms;
    const char *what = NULL;
    if (cfg->stanzas_per_second > 0) {
        refill(&b->stanza_tokens, &last, now, cfg->stanzas_per_second / 1000.0, cfg->stanza_burst);
        b->stanza_tokens -= 1.0;
        if (b->stanza_tokens < 0) {
            what = "stanza rate limit exceeded";
            srv->stats.closed_stanza_rate++;
        }
    }
    last = b->rate_ms;
    if (what == NULL && cfg->bytes_per_second > 0) {
        refill(&b->byte_tokens, &last, now, (double)cfg->bytes_per_second / 1000.0,
               (double)cfg->byte_burst);
        b->byte_tokens -= (double)fresh;
        if (b->byte_tokens < 0) {
            what = "byte rate limit exceeded";
            srv->stats.closed_byte_rate++;
        }
    }
    b->rate_ms = now;
    if (what == NULL)
        return true;
    uint64_t supp = 0;
    if (limit_burst_log(&rate_log, &supp))
        log_warn(s->who,
                 "%s by %s from %s (stanzas_per_second %u/%u, bytes_per_second %zu/%zu); "
                 "%llu such closes not logged before",
                 what,
                 s->jid        ? s->jid->full
                 : s->username ? s->username
                               : "a client",
                 conn_peer_ip(s->conn), cfg->stanzas_per_second, cfg->stanza_burst,
                 cfg->bytes_per_second, cfg->byte_burst, (unsigned long long)supp);
    c2s_stream_error(s, STE_POLICY_VIOLATION, what);
    return false;
}

static const char *
stream_ns_header(void)
{
    return "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'";
}

static void
send_str(struct session *s, const char *str)
{
    if (s->conn != NULL)
        conn_send_raw(s->conn, str, strlen(str));
}

static void
send_header(struct session *s, const char *from)
{
    if (s->header_sent)
        return;
    struct buf b = BUF_INIT;
    server_random_id(s->stream_id);
    buf_printf(&b, "<?xml version='1.0'?><stream:stream %s id='%s' version='1.0' xml:lang='en'",
               stream_ns_header(), s->stream_id);
    if (from != NULL) {
        buf_puts(&b, " from='");
        buf_put_xml_escaped(&b, from, strlen(from));
        buf_putc(&b, '\'');
    }
    buf_putc(&b, '>');
    send_str(s, b.data);
    buf_fini(&b);
    s->header_sent = true;
}

void
c2s_stream_error(struct session *s, enum stream_error_cond cond, const char *text)
{
    if (s->state == C2S_CLOSING || s->conn == NULL)
        return;
    send_header(s, s->host ? s->host->domain : NULL);
    struct buf b = BUF_INIT;
    stream_error_serialize(cond, text, &b);
    buf_puts(&b, "</stream:stream>");
    send_str(s, b.data);
    buf_fini(&b);
    log_info(s->who, "stream error %s%s%s", stream_error_name(cond), text ? ": " : "",
             text ? text : "");
    s->state = C2S_CLOSING;
    conn_close(s->conn);
}

void
c2s_close(struct session *s)
{
    if (s->state == C2S_CLOSING || s->conn == NULL)
        return;
    send_str(s, "</stream:stream>");
    s->state = C2S_CLOSING;
    conn_close(s->conn);
}

static void
send_features(struct session *s)
{
    const struct config *cfg = srv->cfg;
    struct buf b = BUF_INIT;
    buf_puts(&b, "<stream:features>");
    if (s->authenticated) {
        /* RFC 6120 §7.4; the session element is optional (RFC 6121 Appendix E). */
        buf_puts(&b, "<bind xmlns='" NS_BIND "'/>"
                     "<session xmlns='" NS_SESSION "'><optional/></session>"
                     "<ver xmlns='urn:xmpp:features:rosterver'/>"); /* RFC 6121 §2.6.1 */
        /* XEP-0138 §3: after SASL (so credentials are never compressed, see
         * docs/config.md), before bind, and not again once compressed. */
        if (cfg->compression && s->jid == NULL && s->conn != NULL && !conn_is_compressed(s->conn))
            buf_puts(&b, "<compression xmlns='" NS_COMPRESS_FEATURE "'>"
                         "<method>zlib</method></compression>");
    } else {
        if (!s->tls)
            buf_printf(&b, "<starttls xmlns='" NS_TLS "'>%s</starttls>",
                       cfg->require_tls ? "<required/>" : "");
        if (s->tls || !cfg->require_tls) {
            buf_puts(&b, "<mechanisms xmlns='" NS_SASL "'>");
            static const char *const hashes[] = {"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1"};
            if (s->tls)
                for (int i = 0; i < 3; i++)
                    buf_printf(&b, "<mechanism>%s-PLUS</mechanism>", hashes[i]);
            for (int i = 0; i < 3; i++)
                buf_printf(&b, "<mechanism>%s</mechanism>", hashes[i]);
            if (s->tls && cfg->allow_plain)
                buf_puts(&b, "<mechanism>PLAIN</mechanism>");
            buf_puts(&b, "</mechanisms>");
            if (s->tls) {
                /* XEP-0440: the channel-binding types we can serve. */
                buf_puts(&b, "<sasl-channel-binding xmlns='" NS_XEP0440 "'>");
                if (s->exporter_len > 0)
                    buf_puts(&b, "<channel-binding type='tls-exporter'/>");
                else if (s->unique_len > 0)
                    buf_puts(&b, "<channel-binding type='tls-unique'/>");
                buf_puts(&b, "<channel-binding type='tls-server-end-point'/>"
                             "</sasl-channel-binding>");
            }
        }
    }
    /* What modules offer (e.g. XEP-0077 registration, XEP-0138 compression). */
    struct stanza *extra = stanza_new("features", NS_STREAMS);
    struct event ev = {.id = EV_STREAM_FEATURES,
                       .session = s,
                       .reply = stanza_root(extra),
                       .authenticated = s->authenticated,
                       .tls = s->tls};
    event_fire(&ev);
    for (struct xml_node *n = node_first_element(stanza_root(extra)); n; n = node_next_element(n))
        node_serialize(n, NS_CLIENT, &b);
    stanza_unref(extra);
    buf_puts(&b, "</stream:features>");
    send_str(s, b.data);
    buf_fini(&b);
}

static void
on_tls_done(void *ud, struct conn *c, const struct conn_tls_info *info)
{
    (void)c;
    struct session *s = ud;
    s->tls = true;
    s->tls13 = info->exporter != NULL;
    s->exporter_len = 0;
    if (info->exporter != NULL && info->exporter_len <= sizeof s->exporter) {
        memcpy(s->exporter, info->exporter, info->exporter_len);
        s->exporter_len = info->exporter_len;
    }
    s->end_point_len = 0;
    if (info->end_point != NULL && info->end_point_len <= sizeof s->end_point) {
        memcpy(s->end_point, info->end_point, info->end_point_len);
        s->end_point_len = info->end_point_len;
    }
    s->unique_len = 0;
    if (info->unique != NULL && info->unique_len <= sizeof s->unique) {
        memcpy(s->unique, info->unique, info->unique_len);
        s->unique_len = info->unique_len;
    }
    s->header_sent = false;
    s->state = C2S_WAIT_HEADER;
    log_debug(s->who, "TLS established: %s %s", info->version, info->cipher);
}

static void
on_stream_open(void *ud, struct conn *c, const struct xml_node *header, const char *content_ns)
{
    (void)c;
    struct session *s = ud;
    if (s->state == C2S_CLOSING)
        return;
    const char *to = node_attr(header, "to");
    char *domain = to ? jid_nameprep(to) : NULL;
    struct host *h = domain ? server_find_host(domain) : NULL;
    yb_free(domain);
    if (s->host == NULL || h != NULL)
        s->host = h;
    /* RFC 6120 §4.9.1.2: our header goes first, even when an error follows. */
    send_header(s, s->host ? s->host->domain : NULL);
    if (strcmp(header->name, "stream") != 0 || strcmp(header->ns, NS_STREAMS) != 0 ||
        strcmp(content_ns, NS_CLIENT) != 0) {
        c2s_stream_error(s, STE_INVALID_NAMESPACE, NULL);
        return;
    }
    const char *version = node_attr(header, "version");
    /* RFC 6120 §4.7.5: no version means pre-1.0; a higher major version is unknown. */
    if (version == NULL || strtol(version, NULL, 10) != 1) {
        c2s_stream_error(s, STE_UNSUPPORTED_VERSION, NULL);
        return;
    }
    if (h == NULL) {
        c2s_stream_error(s, STE_HOST_UNKNOWN, NULL);
        return;
    }
    if (s->state == C2S_WAIT_HEADER)
        s->state = s->authenticated ? C2S_AUTHENTICATED : C2S_NEGOTIATING;
    send_features(s);
}

static void
handle_starttls(struct session *s)
{
    if (s->tls || s->state != C2S_NEGOTIATING) {
        /* RFC 6120 §5.4.2.2 */
        send_str(s, "<failure xmlns='" NS_TLS "'/></stream:stream>");
        s->state = C2S_CLOSING;
        conn_close(s->conn);
        return;
    }
    send_str(s, "<proceed xmlns='" NS_TLS "'/>");
    s->state = C2S_TLS_HANDSHAKE;
    conn_starttls(s->conn);
}

/* XEP-0138 §2. A failure is not a stream error: the client may carry on. */
static void
handle_compress(struct session *s, struct stanza *st)
{
    const char *method = node_child_text(stanza_root(st), "method", NS_COMPRESS);
    const char *cond = NULL;
    if (!srv->cfg->compression || s->state != C2S_AUTHENTICATED || s->jid != NULL || s->binding ||
        conn_is_compressed(s->conn))
        cond = "setup-failed"; /* not offered here: off, before auth, after bind, twice */
    else if (method == NULL || strcmp(method, "zlib") != 0)
        cond = "unsupported-method";
    else if (conn_start_compression(s->conn) != 0)
        cond = "setup-failed";
    if (cond != NULL) {
        struct buf b = BUF_INIT;
        buf_printf(&b, "<failure xmlns='" NS_COMPRESS "'><%s/></failure>", cond);
        send_str(s, b.data);
        buf_fini(&b);
        return;
    }
    /* Goes out uncompressed: net switches when this callback returns. Then a new
     * stream, as after SASL; s->authenticated stays. */
    send_str(s, "<compressed xmlns='" NS_COMPRESS "'/>");
    s->header_sent = false;
    s->state = C2S_WAIT_HEADER;
    log_info(s->who, "stream compression on (zlib)");
}

static void
reply_iq_error(struct session *s, struct stanza *iq, enum stanza_error_cond cond)
{
    struct stanza *err = stanza_error_reply(iq, cond, NULL);
    stanza_set_attr(err, "from", NULL);
    session_send(s, err);
}

struct bind_op {
    struct session *s;
    struct stanza *iq;
    char *resource;
};

static void handle_bound_stanza(struct session *s, struct stanza *st);

/* What the client pipelined behind its bind request, now that it is bound (or, if
 * the bind failed, refused as stanzas before binding are). */
static void
release_held(struct session *s)
{
    unsigned n = s->n_held;
    s->n_held = 0;
    for (unsigned i = 0; i < n; i++) {
        if (s->state == C2S_BOUND && s->conn != NULL)
            handle_bound_stanza(s, s->held[i]);
        else
            stanza_unref(s->held[i]);
    }
    if (n > 0 && s->state == C2S_AUTHENTICATED)
        c2s_stream_error(s, STE_NOT_AUTHORIZED, "stanzas sent before a resource was bound");
}

static void
auth_timer_free(struct session *s)
{
    if (s->auth_timer == NULL)
        return;
    uv_timer_stop(s->auth_timer);
    uv_close((uv_handle_t *)s->auth_timer, (uv_close_cb)yb_free);
    s->auth_timer = NULL;
}

static void
bind_done(struct user *u, int status, void *ud)
{
    struct bind_op *op = ud;
    struct session *s = op->s;
    s->binding = false;
    if (s->state == C2S_CLOSING || s->conn == NULL) {
        /* gone meanwhile */
    } else if (u == NULL) {
        /* The account disappeared (deleted) or storage failed. */
        reply_iq_error(s, op->iq,
                       status == YB_ENOENT ? SE_NOT_AUTHORIZED : SE_INTERNAL_SERVER_ERROR);
        s->state = C2S_AUTHENTICATED;
    } else {
        int rc = session_bind(s, u, op->resource);
        if (rc == 0) {
            struct stanza *res = stanza_new("iq", NS_CLIENT);
            stanza_set_attr(res, "type", "result");
            stanza_set_attr(res, "id", stanza_attr(op->iq, "id"));
            struct xml_node *b = node_add_child(stanza_root(res), "bind", NS_BIND);
            node_add_text_child(b, "jid", NULL, s->jid->full);
            session_send(s, res);
            /* Bound: the timer is done for good; a session does not keep it. */
            auth_timer_free(s);
            log_info(s->who, "bound %s from %s (%s)", s->jid->full, conn_peer_ip(s->conn),
                     s->tls ? "TLS" : "plaintext");
            struct event ev = {.id = EV_SESSION_BOUND, .session = s, .user = u, .from = s->jid};
            event_fire(&ev);
            release_held(s);
        } else {
            if (rc != YB_EEXIST)
                srv->stats.refused_resources++; /* max_resources */
            reply_iq_error(s, op->iq, rc == YB_EEXIST ? SE_CONFLICT : SE_RESOURCE_CONSTRAINT);
            s->state = C2S_AUTHENTICATED;
        }
    }
    if (s->state == C2S_AUTHENTICATED && s->n_held > 0)
        release_held(s); /* the bind failed */
    stanza_unref(op->iq);
    yb_free(op->resource);
    session_unref(s);
    yb_free(op);
}

static void
handle_bind(struct session *s, struct stanza *iq, struct xml_node *bind)
{
    const char *type = stanza_attr(iq, "type");
    if (type == NULL || strcmp(type, "set") != 0) {
        reply_iq_error(s, iq, SE_BAD_REQUEST);
        return;
    }
    if (s->binding) {
        reply_iq_error(s, iq, SE_NOT_ALLOWED); /* one bind at a time */
        return;
    }
    char *resource;
    const char *requested = node_child_text(bind, "resource", NS_BIND);
    if (requested != NULL && requested[0] != '\0') {
        resource = jid_resourceprep(requested);
        if (resource == NULL) {
            reply_iq_error(s, iq, SE_BAD_REQUEST); /* RFC 6120 §7.7.2.1 */
            return;
        }
    } else {
        char id[17];
        server_random_id(id);
        resource = yb_strdup(id);
    }
    struct bind_op *op = yb_calloc(1, sizeof *op);
    op->s = s;
    op->iq = stanza_ref(iq);
    op->resource = resource;
    session_ref(s);
    s->binding = true;
    user_acquire(s->host->domain, s->username, bind_done, op);
}

static void
handle_bound_stanza(struct session *s, struct stanza *st)
{
    const char *name = stanza_name(st);
    if (strcmp(name, "iq") == 0) {
        struct xml_node *payload = node_first_element(stanza_root(st));
        const char *to = stanza_attr(st, "to");
        if (payload != NULL && to == NULL && strcmp(payload->ns, NS_SESSION) == 0) {
            /* RFC 3921 session establishment: a no-op today (RFC 6121 Appendix E). */
            struct stanza *res = stanza_new("iq", NS_CLIENT);
            stanza_set_attr(res, "type", "result");
            stanza_set_attr(res, "id", stanza_attr(st, "id"));
            session_send(s, res);
            stanza_unref(st);
            return;
        }
        if (payload != NULL && to == NULL && strcmp(payload->ns, NS_BIND) == 0) {
            reply_iq_error(s, st, SE_NOT_ALLOWED);
            stanza_unref(st);
            return;
        }
    } else if (strcmp(name, "message") != 0 && strcmp(name, "presence") != 0) {
        stanza_unref(st);
        c2s_stream_error(s, STE_UNSUPPORTED_STANZA_TYPE, NULL);
        return;
    }
    if (strcmp(stanza_ns(st), NS_CLIENT) != 0) {
        stanza_unref(st);
        c2s_stream_error(s, STE_INVALID_NAMESPACE, NULL);
        return;
    }
    router_from_session(s, st);
}

static void
on_stanza(void *ud, struct conn *c, struct stanza *st)
{
    (void)c;
    struct session *s = ud;
    const char *ns = stanza_ns(st);
    const char *name = stanza_name(st);
    s->last_active_ms = uv_now(srv->loop);
    if (s->state != C2S_CLOSING && !rate_ok(s)) {
        stanza_unref(st);
        return;
    }
    if (strcmp(name, "compress") == 0 && strcmp(ns, NS_COMPRESS) == 0 && s->state != C2S_CLOSING &&
        s->state != C2S_WAIT_HEADER && s->state != C2S_TLS_HANDSHAKE) {
        handle_compress(s, st);
        stanza_unref(st);
        return;
    }
    switch (s->state) {
    case C2S_CLOSING:
        break;
    case C2S_BOUND:
        handle_bound_stanza(s, st);
        return;
    case C2S_NEGOTIATING:
    case C2S_SASL:
        if (strcmp(ns, NS_TLS) == 0 && strcmp(name, "starttls") == 0) {
            handle_starttls(s);
            break;
        }
        if (strcmp(ns, NS_SASL) == 0) {
            if (!s->tls && srv->cfg->require_tls) {
                /* RFC 6120 §6.4.5 encryption-required; nothing was offered anyway. */
                send_str(s, "<failure xmlns='" NS_SASL "'><encryption-required/></failure>");
                break;
            }
            sasl_handle(s, st);
            break;
        }
        if (strcmp(name, "iq") == 0 && s->state == C2S_NEGOTIATING && s->host != NULL &&
            (s->tls || !srv->cfg->require_tls) && iq_has_preauth_handler(st)) {
            /* E.g. XEP-0077 registration on a stream that is not authenticated. */
            iq_dispatch(st, s, NULL, NULL, IQ_PREAUTH, NULL);
            break;
        }
        stanza_unref(st);
        /* RFC 6120 §4.9.3.12: stanzas before authentication. */
        c2s_stream_error(s, STE_NOT_AUTHORIZED, NULL);
        return;
    case C2S_AUTHENTICATED: {
        struct xml_node *bind = node_child(stanza_root(st), "bind", NS_BIND);
        if (strcmp(name, "iq") == 0 && bind != NULL && s->jid == NULL) {
            handle_bind(s, st, bind);
            break;
        }
        if (s->binding && s->n_held < C2S_MAX_HELD) {
            /* Pipelined behind the bind request (e.g. the legacy session iq). */
            s->held[s->n_held++] = st;
            return;
        }
        stanza_unref(st);
        c2s_stream_error(s, STE_NOT_AUTHORIZED, NULL);
        return;
    }
    case C2S_WAIT_HEADER:
    case C2S_TLS_HANDSHAKE:
        stanza_unref(st);
        c2s_stream_error(s, STE_BAD_FORMAT, NULL);
        return;
    }
    stanza_unref(st);
}

static void
on_stream_close(void *ud, struct conn *c)
{
    (void)c;
    struct session *s = ud;
    log_debug(s->who, "client closed the stream");
    c2s_close(s);
}

static void
on_parse_error(void *ud, struct conn *c, enum parser_error err, const char *detail)
{
    (void)c;
    struct session *s = ud;
    log_info(s->who, "bad input from %s: %s", conn_peer_ip(s->conn), detail ? detail : "");
    if (err == PARSER_E_POLICY) {
        /* max_stanza_size, max_xml_depth, max_attributes, max_stream_header_size */
        srv->stats.closed_parser_limit++;
        uint64_t supp = 0;
        if (limit_burst_log(&parser_log, &supp))
            log_warn(s->who, "input limit exceeded by %s: %s; %llu such closes not logged before",
                     conn_peer_ip(s->conn), detail ? detail : "", (unsigned long long)supp);
    }
    c2s_stream_error(s, parse_error_condition(err), NULL);
}

static void
on_closed(void *ud, struct conn *c, enum conn_close_reason why)
{
    struct session *s = ud;
    static const char *const reasons[] = {"closed", "peer closed", "TLS failure", "output overflow",
                                          "socket error"};
    log_info(s->who, "disconnected (%s)%s%s", reasons[why], s->jid ? " " : "",
             s->jid ? s->jid->full : "");
    if (why == CONN_CLOSED_OVERFLOW) {
        srv->stats.closed_output_overflow++;
        uint64_t supp = 0;
        if (limit_burst_log(&overflow_log, &supp))
            log_warn(s->who,
                     "client did not read its output; disconnected at the output bound "
                     "(max_output_size); %llu such disconnections not logged before",
                     (unsigned long long)supp);
    }
    release_limits(s, c);
    s->state = C2S_CLOSING;
    s->conn = NULL;
    if (s->jid != NULL)
        session_unbind(s);
    list_remove(&s->link);
    srv->n_streams--;
    sasl_cancel(s);
    auth_timer_free(s);
    session_unref(s);
}

static const struct conn_handler c2s_handler = {
    .tls_done = on_tls_done,
    .stream_open = on_stream_open,
    .stanza = on_stanza,
    .stream_close = on_stream_close,
    .parse_error = on_parse_error,
    .closed = on_closed,
};

static void
on_auth_timeout(uv_timer_t *t)
{
    struct session *s = t->data;
    if (s->jid == NULL)
        c2s_stream_error(s, STE_CONNECTION_TIMEOUT, "authentication took too long");
}

const struct conn_handler *
c2s_accept(void *ud, struct conn *c, void **conn_ud)
{
    (void)ud;
    if (srv->stopping)
        return NULL;
    if (!admit(conn_peer_ip(c), conn_listener_name(c)))
        return NULL; /* closed at once: no stream, no TLS, nothing to parse */
    struct session *s = session_new(c);
    s->counted_address = true;
    s->counted_unauth = true;
    n_unauth++;
    list_insert_tail(&unauth_streams, &s->unauth_link);
    struct addr_limit *a = hashmap_get(&addr_limits, conn_peer_ip(c));
    if (a != NULL)
        a->n_unauth++;
    s->own.stanza_tokens = srv->cfg->stanza_burst;
    s->own.byte_tokens = (double)srv->cfg->byte_burst;
    s->own.rate_ms = clock_mono_ms();
    s->bucket = &s->own;
    list_insert_tail(&srv->streams, &s->link);
    srv->n_streams++;
    srv->stats.connections++;
    s->last_active_ms = uv_now(srv->loop);
    s->auth_timer = yb_malloc(sizeof *s->auth_timer);
    uv_timer_init(srv->loop, s->auth_timer);
    s->auth_timer->data = s;
    uv_timer_start(s->auth_timer, on_auth_timeout, (uint64_t)srv->cfg->auth_timeout_s * 1000, 0);
    log_info(s->who, "connection from [%s]:%d on %s", conn_peer_ip(c), conn_peer_port(c),
             conn_listener_name(c));
    *conn_ud = s;
    return &c2s_handler;
}

/* Forgets account buckets nobody draws on once they are full again. */
static void
prune_account_buckets(uint64_t now)
{
    if (!account_buckets_ready)
        return;
    const struct config *cfg = srv->cfg;
    struct hashmap_iter it;
    const char *bare;
    void *v;
    hashmap_iter_init(&it, &account_buckets);
    while (hashmap_iter_next(&it, &bare, &v)) {
        struct rate_bucket *b = v;
        if (b->users > 0)
            continue;
        uint64_t last = b->rate_ms;
        refill(&b->stanza_tokens, &last, now, cfg->stanzas_per_second / 1000.0, cfg->stanza_burst);
        last = b->rate_ms;
        refill(&b->byte_tokens, &last, now, (double)cfg->bytes_per_second / 1000.0,
               (double)cfg->byte_burst);
        b->rate_ms = now;
        if ((cfg->stanzas_per_second == 0 || b->stanza_tokens >= cfg->stanza_burst) &&
            (cfg->bytes_per_second == 0 || b->byte_tokens >= (double)cfg->byte_burst)) {
            hashmap_remove(&account_buckets, bare);
            yb_free(b);
        }
    }
}

void
c2s_housekeeping(void)
{
    sasl_prune_penalties();
    prune_account_buckets(clock_mono_ms());
    if (!addr_limits_ready)
        return;
    /* Forget idle addresses whose bucket is full again. */
    uint64_t now = clock_mono_ms();
    const struct config *cfg = srv->cfg;
    struct hashmap_iter it;
    const char *ip;
    void *v;
    hashmap_iter_init(&it, &addr_limits);
    while (hashmap_iter_next(&it, &ip, &v)) {
        struct addr_limit *a = v;
        if (a->n_conns > 0)
            continue;
        if (cfg->connections_per_minute > 0)
            refill(&a->tokens, &a->refill_ms, now, cfg->connections_per_minute / 60000.0,
                   cfg->connection_burst);
        if ((cfg->connections_per_minute == 0 || a->tokens >= cfg->connection_burst) &&
            (a->log.last_ms == 0 || now - a->log.last_ms >= 60000)) {
            hashmap_remove(&addr_limits, ip);
            yb_free(a);
        }
    }
}

void
c2s_fini(void)
{
    sasl_fini();
    if (addr_limits_ready) {
        struct hashmap_iter it;
        void *v;
        hashmap_iter_init(&it, &addr_limits);
        while (hashmap_iter_next(&it, NULL, &v))
            yb_free(v);
        hashmap_fini(&addr_limits);
        addr_limits_ready = false;
    }
    if (account_buckets_ready) {
        struct hashmap_iter it;
        void *v;
        hashmap_iter_init(&it, &account_buckets);
        while (hashmap_iter_next(&it, NULL, &v))
            yb_free(v);
        hashmap_fini(&account_buckets);
        account_buckets_ready = false;
    }
    n_unauth = 0;
    list_init(&unauth_streams);
}
