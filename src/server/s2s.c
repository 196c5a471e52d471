/* SPDX-License-Identifier: MIT
 *
 * s2s.c: server-to-server links (RFC 6120). One outgoing link per (local domain,
 * remote domain) pair carries our stanzas to the remote; the remote's stanzas arrive
 * on streams it opens to us. Each link is found by DNS (resolve.h, RFC 6120 §3.2 and
 * XEP-0368) or a static address from s2s.remotes, secured with TLS and authenticated
 * with SASL EXTERNAL (XEP-0178) or Server Dialback (XEP-0220, also over TLS with a
 * certificate that does not prove the domain, XEP-0344). Stanzas wait in a bounded
 * queue while a link is set up and bounce with remote-server-not-found or
 * remote-server-timeout if it never comes up. Every stanza received is checked
 * against the domains its stream authenticated. See docs/internals/s2s.md.
 */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "alloc.h"
#include "base64.h"
#include "clock.h"
#include "error.h"
#include "jid.h"
#include "log.h"
#include "resolve.h"
#include "server.h"
#include "xmpp_error.h"

#define NS_SERVER           "jabber:server"
#define NS_STREAMS          "http://etherx.jabber.org/streams"
#define NS_DIALBACK         "jabber:server:dialback"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define STREAM_NS_DECL                                                                             \
    "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "                       \
    "xmlns:db='jabber:server:dialback'"

/* Dialback verifications waiting on one outgoing link. */
#define S2S_MAX_VERIFIES 64

enum out_state {
    OUT_RESOLVING,
    OUT_CONNECTING,
    OUT_NEGOTIATING, /* stream open: features, TLS, authentication */
    OUT_READY,
    OUT_CLOSING,
};

static const char *const out_state_names[] = {"resolving", "connecting", "negotiating", "ready",
                                              "closing"};

/* A dialback key we were asked to check with the authoritative server (we are the
 * receiving server): the answer goes back on incoming stream in_id. */
struct verify {
    struct list_node link;
    unsigned long in_id;
    char *stream_id; /* the incoming stream's id */
    char *key;
    bool sent;
};

struct s2s_out {
    char *key; /* "local remote" */
    char *local;
    char *remote;
    char who[32];
    enum out_state state;
    struct conn *conn;
    struct resolve_query *query;
    struct resolve_target targets[RESOLVE_MAX_TARGETS];
    size_t n_targets, next_target;
    struct stanza **queue; /* FIFO of waiting stanzas */
    size_t q_head, q_len, q_cap;
    struct list_node verifies;
    size_t n_verifies;
    /* What s2s.remotes says for the remote, copied (reloads free the config). */
    enum config_s2s_trust trust;
    enum config_s2s_auth auth;
    bool require_tls;
    bool tls;
    bool direct_tls; /* the current connection is TLS from the first byte */
    bool sasl_tried;
    bool sasl_ok;
    bool dialback_sent;
    bool peer_dialback; /* the remote offered dialback (so it may take more domains) */
    bool no_piggyback;  /* a ride was refused: this link opens its own stream */
    bool header_seen;
    bool failed;          /* bounced: nothing more is queued on this link */
    bool direct_override; /* s2s.remotes says direct TLS for its static host */
    const char *method;   /* "EXTERNAL", "dialback" */
    char tls_version[16];
    char peer[64];
    char peer_stream_id[128]; /* the id of the stream the remote opened back to us */
    uint64_t deadline_ms;     /* setup deadline, then the idle deadline */
    uint64_t n_out, n_in;
    enum stanza_error_cond fail_cond;
    /* XEP-0220 §4.3: a link for another of our domains to the same remote may ride on
     * this one's stream (authenticated by its own dialback) instead of connecting. */
    struct s2s_out *carrier; /* the link whose stream carries ours, or NULL */
    struct list_node riders; /* links riding on this one */
    struct list_node ride;   /* in carrier->riders */
};

enum in_state {
    IN_WAIT_HEADER,
    IN_NEGOTIATING,
    IN_TLS_HANDSHAKE,
    IN_CLOSING,
};

struct s2s_in {
    unsigned long id;
    char who[32];
    struct conn *conn;
    enum in_state state;
    char stream_id[17];
    char *local;  /* the stream's 'to' */
    char *remote; /* the stream's 'from', if given */
    bool tls;
    bool header_sent;
    bool sasl_ok; /* remote authenticated with SASL EXTERNAL */
    enum conn_peer_cert cert;
    char tls_version[16];
    struct hashmap pairs; /* "remote local" -> (void *)1 once authenticated */
    const char *method;
    uint64_t deadline_ms; /* authentication, then idle */
    uint64_t n_in;
    struct list_node link;
};

static struct hashmap outs; /* "local remote" -> struct s2s_out */
static bool outs_ready;
static struct list_node ins = {&ins, &ins};
static size_t n_ins;
static unsigned long next_in_id;
static struct resolver *resolver;
static unsigned char dialback_secret[32];
static bool secret_ready;

static uint64_t
now_ms(void)
{
    return uv_now(srv->loop);
}

static void
send_str(struct conn *c, const char *s)
{
    if (c != NULL)
        conn_send_raw(c, s, strlen(s));
}

/* Appends "name='value'" with the value escaped. */
static void
put_attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s='", name);
    buf_put_xml_escaped(b, value, strlen(value));
    buf_putc(b, '\'');
}

/* XEP-0220 §2.1.1 / XEP-0185: the key proves to the authoritative server (us) that
 * the receiving server talked to us. HMAC-SHA256 over the three values with a
 * per-process secret; only we ever check our own keys. */
