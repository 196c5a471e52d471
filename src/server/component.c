/* SPDX-License-Identifier: MIT
 *
 * component.c: external components (XEP-0114, jabber:component:accept). A component
 * connects to a component listener, names its domain in the stream header and proves
 * it knows the domain's secret with <handshake/> (hex SHA-1 of stream id + secret).
 * Then the router sends it every stanza for its domain, and its stanzas (from its
 * domain only) are routed like any other. A configured component that is not
 * connected answers service-unavailable; its domain never goes to s2s. Disco items
 * are mod_component.c's; the socket, parser and TLS are net/'s.
 */
#include <ctype.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server.h"

#define NS_COMPONENT "jabber:component:accept"

enum comp_state {
    COMP_WAIT_HEADER,
    COMP_WAIT_HANDSHAKE,
    COMP_AUTHENTICATED,
    COMP_CLOSING,
};

struct comp_stream {
    char who[24]; /* "component#12" for logs */
    struct conn *conn;
    enum comp_state state;
    bool header_sent;
    char stream_id[17];
    char *domain; /* from the header, once known to be configured */
    uv_timer_t *auth_timer;
    struct list_node link; /* streams */
};

/* Per configured domain that ever connected: the live stream and counters, kept
 * across reconnects (yerbactl components shows them). */
struct comp_entry {
    struct comp_stream *stream; /* the authenticated stream, or NULL */
    char peer[64];              /* "[ip]:port" of the last authenticated stream */
    uint64_t stanzas_in, stanzas_out;
    uint64_t connects;
};

static struct list_node streams = {&streams, &streams};
static struct hashmap entries; /* domain -> struct comp_entry */
static bool entries_ready;
static size_t n_connected;

static struct comp_entry *
entry_get(const char *domain, bool create)
{
    if (!entries_ready) {
        if (!create)
            return NULL;
        hashmap_init(&entries);
        entries_ready = true;
    }
    struct comp_entry *e = hashmap_get(&entries, domain);
    if (e == NULL && create) {
        e = yb_calloc(1, sizeof *e);
        hashmap_set(&entries, domain, e);
    }
    return e;
}

static void
send_str(struct comp_stream *cs, const char *s)
{
    if (cs->conn != NULL)
        conn_send_raw(cs->conn, s, strlen(s));
}

/* XEP-0114 §3: the server's header carries from=<component domain> and the id the
 * handshake hashes; no version (these are pre-RFC 6120 streams: no features). */
static void
send_header(struct comp_stream *cs, const char *from)
{
    if (cs->header_sent)
        return;
    struct buf b = BUF_INIT;
    server_random_id(cs->stream_id);
    buf_printf(&b,
               "<?xml version='1.0'?><stream:stream xmlns='" NS_COMPONENT "' "
               "xmlns:stream='http://etherx.jabber.org/streams' id='%s'",
               cs->stream_id);
    if (from != NULL) {
        buf_puts(&b, " from='");
        buf_put_xml_escaped(&b, from, strlen(from));
        buf_putc(&b, '\'');
    }
    buf_putc(&b, '>');
    send_str(cs, b.data);
    buf_fini(&b);
    cs->header_sent = true;
}

/* The stream no longer serves its domain: from the moment it starts closing, so
 * that stanzas bounce instead of queueing on a dying stream and a reconnecting
 * component is not refused with conflict while the old socket drains. */
static void
detach(struct comp_stream *cs, const char *why)
{
    struct comp_entry *e = cs->domain ? entry_get(cs->domain, false) : NULL;
    if (e == NULL || e->stream != cs)
        return;
    e->stream = NULL;
    n_connected--;
    log_info(cs->who, "component %s disconnected (%s)", cs->domain, why);
}

static void
stream_error(struct comp_stream *cs, enum stream_error_cond cond, const char *text)
{
    if (cs->state == COMP_CLOSING || cs->conn == NULL)
        return;
    detach(cs, stream_error_name(cond));
    send_header(cs, cs->domain);
    struct buf b = BUF_INIT;
    stream_error_serialize(cond, text, &b);
    buf_puts(&b, "</stream:stream>");
    send_str(cs, b.data);
    buf_fini(&b);
    log_info(cs->who, "stream error %s%s%s", stream_error_name(cond), text ? ": " : "",
             text ? text : "");
    cs->state = COMP_CLOSING;
    conn_close(cs->conn);
}

