/* SPDX-License-Identifier: MIT
 *
 * client.c: the client side of an XMPP c2s stream as a state machine driven by
 * net's parsed events (RFC 6120 §4-§7, RFC 6121 §2.2 and §4.2). It owns its
 * connection and its SASL state; it never blocks except for SCRAM's key derivation
 * (PBKDF2 with the server's iteration count), which a client cannot avoid.
 */
#include "client.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "base64.h"
#include "buf.h"
#include "conn.h"
#include "error.h"
#include "scram.h"

#define NS_CLIENT  "jabber:client"
#define NS_TLS     "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL    "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND    "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_ROSTER  "jabber:iq:roster"

enum client_state {
    CS_CONNECTING, /* until the server's first <stream:features> */
    CS_STARTTLS,   /* <starttls/> sent, waiting for <proceed/> */
    CS_TLS,        /* handshake, then the new stream's features */
    CS_SASL,       /* <auth/> sent */
    CS_AUTHED,     /* restarted after <success/>, waiting for features */
    CS_BIND,
    CS_SESSION,
    CS_ROSTER,
    CS_ONLINE,
    CS_CLOSING, /* we sent </stream:stream> or gave up */
};

struct client {
    struct conn *conn;
    const struct client_callbacks *cb;
    void *ud;
    enum client_state state;
    bool tls;
    bool session_needed; /* RFC 3921 session establishment, if not optional */
    bool roster_get, initial_presence;
    bool logout; /* client_close() was called */
    enum client_sasl sasl;
    enum client_error err; /* the first failure, CLIENT_OK if none */
    char detail[48];
    char *domain, *user, *password, *resource;
    struct scram_client *scram;
    char *jid;
};

static const char *const error_names[CLIENT_N_ERRORS] = {
    [CLIENT_OK] = "ok",           [CLIENT_E_CONNECT] = "connect",   [CLIENT_E_TLS] = "tls",
    [CLIENT_E_AUTH] = "auth",     [CLIENT_E_PROTOCOL] = "protocol", [CLIENT_E_STREAM] = "stream",
    [CLIENT_E_CLOSED] = "closed", [CLIENT_E_ABORTED] = "aborted",
};

const char *
client_error_name(enum client_error err)
{
    return (unsigned)err < CLIENT_N_ERRORS ? error_names[err] : "?";
}

const char *
client_sasl_mech(enum client_sasl m)
{
    switch (m) {
    case CLIENT_SASL_PLAIN:
        return "PLAIN";
    case CLIENT_SASL_SCRAM_SHA1:
        return "SCRAM-SHA-1";
    case CLIENT_SASL_SCRAM_SHA256:
        return "SCRAM-SHA-256";
    }
    return "?";
}

/* Records the first failure and ends the connection (flushing what is queued, so a
 * closing tag we queued reaches the server). */
static void
fail(struct client *c, enum client_error err, const char *detail)
{
    if (c->err == CLIENT_OK && !c->logout) {
        c->err = err;
        snprintf(c->detail, sizeof c->detail, "%s", detail ? detail : "");
    }
    if (c->state != CS_CLOSING) {
        c->state = CS_CLOSING;
        conn_send_raw(c->conn, "</stream:stream>", 16);
    }
    conn_close(c->conn);
}

static void
send_buf(struct client *c, struct buf *b)
{
    if (b->data == NULL) {
        fail(c, CLIENT_E_ABORTED, "out of memory");
        return;
    }
    conn_send_raw(c->conn, b->data, b->len);
    buf_fini(b);
}

/* RFC 6120 §4.7: the initial stream header, sent again after TLS and SASL. */
static void
send_header(struct client *c)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns='" NS_CLIENT
                 "' xmlns:stream='" NS_STREAMS "' to='");
    buf_put_xml_escaped(&b, c->domain, strlen(c->domain));
    buf_puts(&b, "' version='1.0'>");
    send_buf(c, &b);
}