static void
dialback_key(const char *receiving, const char *originating, const char *stream_id, char out[65])
{
    if (!secret_ready) {
        RAND_bytes(dialback_secret, sizeof dialback_secret);
        secret_ready = true;
    }
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s %s %s", receiving, originating, stream_id);
    unsigned char mac[32];
    unsigned len = 0;
    HMAC(EVP_sha256(), dialback_secret, sizeof dialback_secret, (const unsigned char *)b.data,
         b.len, mac, &len);
    buf_fini(&b);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static bool
domain_ok(const char *d)
{
    if (d == NULL || d[0] == '\0')
        return false;
    char *p = jid_nameprep(d);
    bool ok = p != NULL && strcmp(p, d) == 0;
    yb_free(p);
    return ok;
}

/* Whether a peer's certificate proves domain, as s2s.remotes says to judge it. */
static bool
cert_acceptable(struct conn *c, const char *domain, enum config_s2s_trust trust, char *why,
                size_t why_len)
{
    bool name_ok = false;
    enum conn_peer_cert st = conn_peer_cert_check(c, domain, &name_ok, why, why_len);
    if (st == CONN_CERT_NONE) {
        snprintf(why, why_len, "no certificate");
        return false;
    }
    if (!name_ok) {
        snprintf(why, why_len, "certificate does not name %s", domain);
        return false;
    }
    /* Under "dialback" trust a self-signed certificate proves nothing: the domain is
     * checked by calling its authoritative server back. */
    if (st != CONN_CERT_TRUSTED && trust != S2S_TRUST_SELF_SIGNED)
        snprintf(why, why_len, "certificate for %s not signed by a trusted CA", domain);
    return st == CONN_CERT_TRUSTED || trust == S2S_TRUST_SELF_SIGNED;
}

static void
remote_settings(const char *domain, enum config_s2s_trust *trust, enum config_s2s_auth *auth,
                bool *require_tls)
{
    const struct config_remote *r = config_find_remote(srv->cfg, domain);
    *trust = r ? r->trust : S2S_TRUST_CA;
    *auth = r ? r->auth : S2S_AUTH_ANY;
    *require_tls = r ? r->require_tls : srv->cfg->s2s_require_tls;
}

/* ---- incoming streams (we are the receiving server) ---- */

static struct s2s_in *
in_find(unsigned long id)
{
    struct list_node *n;
    LIST_FOREACH(n, &ins)
    {
        struct s2s_in *in = LIST_ENTRY(n, struct s2s_in, link);
        if (in->id == id)
            return in;
    }
    return NULL;
}

static void
in_send_header(struct s2s_in *in)
{
    if (in->header_sent)
        return;
    struct buf b = BUF_INIT;
    server_random_id(in->stream_id);
    buf_printf(&b, "<?xml version='1.0'?><stream:stream " STREAM_NS_DECL " id='%s' version='1.0'",
               in->stream_id);
    if (in->local != NULL)
        put_attr(&b, "from", in->local);
    if (in->remote != NULL)
        put_attr(&b, "to", in->remote);
    buf_putc(&b, '>');
    send_str(in->conn, b.data);
    buf_fini(&b);
    in->header_sent = true;
}

static void
in_stream_error(struct s2s_in *in, enum stream_error_cond cond, const char *text)
{
    if (in->state == IN_CLOSING || in->conn == NULL)
        return;
    in_send_header(in);
    struct buf b = BUF_INIT;
    stream_error_serialize(cond, text, &b);
    buf_puts(&b, "</stream:stream>");
    send_str(in->conn, b.data);
    buf_fini(&b);
    log_info(in->who, "stream error %s%s%s", stream_error_name(cond), text ? ": " : "",
             text ? text : "");
    in->state = IN_CLOSING;
    conn_close(in->conn);
}

static void
in_close(struct s2s_in *in)
{
    if (in->state == IN_CLOSING || in->conn == NULL)
        return;
    send_str(in->conn, "</stream:stream>");
    in->state = IN_CLOSING;
    conn_close(in->conn);
}

/* Whether the peer's certificate lets it use SASL EXTERNAL for its stream's 'from'. */
static bool
in_external_ok(struct s2s_in *in, char *why, size_t why_len)
{
    if (!in->tls || in->remote == NULL) {
        snprintf(why, why_len, "no TLS or no 'from'");
        return false;
    }
    enum config_s2s_trust trust;
    enum config_s2s_auth auth;
    bool req;
    remote_settings(in->remote, &trust, &auth, &req);
    return cert_acceptable(in->conn, in->remote, trust, why, why_len);
}

static void
in_send_features(struct s2s_in *in)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "<stream:features>");
    bool require_tls = srv->cfg->s2s_require_tls;
    if (in->remote != NULL) {
        enum config_s2s_trust trust;
        enum config_s2s_auth auth;
        remote_settings(in->remote, &trust, &auth, &require_tls);
    }
    if (!in->tls) {
        buf_printf(&b, "<starttls xmlns='" NS_TLS "'>%s</starttls>",
                   require_tls ? "<required/>" : "");
    }
    if (in->tls || !require_tls) {
        char why[128];
        if (!in->sasl_ok && in_external_ok(in, why, sizeof why))
            buf_puts(&b, "<mechanisms xmlns='" NS_SASL "'><mechanism>EXTERNAL</mechanism>"
                         "</mechanisms>");
        /* XEP-0220 §2.1 with the error extension of §2.4. */
        buf_puts(&b, "<dialback xmlns='" NS_DIALBACK_FEATURE "'><errors/></dialback>");
    }
    buf_puts(&b, "</stream:features>");
    send_str(in->conn, b.data);
    buf_fini(&b);
}

static void
in_on_tls_done(void *ud, struct conn *c, const struct conn_tls_info *info)
{
    struct s2s_in *in = ud;
    bool name_ok;
    in->tls = true;
    in->cert = conn_peer_cert_check(c, NULL, &name_ok, NULL, 0);
    snprintf(in->tls_version, sizeof in->tls_version, "%s", info->version);
    in->header_sent = false;
    in->state = IN_WAIT_HEADER;
    log_debug(in->who, "TLS established: %s %s", info->version, info->cipher);
}

static void
in_on_stream_open(void *ud, struct conn *c, const struct xml_node *header, const char *content_ns)
{
    (void)c;
    struct s2s_in *in = ud;
    if (in->state == IN_CLOSING)
        return;
    const char *to = node_attr(header, "to");
    const char *from = node_attr(header, "from");
    char *local = to ? jid_nameprep(to) : NULL;
    char *remote = from ? jid_nameprep(from) : NULL;
    yb_free(in->local);
    in->local = local;
    if (remote != NULL) {
        yb_free(in->remote);
        in->remote = remote;
    }
    bool known = local != NULL && host_is_local(local);
    if (!known) {
        yb_free(in->local);
        in->local = NULL;
    }
    in_send_header(in);
    if (strcmp(header->name, "stream") != 0 || strcmp(header->ns, NS_STREAMS) != 0 ||
        strcmp(content_ns, NS_SERVER) != 0) {
        in_stream_error(in, STE_INVALID_NAMESPACE, NULL);
        return;
    }
    const char *version = node_attr(header, "version");
    if (version == NULL || strtol(version, NULL, 10) != 1) {
        in_stream_error(in, STE_UNSUPPORTED_VERSION, NULL);
        return;
    }
    if (!known) {
        in_stream_error(in, STE_HOST_UNKNOWN, NULL);
        return;
    }
    in->state = IN_NEGOTIATING;
    in_send_features(in);
}