static void
on_stream_open(void *ud, struct conn *c, const struct xml_node *header, const char *content_ns)
{
    (void)c;
    struct comp_stream *cs = ud;
    if (cs->state != COMP_WAIT_HEADER)
        return;
    const char *to = node_attr(header, "to");
    char *domain = to ? jid_nameprep(to) : NULL;
    if (domain != NULL && config_find_component(srv->cfg, domain) != NULL)
        cs->domain = domain;
    else
        yb_free(domain);
    /* RFC 6120 §4.9.1.2 (and XEP-0114 streams alike): our header first, even before
     * an error. */
    send_header(cs, cs->domain);
    if (strcmp(header->name, "stream") != 0 || strcmp(header->ns, NS_STREAMS) != 0 ||
        strcmp(content_ns, NS_COMPONENT) != 0) {
        stream_error(cs, STE_INVALID_NAMESPACE, NULL);
        return;
    }
    if (cs->domain == NULL) {
        stream_error(cs, STE_HOST_UNKNOWN, "no component is configured for this domain");
        return;
    }
    cs->state = COMP_WAIT_HANDSHAKE;
}

/* Whether digest (the component's hex text) is SHA-1(stream id + secret), compared
 * in constant time and without regard to case. */
static bool
handshake_ok(const struct comp_stream *cs, const char *digest)
{
    const struct config_component *cc = config_find_component(srv->cfg, cs->domain);
    if (cc == NULL || digest == NULL)
        return false; /* removed by a reload meanwhile */
    struct buf in = BUF_INIT;
    buf_puts(&in, cs->stream_id);
    buf_puts(&in, cc->secret);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int ok = EVP_Digest(in.data, in.len, md, &md_len, EVP_sha1(), NULL);
    memset(in.data, 0, in.len);
    buf_fini(&in);
    if (!ok || md_len != 20)
        return false;
    char want[41], got[41];
    for (unsigned i = 0; i < 20; i++)
        snprintf(want + 2 * i, 3, "%02x", md[i]);
    /* Surrounding whitespace is tolerated (some components pretty-print). */
    while (isspace((unsigned char)*digest))
        digest++;
    size_t n = 0;
    while (n < 40 && digest[n] != '\0') {
        got[n] = (char)tolower((unsigned char)digest[n]);
        n++;
    }
    got[n] = '\0';
    for (const char *p = digest + n; *p != '\0'; p++)
        if (!isspace((unsigned char)*p))
            return false;
    return n == 40 && CRYPTO_memcmp(want, got, 40) == 0;
}

static void
handle_handshake(struct comp_stream *cs, struct stanza *st)
{
    if (strcmp(stanza_name(st), "handshake") != 0 || strcmp(stanza_ns(st), NS_COMPONENT) != 0) {
        /* XEP-0114 §3: nothing but the handshake before authentication. */
        stream_error(cs, STE_NOT_AUTHORIZED, "the handshake comes first");
        return;
    }
    if (!handshake_ok(cs, node_text(stanza_root(st)))) {
        stream_error(cs, STE_NOT_AUTHORIZED, "wrong handshake for this domain's secret");
        return;
    }
    struct comp_entry *e = entry_get(cs->domain, true);
    if (e->stream != NULL) {
        /* The first connection keeps the domain (as Prosody does): a second copy of
         * a gateway must not silently take over its traffic. */
        stream_error(cs, STE_CONFLICT, "this component is already connected");
        return;
    }
    e->stream = cs;
    e->connects++;
    snprintf(e->peer, sizeof e->peer, "[%s]:%d", conn_peer_ip(cs->conn), conn_peer_port(cs->conn));
    n_connected++;
    cs->state = COMP_AUTHENTICATED;
    if (cs->auth_timer != NULL)
        uv_timer_stop(cs->auth_timer);
    send_str(cs, "<handshake/>");
    log_info(cs->who, "component %s connected from %s", cs->domain, e->peer);
}