static void
send_sasl(struct client *c, const char *element, const char *mech, const char *data, size_t len)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "<%s xmlns='" NS_SASL "'", element);
    if (mech)
        buf_printf(&b, " mechanism='%s'", mech);
    buf_putc(&b, '>');
    char *b64 = len ? base64_encode(data, len) : NULL;
    buf_puts(&b, b64 ? b64 : "=");
    yb_free(b64);
    buf_printf(&b, "</%s>", element);
    send_buf(c, &b);
}

static bool
has_mechanism(const struct xml_node *mechs, const char *name)
{
    for (struct xml_node *m = node_first_element(mechs); m; m = node_next_element(m)) {
        const char *t = node_text(m);
        if (strcmp(m->name, "mechanism") == 0 && t && strcmp(t, name) == 0)
            return true;
    }
    return false;
}

static void
start_auth(struct client *c, const struct xml_node *mechs)
{
    const char *mech = client_sasl_mech(c->sasl);
    if (mechs == NULL || !has_mechanism(mechs, mech)) {
        fail(c, CLIENT_E_AUTH, "mechanism not offered");
        return;
    }
    c->state = CS_SASL;
    if (c->sasl == CLIENT_SASL_PLAIN) {
        /* RFC 4616: [authzid] NUL authcid NUL passwd */
        struct buf msg = BUF_INIT;
        buf_putc(&msg, '\0');
        buf_puts(&msg, c->user);
        buf_putc(&msg, '\0');
        buf_puts(&msg, c->password);
        if (msg.data)
            send_sasl(c, "auth", mech, msg.data, msg.len);
        if (msg.data)
            memset(msg.data, 0, msg.len);
        buf_fini(&msg);
        return;
    }
    enum scram_hash h = c->sasl == CLIENT_SASL_SCRAM_SHA1 ? SCRAM_SHA1 : SCRAM_SHA256;
    c->scram = scram_client_new(h, c->user, c->password, NULL, NULL, 0);
    char *first = c->scram ? scram_client_first(c->scram) : NULL;
    if (first == NULL) {
        fail(c, CLIENT_E_AUTH, "SCRAM setup failed");
        return;
    }
    send_sasl(c, "auth", mech, first, strlen(first));
    yb_free(first);
}

/* Decodes the base64 text of a SASL element ("" or "=" is empty). NULL if invalid. */
static unsigned char *
sasl_data(const struct stanza *st, size_t *len)
{
    const char *t = node_text(stanza_root(st));
    if (t == NULL)
        return NULL;
    if (t[0] == '\0' || strcmp(t, "=") == 0) {
        *len = 0;
        return (unsigned char *)yb_strdup("");
    }
    return base64_decode(t, strlen(t), len);
}

static void
send_iq(struct client *c, const char *type, const char *id, const char *payload)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "<iq type='%s' id='%s'>%s</iq>", type, id, payload);
    send_buf(c, &b);
}

static void
start_bind(struct client *c)
{
    c->state = CS_BIND;
    struct buf b = BUF_INIT;
    buf_puts(&b, "<iq type='set' id='bind'><bind xmlns='" NS_BIND "'>");
    if (c->resource) {
        buf_puts(&b, "<resource>");
        buf_put_xml_text(&b, c->resource, strlen(c->resource));
        buf_puts(&b, "</resource>");
    }
    buf_puts(&b, "</bind></iq>");
    send_buf(c, &b);
}

/* After bind (and session): the roster, the presence, then online. */
static void
finish_login(struct client *c)
{
    if (c->roster_get && c->state != CS_ROSTER) {
        c->state = CS_ROSTER;
        send_iq(c, "get", "roster", "<query xmlns='" NS_ROSTER "'/>");
        return;
    }
    if (c->initial_presence)
        conn_send_raw(c->conn, "<presence/>", 11);
    c->state = CS_ONLINE;
    c->cb->online(c->ud, c);
}