/* RFC 6120 §6.4 with XEP-0178 §3: EXTERNAL, the peer's certificate is the proof. */
static void
in_handle_auth(struct s2s_in *in, struct stanza *st)
{
    const char *mech = stanza_attr(st, "mechanism");
    char why[128] = "";
    const char *cond = NULL;
    if (in->sasl_ok || mech == NULL || strcmp(mech, "EXTERNAL") != 0) {
        cond = "invalid-mechanism";
    } else if (!in_external_ok(in, why, sizeof why)) {
        cond = "not-authorized";
    } else {
        /* An authorization identity, if any, must be the stream's 'from'. */
        const char *text = node_text(stanza_root(st));
        if (text != NULL && text[0] != '\0' && strcmp(text, "=") != 0) {
            size_t len = 0;
            unsigned char *authz = base64_decode(text, strlen(text), &len);
            bool same = authz != NULL && len == strlen(in->remote) &&
                        strncasecmp((const char *)authz, in->remote, len) == 0;
            yb_free(authz);
            if (!same) {
                cond = "invalid-authzid";
                snprintf(why, sizeof why, "authorization identity is not %s", in->remote);
            }
        }
    }
    struct buf b = BUF_INIT;
    if (cond != NULL) {
        log_info(in->who, "SASL EXTERNAL refused for %s: %s", in->remote ? in->remote : "?",
                 why[0] ? why : cond);
        buf_printf(&b, "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
        send_str(in->conn, b.data);
        buf_fini(&b);
        return;
    }
    in->sasl_ok = true;
    in->method = "EXTERNAL";
    buf_printf(&b, "%s %s", in->remote, in->local);
    hashmap_set(&in->pairs, b.data, (void *)1);
    buf_fini(&b);
    send_str(in->conn, "<success xmlns='" NS_SASL "'/>");
    in->header_sent = false;
    in->state = IN_WAIT_HEADER;
    in->deadline_ms = now_ms() + (uint64_t)srv->cfg->s2s_idle_timeout_s * 1000;
    conn_restart_stream(in->conn);
    log_info(in->who, "%s authenticated with SASL EXTERNAL (%s)", in->remote, in->tls_version);
}

static void
in_send_db_result(struct s2s_in *in, const char *local, const char *remote, const char *type,
                  const char *error)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "<db:result");
    put_attr(&b, "from", local);
    put_attr(&b, "to", remote);
    put_attr(&b, "type", type);
    if (error != NULL)
        buf_printf(&b, "><error type='cancel'><%s xmlns='" NS_STANZAS "'/></error></db:result>",
                   error);
    else
        buf_puts(&b, "/>");
    send_str(in->conn, b.data);
    buf_fini(&b);
}

static void
in_pair_valid(struct s2s_in *in, const char *local, const char *remote, const char *how)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s %s", remote, local);
    hashmap_set(&in->pairs, b.data, (void *)1);
    buf_fini(&b);
    if (in->method == NULL)
        in->method = how;
    in->deadline_ms = now_ms() + (uint64_t)srv->cfg->s2s_idle_timeout_s * 1000;
    in_send_db_result(in, local, remote, "valid", NULL);
    log_info(in->who, "%s authenticated for %s with %s", remote, local, how);
}

static void out_add_verify(const char *local, const char *remote, struct s2s_in *in,
                           const char *key);

/* XEP-0220 §2.1.2: the initiating server claims a domain with a key; the
 * authoritative server (reached by DNS) has to confirm it. XEP-0344 §2.4: a
 * certificate that proves the domain already is enough. */
static void
in_handle_db_result(struct s2s_in *in, struct stanza *st)
{
    const char *from = stanza_attr(st, "from");
    const char *to = stanza_attr(st, "to");
    const char *key = node_text(stanza_root(st));
    if (!domain_ok(from) || !domain_ok(to) || key == NULL || key[0] == '\0') {
        in_stream_error(in, STE_IMPROPER_ADDRESSING, "dialback needs 'from', 'to' and a key");
        return;
    }
    if (!host_is_local(to)) {
        in_send_db_result(in, to, from, "error", "item-not-found");
        return;
    }
    enum config_s2s_trust trust;
    enum config_s2s_auth auth;
    bool require_tls;
    remote_settings(from, &trust, &auth, &require_tls);
    if (require_tls && !in->tls) {
        in_stream_error(in, STE_POLICY_VIOLATION, "TLS is required");
        return;
    }
    char why[128] = "";
    if (in->tls && cert_acceptable(in->conn, from, trust, why, sizeof why)) {
        in_pair_valid(in, to, from, "dialback (certificate)");
        return;
    }
    if (trust != S2S_TRUST_DIALBACK) {
        log_info(in->who, "dialback for %s refused: %s", from, why);
        in_send_db_result(in, to, from, "error", "not-authorized");
        return;
    }
    out_add_verify(to, from, in, key);
}

/* XEP-0220 §2.1.2, authoritative side: was this key made by us for this stream? */
static void
in_handle_db_verify(struct s2s_in *in, struct stanza *st)
{
    const char *from = stanza_attr(st, "from");
    const char *to = stanza_attr(st, "to");
    const char *id = stanza_attr(st, "id");
    const char *key = node_text(stanza_root(st));
    if (!domain_ok(from) || !domain_ok(to) || id == NULL || key == NULL) {
        in_stream_error(in, STE_IMPROPER_ADDRESSING, "dialback needs 'from', 'to', 'id', a key");
        return;
    }
    struct buf b = BUF_INIT;
    buf_puts(&b, "<db:verify");
    put_attr(&b, "from", to);
    put_attr(&b, "to", from);
    put_attr(&b, "id", id);
    if (!host_is_local(to)) {
        buf_puts(&b, " type='error'><error type='cancel'><item-not-found xmlns='" NS_STANZAS
                     "'/></error></db:verify>");
    } else {
        char expect[65];
        dialback_key(from, to, id, expect);
        bool ok = strlen(key) == 64 && CRYPTO_memcmp(expect, key, 64) == 0;
        put_attr(&b, "type", ok ? "valid" : "invalid");
        buf_puts(&b, "/>");
        log_info(in->who, "dialback key for %s -> %s checked: %s", to, from,
                 ok ? "valid" : "invalid");
    }
    send_str(in->conn, b.data);
    buf_fini(&b);
}

/* RFC 6120 §8.1.1.2, §4.9.3: every stanza names both ends, the receiving end is ours
 * and the sending domain is one this stream proved. */
static void
in_handle_stanza(struct s2s_in *in, struct stanza *st)
{
    const char *from_s = stanza_attr(st, "from");
    const char *to_s = stanza_attr(st, "to");
    if (from_s == NULL || to_s == NULL) {
        stanza_unref(st);
        in_stream_error(in, STE_IMPROPER_ADDRESSING, NULL);
        return;
    }
    struct jid *from = jid_new(from_s);
    struct jid *to = jid_new(to_s);
    if (from == NULL || to == NULL) {
        jid_free(from);
        jid_free(to);
        stanza_unref(st);
        in_stream_error(in, STE_IMPROPER_ADDRESSING, "malformed 'from' or 'to'");
        return;
    }
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s %s", from->domain, to->domain);
    bool ok = hashmap_get(&in->pairs, b.data) != NULL ||
              (in->sasl_ok && in->remote != NULL && strcmp(from->domain, in->remote) == 0);
    buf_fini(&b);
    bool local = host_is_local(to->domain) || config_find_component(srv->cfg, to->domain);
    jid_free(from);
    jid_free(to);
    if (!local) {
        stanza_unref(st);
        in_stream_error(in, STE_HOST_UNKNOWN, "not a domain of this server");
        return;
    }
    if (!ok) {
        stanza_unref(st);
        in_stream_error(in, STE_INVALID_FROM, "domain not authenticated on this stream");
        return;
    }
    in->n_in++;
    in->deadline_ms = now_ms() + (uint64_t)srv->cfg->s2s_idle_timeout_s * 1000;
    if (stanza_is_shared(st)) {
        struct stanza *copy = stanza_copy(st);
        stanza_unref(st);
        st = copy;
    }
    route(st);
}