/* Stanzas in jabber:component:accept become jabber:client inside the server, so that
 * modules and c2s see one namespace (the serializer writes it back per stream). */
static void
to_client_ns(struct xml_node *n)
{
    if (n->kind != XML_ELEMENT || strcmp(n->ns, NS_COMPONENT) != 0)
        return;
    n->ns = NS_CLIENT;
    for (struct xml_node *k = node_first_element(n); k != NULL; k = node_next_element(k))
        to_client_ns(k);
}

static void
handle_stanza(struct comp_stream *cs, struct stanza *st)
{
    const char *name = stanza_name(st);
    const char *ns = stanza_ns(st);
    if (strcmp(name, "message") != 0 && strcmp(name, "presence") != 0 && strcmp(name, "iq") != 0) {
        stanza_unref(st);
        stream_error(cs, STE_UNSUPPORTED_STANZA_TYPE, NULL);
        return;
    }
    if (strcmp(ns, NS_COMPONENT) != 0 && strcmp(ns, NS_CLIENT) != 0) {
        stanza_unref(st);
        stream_error(cs, STE_INVALID_NAMESPACE, NULL);
        return;
    }
    /* XEP-0114 §3 and RFC 6120 §4.9.3: the component speaks for its own domain only,
     * and names both ends (there is no session to stamp them from). */
    const char *from_s = stanza_attr(st, "from");
    const char *to_s = stanza_attr(st, "to");
    if (from_s == NULL || to_s == NULL) {
        stanza_unref(st);
        stream_error(cs, STE_IMPROPER_ADDRESSING, "a stanza needs 'from' and 'to'");
        return;
    }
    struct jid *from = jid_new(from_s);
    bool ok = from != NULL && strcmp(from->domain, cs->domain) == 0;
    jid_free(from);
    if (!ok) {
        stanza_unref(st);
        stream_error(cs, STE_INVALID_FROM, "'from' must be in the component's domain");
        return;
    }
    to_client_ns(stanza_root(st));
    struct comp_entry *e = entry_get(cs->domain, false);
    if (e != NULL)
        e->stanzas_in++;
    route(st);
}

static void
on_stanza(void *ud, struct conn *c, struct stanza *st)
{
    (void)c;
    struct comp_stream *cs = ud;
    switch (cs->state) {
    case COMP_AUTHENTICATED:
        handle_stanza(cs, st);
        return;
    case COMP_WAIT_HANDSHAKE:
        handle_handshake(cs, st);
        break;
    case COMP_WAIT_HEADER:
        stream_error(cs, STE_BAD_FORMAT, NULL);
        break;
    case COMP_CLOSING:
        break;
    }
    stanza_unref(st);
}

static void
close_stream(struct comp_stream *cs)
{
    if (cs->state == COMP_CLOSING || cs->conn == NULL)
        return;
    detach(cs, "stream closed");
    send_str(cs, "</stream:stream>");
    cs->state = COMP_CLOSING;
    conn_close(cs->conn);
}

static void
on_stream_close(void *ud, struct conn *c)
{
    (void)c;
    struct comp_stream *cs = ud;
    log_debug(cs->who, "component closed the stream");
    close_stream(cs);
}

static void
on_parse_error(void *ud, struct conn *c, enum parser_error err, const char *detail)
{
    struct comp_stream *cs = ud;
    log_info(cs->who, "bad input from %s: %s", conn_peer_ip(c), detail ? detail : "");
    stream_error(cs, parse_error_condition(err), NULL);
}

static void
stream_free(struct comp_stream *cs)
{
    if (cs->auth_timer != NULL) {
        uv_timer_stop(cs->auth_timer);
        uv_close((uv_handle_t *)cs->auth_timer, (uv_close_cb)yb_free);
    }
    yb_free(cs->domain);
    yb_free(cs);
}

static void
on_closed(void *ud, struct conn *c, enum conn_close_reason why)
{
    (void)c;
    struct comp_stream *cs = ud;
    static const char *const reasons[] = {"closed",          "peer closed",  "TLS failure",
                                          "output overflow", "socket error", "connect failure"};
    log_debug(cs->who, "connection closed (%s)",
              (size_t)why < sizeof reasons / sizeof reasons[0] ? reasons[why] : "?");
    detach(cs, (size_t)why < sizeof reasons / sizeof reasons[0] ? reasons[why] : "?");
    cs->conn = NULL;
    cs->state = COMP_CLOSING;
    list_remove(&cs->link);
    srv->n_streams--;
    stream_free(cs);
}