static void
on_features(struct client *c, const struct stanza *st)
{
    if (!c->tls) {
        /* RFC 6120 §5.3.1: we always use TLS; a server without it is refused. */
        if (stanza_child(st, "starttls", NS_TLS) == NULL) {
            fail(c, CLIENT_E_TLS, "no STARTTLS offered");
            return;
        }
        c->state = CS_STARTTLS;
        static const char starttls[] = "<starttls xmlns='" NS_TLS "'/>";
        conn_send_raw(c->conn, starttls, sizeof starttls - 1);
        return;
    }
    if (c->state != CS_AUTHED) {
        start_auth(c, stanza_child(st, "mechanisms", NS_SASL));
        return;
    }
    if (stanza_child(st, "bind", NS_BIND) == NULL) {
        fail(c, CLIENT_E_PROTOCOL, "no bind offered");
        return;
    }
    /* RFC 6121 Appendix E: a session feature without <optional/> must be used. */
    const struct xml_node *sess = stanza_child(st, "session", NS_SESSION);
    c->session_needed = sess && node_child(sess, "optional", NS_SESSION) == NULL;
    start_bind(c);
}

static void
on_sasl(struct client *c, const struct stanza *st)
{
    const char *name = stanza_name(st);
    if (c->state != CS_SASL) {
        fail(c, CLIENT_E_PROTOCOL, "unexpected SASL element");
        return;
    }
    if (strcmp(name, "failure") == 0) {
        const struct xml_node *cond = node_first_element(stanza_root(st));
        fail(c, CLIENT_E_AUTH, cond ? cond->name : "failure");
        return;
    }
    size_t len = 0;
    unsigned char *data = sasl_data(st, &len);
    if (data == NULL) {
        fail(c, CLIENT_E_AUTH, "bad base64 from server");
        return;
    }
    if (strcmp(name, "challenge") == 0 && c->scram) {
        char *final = scram_client_final(c->scram, (const char *)data, len);
        if (final == NULL)
            fail(c, CLIENT_E_AUTH, "bad SCRAM challenge");
        else
            send_sasl(c, "response", NULL, final, strlen(final));
        yb_free(final);
    } else if (strcmp(name, "success") == 0) {
        /* RFC 5802 §5: the server proves it knows the password too. */
        if (c->scram && scram_client_verify(c->scram, (const char *)data, len) != 0) {
            fail(c, CLIENT_E_AUTH, "server signature mismatch");
        } else {
            scram_client_free(c->scram);
            c->scram = NULL;
            c->state = CS_AUTHED;
            conn_restart_stream(c->conn); /* RFC 6120 §6.4.6 */
            send_header(c);
        }
    } else {
        fail(c, CLIENT_E_PROTOCOL, name);
    }
    yb_free(data);
}

static void
on_iq_result(struct client *c, const struct stanza *st)
{
    const char *type = stanza_attr(st, "type");
    if (type == NULL || strcmp(type, "result") != 0) {
        fail(c, CLIENT_E_PROTOCOL, c->state == CS_BIND ? "bind refused" : "iq refused");
        return;
    }
    if (c->state == CS_BIND) {
        const struct xml_node *bind = stanza_child(st, "bind", NS_BIND);
        const char *jid = bind ? node_child_text(bind, "jid", NS_BIND) : NULL;
        if (jid == NULL || (c->jid = yb_strdup(jid)) == NULL) {
            fail(c, CLIENT_E_PROTOCOL, "no bound JID");
            return;
        }
        if (c->session_needed) {
            c->state = CS_SESSION;
            send_iq(c, "set", "sess", "<session xmlns='" NS_SESSION "'/>");
            return;
        }
    }
    finish_login(c);
}