static void
in_on_stanza(void *ud, struct conn *c, struct stanza *st)
{
    (void)c;
    struct s2s_in *in = ud;
    if (in->state == IN_CLOSING) {
        stanza_unref(st);
        return;
    }
    const char *name = stanza_name(st);
    const char *ns = stanza_ns(st);
    if (strcmp(ns, NS_STREAMS) == 0 && strcmp(name, "error") == 0) {
        /* RFC 6120 §4.9.1.1: the peer ends the stream (e.g. system-shutdown when it
         * stops); we close ours, never answer with a stream error of our own. */
        struct xml_node *cond = node_first_element(stanza_root(st));
        log_info(in->who, "stream error from %s: %s", in->remote ? in->remote : "the peer",
                 cond ? cond->name : "?");
        stanza_unref(st);
        in_close(in);
        return;
    }
    if (strcmp(ns, NS_TLS) == 0 && strcmp(name, "starttls") == 0) {
        stanza_unref(st);
        if (in->tls || in->state != IN_NEGOTIATING) {
            send_str(in->conn, "<failure xmlns='" NS_TLS "'/></stream:stream>");
            in->state = IN_CLOSING;
            conn_close(in->conn);
            return;
        }
        send_str(in->conn, "<proceed xmlns='" NS_TLS "'/>");
        in->state = IN_TLS_HANDSHAKE;
        conn_starttls(in->conn);
        return;
    }
    if (in->state != IN_NEGOTIATING) {
        stanza_unref(st);
        in_stream_error(in, STE_NOT_AUTHORIZED, NULL);
        return;
    }
    if (strcmp(ns, NS_SASL) == 0 && strcmp(name, "auth") == 0) {
        in_handle_auth(in, st);
    } else if (strcmp(ns, NS_DIALBACK) == 0 && strcmp(name, "result") == 0) {
        in_handle_db_result(in, st);
    } else if (strcmp(ns, NS_DIALBACK) == 0 && strcmp(name, "verify") == 0) {
        in_handle_db_verify(in, st);
    } else if (hashmap_count(&in->pairs) == 0 && !in->sasl_ok) {
        in_stream_error(in, STE_NOT_AUTHORIZED, NULL); /* RFC 6120 §4.9.3.12 */
    } else if (strcmp(ns, NS_SERVER) == 0 &&
               (strcmp(name, "message") == 0 || strcmp(name, "presence") == 0 ||
                strcmp(name, "iq") == 0)) {
        in_handle_stanza(in, stanza_ref(st));
    } else {
        in_stream_error(in, STE_UNSUPPORTED_STANZA_TYPE, NULL);
    }
    stanza_unref(st);
}

static void
in_on_stream_close(void *ud, struct conn *c)
{
    (void)c;
    in_close(ud);
}

static void
in_on_parse_error(void *ud, struct conn *c, enum parser_error err, const char *detail)
{
    (void)c;
    struct s2s_in *in = ud;
    log_info(in->who, "bad input from %s: %s", conn_peer_ip(in->conn), detail ? detail : "");
    in_stream_error(in, parse_error_condition(err), NULL);
}

static void
in_on_closed(void *ud, struct conn *c, enum conn_close_reason why)
{
    (void)c;
    (void)why;
    struct s2s_in *in = ud;
    log_info(in->who, "closed (%s, %llu stanzas in)", in->remote ? in->remote : "unknown peer",
             (unsigned long long)in->n_in);
    list_remove(&in->link);
    n_ins--;
    hashmap_fini(&in->pairs);
    yb_free(in->local);
    yb_free(in->remote);
    yb_free(in);
}

static const struct conn_handler in_handler = {
    .tls_done = in_on_tls_done,
    .stream_open = in_on_stream_open,
    .stanza = in_on_stanza,
    .stream_close = in_on_stream_close,
    .parse_error = in_on_parse_error,
    .closed = in_on_closed,
};

const struct conn_handler *
s2s_accept(void *ud, struct conn *c, void **conn_ud)
{
    (void)ud;
    if (srv->stopping)
        return NULL;
    struct s2s_in *in = yb_calloc(1, sizeof *in);
    in->id = ++next_in_id;
    snprintf(in->who, sizeof in->who, "s2s-in#%lu", in->id);
    in->conn = c;
    in->state = IN_WAIT_HEADER;
    in->tls = conn_is_tls(c);
    /* Unauthenticated streams get as long as our own links get to come up. */
    in->deadline_ms = now_ms() + (uint64_t)srv->cfg->s2s_connect_timeout_s * 1000;
    hashmap_init(&in->pairs);
    list_insert_tail(&ins, &in->link);
    n_ins++;
    conn_set_content_ns(c, NS_SERVER);
    log_info(in->who, "connection from [%s]:%d on %s", conn_peer_ip(c), conn_peer_port(c),
             conn_listener_name(c));
    *conn_ud = in;
    return &in_handler;
}

/* ---- outgoing links (we are the initiating server) ---- */

static void out_try_next(struct s2s_out *o);

static void
out_queue_push(struct s2s_out *o, struct stanza *st)
{
    if (o->q_len == o->q_cap) {
        size_t cap = o->q_cap ? o->q_cap * 2 : 16;
        struct stanza **q = yb_malloc(cap * sizeof *q);
        for (size_t i = 0; i < o->q_len; i++)
            q[i] = o->queue[(o->q_head + i) % o->q_cap];
        yb_free(o->queue);
        o->queue = q;
        o->q_cap = cap;
        o->q_head = 0;
    }
    o->queue[(o->q_head + o->q_len) % o->q_cap] = st;
    o->q_len++;
}

static struct stanza *
out_queue_pop(struct s2s_out *o)
{
    if (o->q_len == 0)
        return NULL;
    struct stanza *st = o->queue[o->q_head];
    o->q_head = (o->q_head + 1) % o->q_cap;
    o->q_len--;
    return st;
}

static void
out_send_stanza(struct s2s_out *o, struct stanza *st)
{
    o->n_out++;
    o->deadline_ms = now_ms() + (uint64_t)srv->cfg->s2s_idle_timeout_s * 1000;
    if (o->carrier != NULL)
        o->carrier->deadline_ms = o->deadline_ms;
    conn_send(o->conn, st);
}

static void
verify_free(struct verify *v)
{
    list_remove(&v->link);
    yb_free(v->stream_id);
    yb_free(v->key);
    yb_free(v);
}

/* Answers every dialback verification waiting on o with error cond (the
 * authoritative server could not be reached). */