static const struct conn_handler component_handler = {
    .stream_open = on_stream_open,
    .stanza = on_stanza,
    .stream_close = on_stream_close,
    .parse_error = on_parse_error,
    .closed = on_closed,
};

static void
on_auth_timeout(uv_timer_t *t)
{
    struct comp_stream *cs = t->data;
    if (cs->state != COMP_AUTHENTICATED)
        stream_error(cs, STE_CONNECTION_TIMEOUT, "the handshake took too long");
}

const struct conn_handler *
component_accept(void *ud, struct conn *c, void **conn_ud)
{
    (void)ud;
    if (srv->stopping)
        return NULL;
    static unsigned long next_id;
    struct comp_stream *cs = yb_calloc(1, sizeof *cs);
    snprintf(cs->who, sizeof cs->who, "component#%lu", ++next_id);
    cs->conn = c;
    conn_set_content_ns(c, NS_COMPONENT);
    list_insert_tail(&streams, &cs->link);
    srv->n_streams++;
    srv->stats.connections++;
    cs->auth_timer = yb_malloc(sizeof *cs->auth_timer);
    uv_timer_init(srv->loop, cs->auth_timer);
    cs->auth_timer->data = cs;
    uv_timer_start(cs->auth_timer, on_auth_timeout, (uint64_t)srv->cfg->auth_timeout_s * 1000, 0);
    log_info(cs->who, "connection from [%s]:%d on %s", conn_peer_ip(c), conn_peer_port(c),
             conn_listener_name(c));
    *conn_ud = cs;
    return &component_handler;
}

bool
component_deliver(const char *domain, struct stanza *st)
{
    if (config_find_component(srv->cfg, domain) == NULL)
        return false;
    struct comp_entry *e = entry_get(domain, false);
    struct comp_stream *cs = e ? e->stream : NULL;
    if (cs == NULL || cs->conn == NULL || cs->state != COMP_AUTHENTICATED) {
        /* A known service that is down: not a remote server to look for. Presence
         * is dropped (RFC 6121 §8.5: nobody there to receive it; a bounce per probe
         * or broadcast would be noise); messages and iq get/set bounce. */
        if (strcmp(stanza_name(st), "presence") != 0)
            route_error(st, SE_SERVICE_UNAVAILABLE, "the component is not connected");
        stanza_unref(st);
        return true;
    }
    e->stanzas_out++;
    conn_send(cs->conn, st);
    return true;
}

size_t
component_connected_count(void)
{
    return n_connected;
}

void
component_admin_list(struct buf *out)
{
    const struct config *cfg = srv->cfg;
    for (size_t i = 0; i < cfg->n_components; i++) {
        const char *d = cfg->components[i].domain;
        const struct comp_entry *e = entry_get(d, false);
        bool up = e != NULL && e->stream != NULL;
        buf_printf(out, "%s\t%s\t%s\t%llu\t%llu\n", d, up ? "connected" : "disconnected",
                   e != NULL && e->peer[0] ? e->peer : "-",
                   (unsigned long long)(e ? e->stanzas_in : 0),
                   (unsigned long long)(e ? e->stanzas_out : 0));
    }
}

void
component_stop(void)
{
    struct list_node *n, *tmp;
    LIST_FOREACH_SAFE(n, tmp, &streams)
    {
        struct comp_stream *cs = LIST_ENTRY(n, struct comp_stream, link);
        stream_error(cs, STE_SYSTEM_SHUTDOWN, NULL);
    }
}

void
component_fini(void)
{
    if (!entries_ready)
        return;
    struct hashmap_iter it;
    void *v;
    hashmap_iter_init(&it, &entries);
    while (hashmap_iter_next(&it, NULL, &v))
        yb_free(v);
    hashmap_fini(&entries);
    entries_ready = false;
    n_connected = 0;
}