/* The id we wait for in a login state, or NULL. */
static const char *
expected_iq(const struct client *c)
{
    switch (c->state) {
    case CS_BIND:
        return "bind";
    case CS_SESSION:
        return "sess";
    case CS_ROSTER:
        return "roster";
    default:
        return NULL;
    }
}

static void
on_stanza(void *ud, struct conn *conn, struct stanza *st)
{
    (void)conn;
    struct client *c = ud;
    const char *name = stanza_name(st), *ns = stanza_ns(st);
    const char *want = expected_iq(c), *id = stanza_attr(st, "id");
    if (c->state == CS_CLOSING) {
        /* late stanzas after a logout or failure */
    } else if (strcmp(ns, NS_STREAMS) == 0 && strcmp(name, "features") == 0) {
        on_features(c, st);
    } else if (strcmp(ns, NS_STREAMS) == 0 && strcmp(name, "error") == 0) {
        const struct xml_node *cond = node_first_element(stanza_root(st));
        fail(c, CLIENT_E_STREAM, cond ? cond->name : "stream error");
    } else if (strcmp(ns, NS_TLS) == 0) {
        if (c->state == CS_STARTTLS && strcmp(name, "proceed") == 0) {
            c->state = CS_TLS;
            conn_starttls(c->conn);
        } else {
            fail(c, CLIENT_E_TLS, "STARTTLS refused");
        }
    } else if (strcmp(ns, NS_SASL) == 0) {
        on_sasl(c, st);
    } else if (want && strcmp(name, "iq") == 0 && id && strcmp(id, want) == 0) {
        on_iq_result(c, st);
    } else if (c->state == CS_ONLINE && c->cb->stanza) {
        c->cb->stanza(c->ud, c, st);
    }
    stanza_unref(st);
}

static void
on_connected(void *ud, struct conn *conn)
{
    (void)conn;
    struct client *c = ud;
    if (!c->tls)
        send_header(c); /* direct TLS: once the handshake is done (on_tls_done) */
}

static void
on_tls_done(void *ud, struct conn *conn, const struct conn_tls_info *info)
{
    (void)conn;
    (void)info;
    struct client *c = ud;
    c->tls = true;
    if (c->state == CS_TLS)
        send_header(c); /* RFC 6120 §5.4.3.3: a new stream over TLS */
}

static void
on_stream_open(void *ud, struct conn *conn, const struct xml_node *header, const char *content_ns)
{
    (void)conn;
    (void)header;
    struct client *c = ud;
    if (strcmp(content_ns, NS_CLIENT) != 0)
        fail(c, CLIENT_E_PROTOCOL, "not a client stream");
}

static void
on_stream_close(void *ud, struct conn *conn)
{
    (void)conn;
    struct client *c = ud;
    if (!c->logout)
        fail(c, CLIENT_E_CLOSED, "server closed the stream");
    conn_close(c->conn);
}

static void
on_parse_error(void *ud, struct conn *conn, enum parser_error err, const char *detail)
{
    (void)conn;
    (void)err;
    fail(ud, CLIENT_E_PROTOCOL, detail ? detail : "XML error");
}

static enum client_error
close_reason_error(enum conn_close_reason why)
{
    switch (why) {
    case CONN_CLOSED_CONNECT:
        return CLIENT_E_CONNECT;
    case CONN_CLOSED_TLS:
        return CLIENT_E_TLS;
    case CONN_CLOSED_LOCAL:
        return CLIENT_E_ABORTED;
    case CONN_CLOSED_PEER:
    case CONN_CLOSED_OVERFLOW:
    case CONN_CLOSED_ERROR:
        break;
    }
    return CLIENT_E_CLOSED;
}

static void
client_free(struct client *c)
{
    scram_client_free(c->scram);
    yb_free(c->domain);
    yb_free(c->user);
    if (c->password)
        memset(c->password, 0, strlen(c->password));
    yb_free(c->password);
    yb_free(c->resource);
    yb_free(c->jid);
    yb_free(c);
}