static void
out_fail_verifies(struct s2s_out *o, const char *cond)
{
    struct list_node *n, *tmp;
    LIST_FOREACH_SAFE(n, tmp, &o->verifies)
    {
        struct verify *v = LIST_ENTRY(n, struct verify, link);
        struct s2s_in *in = in_find(v->in_id);
        if (in != NULL && in->state != IN_CLOSING)
            in_send_db_result(in, o->local, o->remote, "error", cond);
        verify_free(v);
        o->n_verifies--;
    }
}

static void
out_free(struct s2s_out *o)
{
    list_remove(&o->ride);
    hashmap_remove(&outs, o->key);
    if (o->query != NULL)
        resolve_cancel(o->query);
    struct stanza *st;
    while ((st = out_queue_pop(o)) != NULL)
        stanza_unref(st);
    out_fail_verifies(o, "remote-server-not-found");
    yb_free(o->queue);
    yb_free(o->key);
    yb_free(o->local);
    yb_free(o->remote);
    yb_free(o);
}

/* The link will not come up: bounce what waits, and forget the link once its
 * connection (if any) is gone. */
static void
out_fail(struct s2s_out *o, enum stanza_error_cond cond, const char *why)
{
    if (o->failed)
        return;
    o->failed = true;
    o->fail_cond = cond;
    log_info(o->who, "link %s -> %s failed: %s (%zu stanzas bounced)", o->local, o->remote, why,
             o->q_len);
    struct stanza *st;
    while ((st = out_queue_pop(o)) != NULL) {
        route_error(st, cond, NULL);
        stanza_unref(st);
    }
    out_fail_verifies(o, cond == SE_REMOTE_SERVER_TIMEOUT ? "remote-server-timeout"
                                                          : "remote-server-not-found");
    if (o->conn != NULL && o->carrier == NULL) {
        o->state = OUT_CLOSING;
        send_str(o->conn, "</stream:stream>");
        conn_close(o->conn);
        return; /* freed in out_on_closed */
    }
    out_free(o);
}

static void
out_send_header(struct s2s_out *o)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "<?xml version='1.0'?><stream:stream " STREAM_NS_DECL);
    put_attr(&b, "from", o->local);
    put_attr(&b, "to", o->remote);
    buf_puts(&b, " version='1.0'>");
    send_str(o->conn, b.data);
    buf_fini(&b);
    o->header_seen = false;
}

static void
out_send_verifies(struct s2s_out *o)
{
    struct list_node *n;
    LIST_FOREACH(n, &o->verifies)
    {
        struct verify *v = LIST_ENTRY(n, struct verify, link);
        if (v->sent)
            continue;
        struct buf b = BUF_INIT;
        buf_puts(&b, "<db:verify");
        put_attr(&b, "from", o->local);
        put_attr(&b, "to", o->remote);
        put_attr(&b, "id", v->stream_id);
        buf_putc(&b, '>');
        buf_put_xml_text(&b, v->key, strlen(v->key));
        buf_puts(&b, "</db:verify>");
        send_str(o->conn, b.data);
        buf_fini(&b);
        v->sent = true;
    }
}

static void
out_ready(struct s2s_out *o)
{
    o->state = OUT_READY;
    o->deadline_ms = now_ms() + (uint64_t)srv->cfg->s2s_idle_timeout_s * 1000;
    log_info(o->who, "link %s -> %s up (%s, %s), %zu queued stanzas sent", o->local, o->remote,
             o->method, o->tls ? o->tls_version : "no TLS", o->q_len);
    struct stanza *st;
    while (o->conn != NULL && (st = out_queue_pop(o)) != NULL)
        out_send_stanza(o, st);
}

static void
out_send_db_result(struct s2s_out *o)
{
    char key[65];
    dialback_key(o->remote, o->local, o->peer_stream_id, key);
    struct buf b = BUF_INIT;
    buf_puts(&b, "<db:result");
    put_attr(&b, "from", o->local);
    put_attr(&b, "to", o->remote);
    buf_printf(&b, ">%s</db:result>", key);
    send_str(o->conn, b.data);
    buf_fini(&b);
    o->dialback_sent = true;
    o->method = "dialback";
}

/* The link riding on o's stream for our domain local, or NULL. */
static struct s2s_out *
out_rider(struct s2s_out *o, const char *local)
{
    struct list_node *n;
    LIST_FOREACH(n, &o->riders)
    {
        struct s2s_out *r = LIST_ENTRY(n, struct s2s_out, ride);
        if (strcmp(r->local, local) == 0)
            return r;
    }
    return NULL;
}

static void out_start_own(struct s2s_out *o);

/* A ride is over (refused, or the carrier's stream ended): the rider opens its own
 * stream if it still has work, else it is forgotten. */
static void
out_drop_ride(struct s2s_out *r, const char *why)
{
    list_remove(&r->ride);
    r->carrier = NULL;
    r->conn = NULL;
    if (r->state == OUT_READY || r->failed || srv->stopping) {
        log_info(r->who, "link %s -> %s closed (%s)", r->local, r->remote, why);
        out_free(r);
        return;
    }
    log_info(r->who, "piggybacking %s -> %s ended (%s): opening a stream", r->local, r->remote,
             why);
    r->no_piggyback = true;
    r->state = OUT_RESOLVING;
    r->method = "none";
    out_start_own(r);
}

static void
out_handle_features(struct s2s_out *o, struct stanza *st)
{
    struct xml_node *root = stanza_root(st);
    if (!o->tls && node_child(root, "starttls", NS_TLS) != NULL) {
        send_str(o->conn, "<starttls xmlns='" NS_TLS "'/>");
        return;
    }
    if (!o->tls && o->require_tls) {
        out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "the remote does not offer TLS");
        return;
    }
    if (o->sasl_ok) {
        out_ready(o); /* the features of the stream restarted after SASL */
        return;
    }
    char why[128] = "";
    if (o->tls && o->trust != S2S_TRUST_DIALBACK &&
        !cert_acceptable(o->conn, o->remote, o->trust, why, sizeof why)) {
        out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, why);
        return;
    }
    o->peer_dialback = node_child(root, "dialback", NS_DIALBACK_FEATURE) != NULL;
    out_send_verifies(o);
    bool external = false;
    struct xml_node *mechs = node_child(root, "mechanisms", NS_SASL);
    for (struct xml_node *m = mechs ? node_first_element(mechs) : NULL; m != NULL;
         m = node_next_element(m)) {
        const char *t = node_text(m);
        if (t != NULL && strcmp(t, "EXTERNAL") == 0)
            external = true;
    }
    if (external && o->auth != S2S_AUTH_DIALBACK && !o->sasl_tried) {
        /* XEP-0178 §3: the authorization identity is our domain. */
        char *authz = base64_encode(o->local, strlen(o->local));
        struct buf b = BUF_INIT;
        buf_printf(&b, "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>%s</auth>", authz);
        send_str(o->conn, b.data);
        buf_fini(&b);
        yb_free(authz);
        o->sasl_tried = true;
        return;
    }
    if (o->auth == S2S_AUTH_EXTERNAL) {
        out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "the remote does not offer SASL EXTERNAL");
        return;
    }
    /* Dialback, announced by the feature or (older servers) only by the namespace. */
    out_send_db_result(o);
}

static void
out_handle_db_verify(struct s2s_out *o, struct stanza *st)
{
    /* Verifications asked by a rider come back on the carrier's stream. */
    const char *to = stanza_attr(st, "to");
    struct s2s_out *r = to != NULL && strcmp(to, o->local) != 0 ? out_rider(o, to) : NULL;
    if (r != NULL)
        o = r;
    const char *id = stanza_attr(st, "id");
    const char *type = stanza_attr(st, "type");
    struct list_node *n;
    LIST_FOREACH(n, &o->verifies)
    {
        struct verify *v = LIST_ENTRY(n, struct verify, link);
        if (!v->sent || id == NULL || strcmp(v->stream_id, id) != 0)
            continue;
        struct s2s_in *in = in_find(v->in_id);
        if (in != NULL && in->state != IN_CLOSING) {
            if (type != NULL && strcmp(type, "valid") == 0) {
                in_pair_valid(in, o->local, o->remote, "dialback");
            } else {
                log_info(in->who, "dialback for %s: the authoritative server says %s", o->remote,
                         type ? type : "nothing");
                in_send_db_result(in, o->local, o->remote, "invalid", NULL);
            }
        }
        verify_free(v);
        o->n_verifies--;
        return;
    }
}

static void
out_on_stanza(void *ud, struct conn *c, struct stanza *st)
{
    (void)c;
    struct s2s_out *o = ud;
    const char *name = stanza_name(st);
    const char *ns = stanza_ns(st);
    o->n_in++;
    if (o->state == OUT_CLOSING) {
        stanza_unref(st);
        return;
    }
    if (strcmp(ns, NS_STREAMS) == 0 && strcmp(name, "features") == 0) {
        out_handle_features(o, st);
    } else if (strcmp(ns, NS_STREAMS) == 0 && strcmp(name, "error") == 0) {
        struct xml_node *cond = node_first_element(stanza_root(st));
        char why[96];
        snprintf(why, sizeof why, "stream error %s", cond ? cond->name : "?");
        if (o->state == OUT_READY) {
            /* A link that was up ends (e.g. the remote shuts down): nothing waits on
             * it, and the next stanza sets up a new one (RFC 6120 §4.9.1.1). */
            log_info(o->who, "link %s -> %s ended by the remote: %s", o->local, o->remote, why);
            o->state = OUT_CLOSING;
            send_str(o->conn, "</stream:stream>");
            conn_close(o->conn);
        } else {
            out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, why);
        }
    } else if (strcmp(ns, NS_TLS) == 0 && strcmp(name, "proceed") == 0) {
        conn_starttls(o->conn);
    } else if (strcmp(ns, NS_TLS) == 0) {
        out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "STARTTLS refused");
    } else if (strcmp(ns, NS_SASL) == 0 && strcmp(name, "success") == 0) {
        o->sasl_ok = true;
        o->method = "EXTERNAL";
        conn_restart_stream(o->conn);
        out_send_header(o);
    } else if (strcmp(ns, NS_SASL) == 0 && strcmp(name, "failure") == 0) {
        log_info(o->who, "SASL EXTERNAL refused by %s", o->remote);
        if (o->auth == S2S_AUTH_EXTERNAL)
            out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "SASL EXTERNAL refused");
        else
            out_send_db_result(o);
    } else if (strcmp(ns, NS_DIALBACK) == 0 && strcmp(name, "result") == 0) {
        const char *type = stanza_attr(st, "type");
        const char *to = stanza_attr(st, "to");
        bool valid = type != NULL && strcmp(type, "valid") == 0;
        struct s2s_out *r = to != NULL && strcmp(to, o->local) != 0 ? out_rider(o, to) : NULL;
        if (r != NULL) {
            /* The answer for a domain riding on this stream. */
            if (valid && r->state != OUT_READY)
                out_ready(r);
            else if (!valid)
                out_drop_ride(r, "the remote refused it");
        } else if (valid && o->state != OUT_READY) {
            out_ready(o);
        } else if (!valid) {
            out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "dialback refused");
        }
    } else if (strcmp(ns, NS_DIALBACK) == 0 && strcmp(name, "verify") == 0) {
        out_handle_db_verify(o, st);
    } else {
        log_debug(o->who, "ignoring <%s/> on an outgoing link", name);
    }
    stanza_unref(st);
}

static void
out_on_connected(void *ud, struct conn *c)
{
    struct s2s_out *o = ud;
    conn_set_content_ns(c, NS_SERVER);
    o->state = OUT_NEGOTIATING;
    snprintf(o->peer, sizeof o->peer, "[%s]:%d", conn_peer_ip(c), conn_peer_port(c));
    if (!o->direct_tls)
        out_send_header(o); /* direct TLS: after the handshake (out_on_tls_done) */
}

static void
out_on_tls_done(void *ud, struct conn *c, const struct conn_tls_info *info)
{
    (void)c;
    struct s2s_out *o = ud;
    o->tls = true;
    snprintf(o->tls_version, sizeof o->tls_version, "%s", info->version);
    out_send_header(o);
}

static void
out_on_stream_open(void *ud, struct conn *c, const struct xml_node *header, const char *content_ns)
{
    (void)c;
    struct s2s_out *o = ud;
    if (o->state == OUT_CLOSING)
        return;
    const char *id = node_attr(header, "id");
    if (strcmp(content_ns, NS_SERVER) != 0 || id == NULL ||
        strlen(id) >= sizeof o->peer_stream_id) {
        out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "bad stream header from the remote");
        return;
    }
    snprintf(o->peer_stream_id, sizeof o->peer_stream_id, "%s", id);
    o->header_seen = true;
}

static void
out_on_stream_close(void *ud, struct conn *c)
{
    (void)c;
    struct s2s_out *o = ud;
    if (o->state != OUT_READY && !o->failed)
        out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "the remote closed the stream");
    else if (o->state != OUT_CLOSING) {
        o->state = OUT_CLOSING;
        send_str(o->conn, "</stream:stream>");
        conn_close(o->conn);
    }
}

static void
out_on_parse_error(void *ud, struct conn *c, enum parser_error err, const char *detail)
{
    (void)c;
    (void)err;
    struct s2s_out *o = ud;
    log_info(o->who, "bad input from %s: %s", o->remote, detail ? detail : "");
    if (o->state == OUT_READY) {
        o->state = OUT_CLOSING;
        conn_close(o->conn);
    } else {
        out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "malformed XML from the remote");
    }
}