static void
on_closed(void *ud, struct conn *conn, enum conn_close_reason why)
{
    (void)conn;
    struct client *c = ud;
    enum client_error err = c->err;
    const char *detail = c->detail[0] ? c->detail : NULL;
    if (err == CLIENT_OK && !c->logout) { /* the connection failed under us */
        err = close_reason_error(why);
        detail = NULL;
    }
    c->conn = NULL;
    c->cb->closed(c->ud, c, err, detail);
    client_free(c);
}

static const struct conn_handler client_handler = {
    .tls_done = on_tls_done,
    .stream_open = on_stream_open,
    .stanza = on_stanza,
    .stream_close = on_stream_close,
    .parse_error = on_parse_error,
    .closed = on_closed,
    .connected = on_connected,
};

struct client *
client_new(struct net *n, const struct client_config *cfg, const struct client_callbacks *cb,
           void *ud)
{
    struct client *c = yb_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->cb = cb;
    c->ud = ud;
    c->sasl = cfg->sasl;
    c->roster_get = cfg->roster_get;
    c->initial_presence = cfg->initial_presence;
    c->tls = cfg->direct_tls;
    c->state = cfg->direct_tls ? CS_TLS : CS_CONNECTING;
    c->domain = yb_strdup(cfg->domain);
    c->user = yb_strdup(cfg->user);
    c->password = yb_strdup(cfg->password);
    c->resource = cfg->resource ? yb_strdup(cfg->resource) : NULL;
    if (c->domain == NULL || c->user == NULL || c->password == NULL ||
        (cfg->resource && c->resource == NULL))
        goto fail;
    struct connect_config cc = {
        .ip = cfg->ip,
        .port = cfg->port,
        .bind_ip = cfg->bind_ip,
        .direct_tls = cfg->direct_tls,
        .server_name = cfg->domain,
        .alpn = cfg->direct_tls ? "xmpp-client" : NULL,
        .name = "bench",
    };
    c->conn = net_connect(n, &cc, &client_handler, c);
    if (c->conn == NULL)
        goto fail;
    return c;
fail:
    client_free(c);
    return NULL;
}

const char *
client_jid(const struct client *c)
{
    return c->state == CS_ONLINE || (c->state == CS_CLOSING && c->jid) ? c->jid : NULL;
}

bool
client_is_online(const struct client *c)
{
    return c->state == CS_ONLINE;
}

int
client_send(struct client *c, struct stanza *st)
{
    if (c->state != CS_ONLINE) {
        stanza_unref(st);
        return c->state == CS_CLOSING ? YB_ECLOSED : YB_EINVAL;
    }
    return conn_send(c->conn, st);
}

int
client_send_raw(struct client *c, const char *xml, size_t len)
{
    if (c->state != CS_ONLINE)
        return c->state == CS_CLOSING ? YB_ECLOSED : YB_EINVAL;
    return conn_send_raw(c->conn, xml, len);
}

void
client_close(struct client *c)
{
    if (c->logout || c->conn == NULL)
        return;
    c->logout = true;
    if (c->state == CS_CLOSING) {
        conn_close(c->conn);
        return;
    }
    /* RFC 6120 §4.4: close our stream and wait for the server's closing tag
     * (on_stream_close) before closing the connection. A login still in progress
     * is simply dropped. */
    bool graceful = c->state == CS_ONLINE;
    c->state = CS_CLOSING;
    if (graceful)
        conn_send_raw(c->conn, "</stream:stream>", 16);
    else
        conn_close(c->conn);
}

void
client_abort(struct client *c)
{
    if (c->conn == NULL)
        return;
    if (c->err == CLIENT_OK)
        c->err = CLIENT_E_ABORTED;
    c->state = CS_CLOSING;
    conn_abort(c->conn);
}

size_t
client_pending_output(const struct client *c)
{
    return c->conn ? conn_pending_output(c->conn) : 0;
}