static void
out_on_closed(void *ud, struct conn *c, enum conn_close_reason why)
{
    (void)c;
    struct s2s_out *o = ud;
    o->conn = NULL;
    while (!list_is_empty(&o->riders))
        out_drop_ride(LIST_ENTRY(o->riders.next, struct s2s_out, ride), "its carrier closed");
    if (srv->stopping || o->failed || o->state == OUT_READY || o->state == OUT_CLOSING) {
        log_info(o->who, "link %s -> %s closed (%llu stanzas out)", o->local, o->remote,
                 (unsigned long long)o->n_out);
        if (o->q_len > 0 && !o->failed && !srv->stopping) {
            out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "link lost"); /* frees o */
            return;
        }
        out_free(o);
        return;
    }
    log_info(o->who, "connection to %s failed (%s)", o->remote,
             why == CONN_CLOSED_CONNECT ? "connect"
             : why == CONN_CLOSED_TLS   ? "TLS"
                                        : "closed");
    out_try_next(o);
}

static const struct conn_handler out_handler = {
    .connected = out_on_connected,
    .tls_done = out_on_tls_done,
    .stream_open = out_on_stream_open,
    .stanza = out_on_stanza,
    .stream_close = out_on_stream_close,
    .parse_error = out_on_parse_error,
    .closed = out_on_closed,
};

static void
out_try_next(struct s2s_out *o)
{
    while (o->next_target < o->n_targets) {
        const struct resolve_target *t = &o->targets[o->next_target++];
        o->tls = false;
        o->sasl_tried = o->sasl_ok = o->dialback_sent = false;
        o->header_seen = false;
        o->tls_version[0] = '\0';
        struct list_node *n;
        LIST_FOREACH(n, &o->verifies)
        {
            LIST_ENTRY(n, struct verify, link)->sent = false;
        }
        struct connect_config cc = {
            .ip = t->ip,
            .port = t->port,
            .direct_tls = t->direct_tls,
            .server_name = o->remote,
            .alpn = t->direct_tls ? "xmpp-server" : NULL,
            .client_identity = net_tls_has_identity(srv->net, o->local) ? o->local : NULL,
            .name = "s2s-out",
        };
        o->state = OUT_CONNECTING;
        o->direct_tls = t->direct_tls;
        log_info(o->who, "connecting to %s (%s port %d%s) for %s", o->remote, t->ip, t->port,
                 t->direct_tls ? ", direct TLS" : "", o->local);
        o->conn = net_connect(srv->net, &cc, &out_handler, o);
        if (o->conn != NULL)
            return;
    }
    out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "no address could be reached");
}

static void
on_resolved(void *ud, int status, const struct resolve_target *t, size_t n)
{
    struct s2s_out *o = ud;
    o->query = NULL;
    if (status != 0 || n == 0) {
        char why[128];
        snprintf(why, sizeof why, "DNS: %s",
                 status == RESOLVE_EUNAVAILABLE ? "the domain offers no XMPP service"
                 : status == RESOLVE_ETIMEDOUT  ? "timed out"
                 : status == RESOLVE_ENOTFOUND  ? "no such domain"
                                                : yb_strerror(status));
        out_fail(
            o, status == RESOLVE_ETIMEDOUT ? SE_REMOTE_SERVER_TIMEOUT : SE_REMOTE_SERVER_NOT_FOUND,
            why);
        return;
    }
    o->n_targets = n < RESOLVE_MAX_TARGETS ? n : RESOLVE_MAX_TARGETS;
    memcpy(o->targets, t, o->n_targets * sizeof *t);
    for (size_t i = 0; i < o->n_targets && o->direct_override; i++)
        o->targets[i].direct_tls = true;
    o->next_target = 0;
    out_try_next(o);
}

static struct resolver *
get_resolver(void)
{
    if (resolver == NULL)
        resolver = resolver_new(srv->loop, srv->cfg->s2s_dns_servers,
                                srv->cfg->s2s_connect_timeout_s * 1000 / 2);
    return resolver;
}

/* XEP-0220 §4.3: a link to a remote that one of our other domains already has a
 * stream to, which took dialback there, asks to ride on it. */
static bool
out_piggyback(struct s2s_out *o)
{
    if (o->no_piggyback || o->auth == S2S_AUTH_EXTERNAL)
        return false;
    struct hashmap_iter it;
    void *v;
    hashmap_iter_init(&it, &outs);
    while (hashmap_iter_next(&it, NULL, &v)) {
        struct s2s_out *c = v;
        if (c == o || c->carrier != NULL || c->state != OUT_READY || c->conn == NULL ||
            !c->peer_dialback || strcmp(c->remote, o->remote) != 0 || (o->require_tls && !c->tls))
            continue;
        o->carrier = c;
        list_insert_tail(&c->riders, &o->ride);
        o->conn = c->conn;
        o->tls = c->tls;
        snprintf(o->tls_version, sizeof o->tls_version, "%s", c->tls_version);
        snprintf(o->peer, sizeof o->peer, "%s", c->peer);
        snprintf(o->peer_stream_id, sizeof o->peer_stream_id, "%s", c->peer_stream_id);
        o->state = OUT_NEGOTIATING;
        log_info(o->who, "link %s -> %s rides on the stream of %s", o->local, o->remote, c->local);
        out_send_verifies(o);
        out_send_db_result(o);
        o->method = "dialback (piggyback)";
        return true;
    }
    return false;
}

static void
out_start(struct s2s_out *o)
{
    if (out_piggyback(o))
        return;
    out_start_own(o);
}

static void
out_start_own(struct s2s_out *o)
{
    const struct config_remote *r = config_find_remote(srv->cfg, o->remote);
    struct resolver *res = get_resolver();
    if (res == NULL) {
        out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "no DNS resolver");
        return;
    }
    /* resolve_host gives plain targets; a static entry may say TLS from the start. */
    o->direct_override = r != NULL && r->host != NULL && r->direct_tls;
    if (r != NULL && r->host != NULL)
        o->query = resolve_host(res, r->host, r->port, on_resolved, o);
    else
        o->query = resolve_xmpp_server(res, o->remote, on_resolved, o);
    if (o->query == NULL)
        out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "not a domain that can be looked up");
}

static struct s2s_out *
out_get(const char *local, const char *remote, bool *created)
{
    if (!outs_ready) {
        hashmap_init(&outs);
        outs_ready = true;
    }
    struct buf k = BUF_INIT;
    buf_printf(&k, "%s %s", local, remote);
    struct s2s_out *o = hashmap_get(&outs, k.data);
    *created = false;
    if (o != NULL) {
        buf_fini(&k);
        return o;
    }
    o = yb_calloc(1, sizeof *o);
    o->key = buf_steal(&k);
    o->local = yb_strdup(local);
    o->remote = yb_strdup(remote);
    snprintf(o->who, sizeof o->who, "s2s-out#%lu", ++srv->next_id);
    list_init(&o->verifies);
    list_init(&o->riders);
    list_init(&o->ride);
    remote_settings(remote, &o->trust, &o->auth, &o->require_tls);
    o->state = OUT_RESOLVING;
    o->method = "none";
    o->deadline_ms = now_ms() + (uint64_t)srv->cfg->s2s_connect_timeout_s * 1000;
    hashmap_set(&outs, o->key, o);
    *created = true;
    return o;
}

static void
out_add_verify(const char *local, const char *remote, struct s2s_in *in, const char *key)
{
    bool created;
    struct s2s_out *o = out_get(local, remote, &created);
    if (o->failed || o->n_verifies >= S2S_MAX_VERIFIES) {
        in_send_db_result(in, local, remote, "error", "remote-server-not-found");
        return;
    }
    struct verify *v = yb_calloc(1, sizeof *v);
    v->in_id = in->id;
    v->stream_id = yb_strdup(in->stream_id);
    v->key = yb_strdup(key);
    list_insert_tail(&o->verifies, &v->link);
    o->n_verifies++;
    if (created)
        out_start(o);
    else if (o->state == OUT_NEGOTIATING || o->state == OUT_READY)
        out_send_verifies(o);
}

void
s2s_route(struct stanza *st, struct jid *to)
{
    const char *from_s = stanza_attr(st, "from");
    struct jid *from = from_s ? jid_new(from_s) : NULL;
    const char *why = NULL;
    if (!srv->cfg->s2s_enabled)
        why = "federation is off";
    else if (from == NULL ||
             (!host_is_local(from->domain) && !config_find_component(srv->cfg, from->domain)))
        why = "not from a local domain";
    else if (srv->stopping)
        why = "shutting down";
    if (why != NULL) {
        log_debug("s2s", "no route to %s: %s", to->domain, why);
        route_error(st, SE_REMOTE_SERVER_NOT_FOUND, NULL);
        stanza_unref(st);
        jid_free(from);
        jid_free(to);
        return;
    }
    bool created;
    struct s2s_out *o = out_get(from->domain, to->domain, &created);
    jid_free(from);
    jid_free(to);
    if (o->failed) {
        route_error(st, o->fail_cond, NULL);
        stanza_unref(st);
        return;
    }
    if (stanza_is_shared(st)) {
        struct stanza *copy = stanza_copy(st);
        stanza_unref(st);
        st = copy;
    }
    if (o->state == OUT_READY && o->conn != NULL) {
        out_send_stanza(o, st);
        return;
    }
    if (o->q_len >= srv->cfg->s2s_max_queue) {
        route_error(st, SE_RESOURCE_CONSTRAINT, NULL);
        stanza_unref(st);
        return;
    }
    out_queue_push(o, st);
    if (created)
        out_start(o);
}

/* Once a second: setup deadlines, idle links, unauthenticated incoming streams. */
void
s2s_housekeeping(void)
{
    uint64_t now = now_ms();
    if (outs_ready) {
        struct hashmap_iter it;
        void *v;
        hashmap_iter_init(&it, &outs);
        while (hashmap_iter_next(&it, NULL, &v)) {
            struct s2s_out *o = v;
            if (o->failed || o->state == OUT_CLOSING || now < o->deadline_ms)
                continue;
            if (o->state != OUT_READY) {
                out_fail(o, SE_REMOTE_SERVER_TIMEOUT, "setup timed out");
            } else if (o->carrier != NULL) {
                if (o->n_verifies == 0)
                    out_drop_ride(o, "idle");
            } else if (o->n_verifies == 0 && list_is_empty(&o->riders)) {
                log_info(o->who, "link %s -> %s idle: closing", o->local, o->remote);
                o->state = OUT_CLOSING;
                send_str(o->conn, "</stream:stream>");
                conn_close(o->conn);
            }
        }
    }
    struct list_node *n, *tmp;
    LIST_FOREACH_SAFE(n, tmp, &ins)
    {
        struct s2s_in *in = LIST_ENTRY(n, struct s2s_in, link);
        if (in->state == IN_CLOSING || now < in->deadline_ms)
            continue;
        if (hashmap_count(&in->pairs) == 0)
            in_stream_error(in, STE_CONNECTION_TIMEOUT, "not authenticated in time");
        else
            in_close(in);
    }
}

size_t
s2s_open_streams(void)
{
    size_t n = n_ins;
    if (outs_ready) {
        struct hashmap_iter it;
        void *v;
        hashmap_iter_init(&it, &outs);
        while (hashmap_iter_next(&it, NULL, &v))
            n += ((struct s2s_out *)v)->conn != NULL && ((struct s2s_out *)v)->carrier == NULL;
    }
    return n;
}

void
s2s_stop(void)
{
    struct list_node *n, *tmp;
    LIST_FOREACH_SAFE(n, tmp, &ins)
    {
        in_stream_error(LIST_ENTRY(n, struct s2s_in, link), STE_SYSTEM_SHUTDOWN, NULL);
    }
    if (!outs_ready)
        return;
    struct hashmap_iter it;
    void *v;
    hashmap_iter_init(&it, &outs);
    while (hashmap_iter_next(&it, NULL, &v)) {
        struct s2s_out *o = v;
        if (o->carrier != NULL)
            continue; /* goes with its carrier */
        if (o->conn != NULL && o->state != OUT_CLOSING) {
            o->state = OUT_CLOSING;
            send_str(o->conn, "</stream:stream>");
            conn_close(o->conn);
        } else if (o->conn == NULL) {
            out_fail(o, SE_REMOTE_SERVER_NOT_FOUND, "shutting down");
        }
    }
}

void
s2s_fini(void)
{
    /* net_free() has closed every connection; what remains waits on nothing. */
    if (outs_ready) {
        struct hashmap_iter it;
        void *v;
        hashmap_iter_init(&it, &outs);
        while (hashmap_iter_next(&it, NULL, &v))
            out_free(v);
        hashmap_fini(&outs);
        outs_ready = false;
    }
    resolver_free(resolver);
    resolver = NULL;
}

void
s2s_admin_list(struct buf *out)
{
    if (outs_ready) {
        struct hashmap_iter it;
        void *v;
        hashmap_iter_init(&it, &outs);
        while (hashmap_iter_next(&it, NULL, &v)) {
            struct s2s_out *o = v;
            buf_printf(out, "out\t%s\t%s\t%s\t%s\t%s\t%s\t%llu\t%llu\n", o->local, o->remote,
                       out_state_names[o->state], o->method, o->tls ? o->tls_version : "-",
                       o->peer[0] ? o->peer : "-", (unsigned long long)o->n_out,
                       (unsigned long long)o->q_len);
        }
    }
    struct list_node *n;
    LIST_FOREACH(n, &ins)
    {
        struct s2s_in *in = LIST_ENTRY(n, struct s2s_in, link);
        buf_printf(out, "in\t%s\t%s\t%s\t%s\t%s\t[%s]:%d\t%llu\t0\n", in->local ? in->local : "-",
                   in->remote ? in->remote : "-",
                   hashmap_count(&in->pairs) ? "authenticated" : "negotiating",
                   in->method ? in->method : "none", in->tls ? in->tls_version : "-",
                   conn_peer_ip(in->conn), conn_peer_port(in->conn), (unsigned long long)in->n_in);
    }
}
