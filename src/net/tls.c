/* SPDX-License-Identifier: MIT
 *
 * tls.c: OpenSSL for net: one SSL_CTX per identity (certificate for a domain), the
 * SNI and ALPN choices during the handshake, what a finished handshake tells the core
 * (RFC 9266 tls-exporter, RFC 5929 tls-server-end-point) and self-signed certificates
 * for first runs. It does no socket I/O: conn.c moves the bytes through memory BIOs.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "alloc.h"
#include "error.h"
#include "internal.h"
#include "log.h"

/* TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3 suites are all fine. */
#define TLS_CIPHERS        "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!RC4:!3DES"
#define TLS_EXPORTER_LABEL "EXPORTER-Channel-Binding" /* RFC 9266 §2 */

/* OpenSSL's error queue must be empty before an I/O call whose result is read with
 * SSL_get_error(). ERR_clear_error() walks all sixteen slots each time, which was 5%
 * of a relayed message's instructions; the queue is almost always empty already. */
void
net__tls_clear_errors(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

void
net__tls_log_errors(enum log_level level, const char *who, const char *what)
{
    char detail[256] = "";
    unsigned long e;
    /* The first error is the cause; later ones are context. */
    if ((e = ERR_get_error()) != 0)
        ERR_error_string_n(e, detail, sizeof detail);
    ERR_clear_error();
    log_msg(level, who, "%s%s%s", what, detail[0] ? ": " : "", detail);
}

static struct tls_identity *
identity_find(struct net *n, const char *name)
{
    for (size_t i = 0; i < n->n_ids; i++)
        if (strcasecmp(n->ids[i].domain, name) == 0)
            return &n->ids[i];
    return NULL;
}

/* SNI: switch to the identity for the requested name; a subdomain falls back to its
 * parent's identity (our self-signed certificates cover *.domain). Unknown names get
 * the default (first) identity. */
static int
on_servername(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    (void)arg;
    struct conn *c = SSL_get_app_data(ssl);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (c == NULL || name == NULL)
        return SSL_TLSEXT_ERR_OK;
    /* I/O threads run this while the core may reload identities. */
    uv_mutex_lock(&c->net->tls_lock);
    struct tls_identity *id = identity_find(c->net, name);
    if (id == NULL) {
        const char *dot = strchr(name, '.');
        if (dot != NULL && dot[1] != '\0')
            id = identity_find(c->net, dot + 1);
    }
    /* SSL_set_SSL_CTX takes its own reference. */
    if (id != NULL && SSL_get_SSL_CTX(ssl) != id->ctx)
        SSL_set_SSL_CTX(ssl, id->ctx);
    uv_mutex_unlock(&c->net->tls_lock);
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN (RFC 7301, XEP-0368): a direct TLS listener accepts its own protocol; a client
 * that offers ALPN without it is refused with no_application_protocol. A client that
 * offers none never gets here and is accepted. */
static int
on_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
               unsigned int inlen, void *arg)
{
    (void)arg;
    struct conn *c = SSL_get_app_data(ssl);
    if (c == NULL || c->listener->alpn_wire == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *sel;
    unsigned char sel_len;
    if (SSL_select_next_proto(&sel, &sel_len, c->listener->alpn_wire,
                              (unsigned)c->listener->alpn_wire_len, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    /* sel points into our list; the peer's copy lives as long as the handshake too. */
    *out = sel;
    *outlen = sel_len;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
ctx_new(struct net *n, const char *cert_file, const char *key_file)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS) != 1)
        goto fail;
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Idle connections give their record buffers back (DESIGN.md §5). */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* TLS 1.3 sends two session tickets by default; a client keeps one connection
     * and needs one ticket for its next. Each costs a session encoding, an
     * encryption and a MAC: about 9% of a login's instructions for the pair. */
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, n);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn_select, n);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        goto fail;
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int
net_tls_add_identity(struct net *n, const char *domain, const char *cert_file, const char *key_file)
{
    if (domain == NULL || domain[0] == '\0' || cert_file == NULL || key_file == NULL)
        return YB_EINVAL;
    SSL_CTX *ctx = ctx_new(n, cert_file, key_file);
    if (ctx == NULL) {
        char what[512];
        snprintf(what, sizeof what, "cannot load certificate %s / key %s for %s", cert_file,
                 key_file, domain);
        net__tls_log_errors(LOG_ERROR, "tls", what);
        return YB_EINVAL;
    }
    char *lower = yb_strdup(domain);
    uv_mutex_lock(&n->tls_lock);
    struct tls_identity *ids = yb_realloc(n->ids, (n->n_ids + 1) * sizeof *ids);
    if (lower == NULL || ids == NULL) {
        yb_free(lower);
        if (ids != NULL)
            n->ids = ids;
        uv_mutex_unlock(&n->tls_lock);
        SSL_CTX_free(ctx);
        return YB_ENOMEM;
    }
    n->ids = ids;
    for (char *p = lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    struct tls_identity *old = identity_find(n, lower);
    if (old != NULL) {
        /* Same domain twice: the newer certificate wins. */
        yb_free(lower);
        SSL_CTX_free(old->ctx);
        old->ctx = ctx;
    } else {
        n->ids[n->n_ids].domain = lower;
        n->ids[n->n_ids].ctx = ctx;
        n->n_ids++;
    }
    uv_mutex_unlock(&n->tls_lock);
    log_info("tls", "identity %s: %s", domain, cert_file);
    return 0;
}

void
net__tls_free_identities(struct net *n)
{
    for (size_t i = 0; i < n->n_ids; i++) {
        yb_free(n->ids[i].domain);
        SSL_CTX_free(n->ids[i].ctx); /* live SSL objects keep their own reference */
    }
    yb_free(n->ids);
    n->ids = NULL;
    n->n_ids = 0;
}

void
net_tls_clear_identities(struct net *n)
{
    uv_mutex_lock(&n->tls_lock);
    net__tls_free_identities(n);
    uv_mutex_unlock(&n->tls_lock);
}

bool
net_tls_has_identity(struct net *n, const char *domain)
{
    uv_mutex_lock(&n->tls_lock);
    bool has = identity_find(n, domain) != NULL;
    uv_mutex_unlock(&n->tls_lock);
    return has;
}

/* Peers' certificates are judged by the core (conn_peer_cert_check), which may still
 * accept a connection whose certificate does not verify (dialback, XEP-0344): the
 * handshake goes on and the result is read afterwards. */
static int
on_verify_keep_going(int preverify_ok, X509_STORE_CTX *ctx)
{
    (void)preverify_ok;
    (void)ctx;
    return 1;
}

static X509_STORE *
ca_store(struct net *n)
{
    if (n->ca_store != NULL || n->ca_store_failed)
        return n->ca_store;
    X509_STORE *st = X509_STORE_new();
    int ok = st != NULL && (n->ca_file != NULL ? X509_STORE_load_file(st, n->ca_file)
                                               : X509_STORE_set_default_paths(st));
    if (!ok) {
        char what[512];
        snprintf(what, sizeof what, "cannot load the CA certificates from %s",
                 n->ca_file != NULL ? n->ca_file : "the default locations");
        net__tls_log_errors(LOG_ERROR, "tls", what);
        X509_STORE_free(st);
        n->ca_store_failed = true; /* every peer certificate is untrusted */
        return NULL;
    }
    n->ca_store = st;
    return st;
}

static SSL_CTX *
client_ctx(struct net *n)
{
    if (n->client_ctx != NULL)
        return n->client_ctx;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify_keep_going);
    n->client_ctx = ctx;
    return ctx;
}

void
net__tls_free_client(struct net *n)
{
    SSL_CTX_free(n->client_ctx);
    X509_STORE_free(n->ca_store);
    n->client_ctx = NULL;
    n->ca_store = NULL;
}

/* The client side's settings for an outgoing connection. Returns 0 or -1. */
static int
setup_client(struct net *n, SSL *ssl, const struct conn_outgoing *o)
{
    X509_STORE *st = ca_store(n);
    if (st != NULL && SSL_set1_verify_cert_store(ssl, st) != 1)
        return -1;
    if (o->server_name != NULL && SSL_set_tlsext_host_name(ssl, o->server_name) != 1)
        return -1;
    if (o->alpn_wire != NULL &&
        SSL_set_alpn_protos(ssl, o->alpn_wire, (unsigned)o->alpn_wire_len) != 0)
        return -1;
    if (o->client_identity != NULL) {
        struct tls_identity *id = identity_find(n, o->client_identity);
        if (id == NULL)
            return -1;
        /* The identity's certificate, key and chain, shared with the server side. */
        STACK_OF(X509) *chain = NULL;
        X509 *cert = SSL_CTX_get0_certificate(id->ctx);
        EVP_PKEY *key = SSL_CTX_get0_privatekey(id->ctx);
        if (cert == NULL || key == NULL || SSL_use_certificate(ssl, cert) != 1 ||
            SSL_use_PrivateKey(ssl, key) != 1)
            return -1;
        if (SSL_CTX_get0_chain_certs(id->ctx, &chain) == 1 && chain != NULL &&
            SSL_set1_chain(ssl, chain) != 1)
            return -1;
    }
    SSL_set_connect_state(ssl);
    return 0;
}

/* The server side asks for the peer's certificate (s2s) and checks it against the CA
 * store with any purpose: XEP-0178 §3 accepts certificates issued for serverAuth
 * only, which public CAs now issue to servers. */
static int
setup_server_verify(struct net *n, SSL *ssl)
{
    X509_STORE *st = ca_store(n);
    if (st != NULL && SSL_set1_verify_cert_store(ssl, st) != 1)
        return -1;
    if (X509_VERIFY_PARAM_set_purpose(SSL_get0_param(ssl), X509_PURPOSE_ANY) != 1)
        return -1;
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, on_verify_keep_going);
    return 0;
}

static SSL *new_ssl_locked(struct net *n, struct conn *c);

/* Under tls_lock: the identity table, the CA store and the client context are the
 * core's to change (reload) and every I/O thread's to read. */
SSL *
net__tls_new_ssl(struct net *n, struct conn *c)
{
    uv_mutex_lock(&n->tls_lock);
    SSL *ssl = new_ssl_locked(n, c);
    uv_mutex_unlock(&n->tls_lock);
    return ssl;
}

static SSL *
new_ssl_locked(struct net *n, struct conn *c)
{
    char who[NET_WHO_BYTES];
    SSL_CTX *ctx;
    if (c->outgoing != NULL) {
        if ((ctx = client_ctx(n)) == NULL) {
            net__tls_log_errors(LOG_ERROR, net__conn_who(c, who),
                                "cannot create the TLS client context");
            return NULL;
        }
    } else if (n->n_ids == 0) {
        log_error(net__conn_who(c, who), "TLS requested but no certificate is configured");
        return NULL;
    } else {
        ctx = n->ids[0].ctx;
    }
    SSL *ssl = SSL_new(ctx);
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(BIO_s_mem());
    if (ssl == NULL || rbio == NULL || wbio == NULL) {
        SSL_free(ssl);
        BIO_free(rbio);
        BIO_free(wbio);
        net__tls_log_errors(LOG_ERROR, net__conn_who(c, who), "cannot create the TLS session");
        return NULL;
    }
    /* An empty memory BIO means "try again later", not end of file. */
    BIO_set_mem_eof_return(rbio, -1);
    BIO_set_mem_eof_return(wbio, -1);
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_app_data(ssl, c);
    int rc = 0;
    if (c->outgoing != NULL) {
        rc = setup_client(n, ssl, c->outgoing);
    } else {
        if (c->listener->request_client_cert)
            rc = setup_server_verify(n, ssl);
        SSL_set_accept_state(ssl);
    }
    if (rc != 0) {
        net__tls_log_errors(LOG_ERROR, net__conn_who(c, who), "cannot set up the TLS session");
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

/* RFC 6120 §13.7.1.2 / RFC 6125: otherName identifiers. */
#define OID_XMPP_ADDR "1.3.6.1.5.5.7.8.5"
#define OID_SRV_NAME  "1.3.6.1.5.5.7.8.7"

/* An ASN.1 string equal to name, ignoring ASCII case. */
static bool
asn1_equals(const ASN1_STRING *v, const char *name, size_t name_len)
{
    return (size_t)ASN1_STRING_length(v) == name_len &&
           strncasecmp((const char *)ASN1_STRING_get0_data(v), name, name_len) == 0;
}

static bool
other_name_matches(const OTHERNAME *on, const char *domain)
{
    static const char *const services[] = {"_xmpp-server.", "_xmpps-server.", "_xmpp-client."};
    char oid[64];
    if (OBJ_obj2txt(oid, sizeof oid, on->type_id, 1) <= 0 || on->value == NULL)
        return false;
    size_t dlen = strlen(domain);
    if (strcmp(oid, OID_XMPP_ADDR) == 0 && on->value->type == V_ASN1_UTF8STRING)
        return asn1_equals(on->value->value.utf8string, domain, dlen);
    if (strcmp(oid, OID_SRV_NAME) != 0 || on->value->type != V_ASN1_IA5STRING)
        return false;
    char want[320];
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
        int len = snprintf(want, sizeof want, "%s%s", services[i], domain);
        if (len > 0 && (size_t)len < sizeof want &&
            asn1_equals(on->value->value.ia5string, want, (size_t)len))
            return true;
    }
    return false;
}

enum conn_peer_cert
conn_peer_cert_check(const struct conn *c, const char *domain, bool *name_ok, char *detail,
                     size_t detail_len)
{
    if (c->core != NULL)
        return net__tls_cert_check(c->core->peer_cert, c->core->verify_result,
                                   c->core->have_ca_store, domain, name_ok, detail, detail_len);
    *name_ok = false;
    if (detail != NULL && detail_len > 0)
        detail[0] = '\0';
    if (c->ssl == NULL || !c->tls_up)
        return CONN_CERT_NONE;
    return net__tls_cert_check(SSL_get0_peer_certificate(c->ssl), SSL_get_verify_result(c->ssl),
                               c->net->ca_store != NULL, domain, name_ok, detail, detail_len);
}

enum conn_peer_cert
net__tls_cert_check(X509 *cert, long v, bool have_store, const char *domain, bool *name_ok,
                    char *detail, size_t detail_len)
{
    *name_ok = false;
    if (detail != NULL && detail_len > 0)
        detail[0] = '\0';
    if (cert == NULL)
        return CONN_CERT_NONE;
    if (domain != NULL && domain[0] != '\0') {
        if (X509_check_host(cert, domain, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1) {
            *name_ok = true;
        } else {
            GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
            for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) && !*name_ok; i++) {
                const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
                if (gn->type == GEN_OTHERNAME && other_name_matches(gn->d.otherName, domain))
                    *name_ok = true;
            }
            GENERAL_NAMES_free(names);
        }
    }
    if (v != X509_V_OK && detail != NULL)
        snprintf(detail, detail_len, "%s", X509_verify_cert_error_string(v));
    net__tls_clear_errors();
    if (!have_store)
        return CONN_CERT_UNTRUSTED; /* no CA store: nothing can be trusted */
    return v == X509_V_OK ? CONN_CERT_TRUSTED : CONN_CERT_UNTRUSTED;
}

/* RFC 5929 §4.1: the hash of our certificate, with the hash function of its signature
 * algorithm, SHA-256 when that is MD5 or SHA-1 (or has none, e.g. Ed25519). */
static size_t
end_point_hash(SSL *ssl, unsigned char *out)
{
    X509 *cert = SSL_get_certificate(ssl);
    if (cert == NULL)
        return 0;
    int md_nid = NID_undef;
    if (X509_get_signature_info(cert, &md_nid, NULL, NULL, NULL) != 1)
        md_nid = NID_undef;
    const EVP_MD *md = NULL;
    if (md_nid != NID_undef && md_nid != NID_md5 && md_nid != NID_sha1)
        md = EVP_get_digestbynid(md_nid);
    if (md == NULL)
        md = EVP_sha256();
    unsigned len = 0;
    if (X509_digest(cert, md, out, &len) != 1)
        return 0;
    return len;
}

void
net__tls_info(SSL *ssl, struct conn_tls_info *info, struct net__tls_info_storage *st)
{
    memset(info, 0, sizeof *info);
    info->version = SSL_get_version(ssl);
    info->cipher = SSL_get_cipher_name(ssl);
    info->sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (alpn != NULL && alpn_len > 0 && alpn_len < sizeof st->alpn) {
        memcpy(st->alpn, alpn, alpn_len);
        st->alpn[alpn_len] = '\0';
        info->alpn = st->alpn;
    }

    /* RFC 9266 §3: tls-exporter is defined for TLS 1.3 only (TLS 1.2 without the
     * extended master secret would allow a triple handshake). */
    if (SSL_version(ssl) == TLS1_3_VERSION &&
        SSL_export_keying_material(ssl, st->exporter, sizeof st->exporter, TLS_EXPORTER_LABEL,
                                   strlen(TLS_EXPORTER_LABEL), NULL, 0, 0) == 1) {
        info->exporter = st->exporter;
        info->exporter_len = sizeof st->exporter;
    }

    /* RFC 5929 tls-unique: the first Finished message of the handshake, the
     * client's in a full handshake and ours when the session was resumed. It is
     * only well defined before TLS 1.3; there we give the same message (as OpenSSL
     * and the clients that use it compute it) and the core advertises it only for
     * TLS 1.2. */
    size_t u_len = SSL_session_reused(ssl)
                       ? SSL_get_finished(ssl, st->unique, sizeof st->unique)
                       : SSL_get_peer_finished(ssl, st->unique, sizeof st->unique);
    if (u_len > 0 && u_len <= sizeof st->unique) {
        info->unique = st->unique;
        info->unique_len = u_len;
    }

    size_t ep_len = end_point_hash(ssl, st->end_point);
    if (ep_len > 0) {
        info->end_point = st->end_point;
        info->end_point_len = ep_len;
    }
    net__tls_clear_errors();
}

/* Self-signed certificates. */

static int
add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

/* Built by hand rather than from a config string, so no domain can inject options. */
static int
add_dns_name(GENERAL_NAMES *names, const char *prefix, const char *domain)
{
    char name[512];
    int len = snprintf(name, sizeof name, "%s%s", prefix, domain);
    if (len < 0 || (size_t)len >= sizeof name)
        return -1;
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    if (gn == NULL || ia5 == NULL || ASN1_STRING_set(ia5, name, len) != 1) {
        GENERAL_NAME_free(gn);
        ASN1_IA5STRING_free(ia5);
        return -1;
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    if (sk_GENERAL_NAME_push(names, gn) <= 0) {
        GENERAL_NAME_free(gn);
        return -1;
    }
    return 0;
}

static X509 *
make_cert(EVP_PKEY *key, const char *domain, int days)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    if (x == NULL || serial == NULL || names == NULL)
        goto fail;
    /* RFC 5280 §4.1.2.2: positive, at most 20 octets. */
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        BN_rand(serial, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) == NULL)
        goto fail;
    if (X509_gmtime_adj(X509_getm_notBefore(x), -60) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL)
        goto fail;
    X509_NAME *subject = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)domain, -1,
                                   -1, 0) != 1 ||
        X509_set_issuer_name(x, subject) != 1 || X509_set_pubkey(x, key) != 1)
        goto fail;
    if (add_dns_name(names, "", domain) != 0 || add_dns_name(names, "*.", domain) != 0 ||
        X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) != 1)
        goto fail;
    if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext(x, NID_key_usage, "critical,digitalSignature") != 0 ||
        add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") != 0 ||
        add_ext(x, NID_subject_key_identifier, "hash") != 0)
        goto fail;
    if (X509_sign(x, key, EVP_sha256()) <= 0)
        goto fail;
    GENERAL_NAMES_free(names);
    BN_free(serial);
    return x;
fail:
    GENERAL_NAMES_free(names);
    BN_free(serial);
    X509_free(x);
    return NULL;
}

static int
write_key(EVP_PKEY *key, const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("tls", "cannot create %s: %s", path, strerror(errno));
        return YB_EIO;
    }
    /* An existing file keeps its mode through O_TRUNC. */
    if (fchmod(fd, 0600) != 0) {
        log_error("tls", "cannot chmod %s: %s", path, strerror(errno));
        close(fd);
        return YB_EIO;
    }
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return YB_EIO;
    }
    int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    if (fclose(f) != 0 || ok != 1) {
        log_error("tls", "cannot write %s", path);
        return YB_EIO;
    }
    return 0;
}

static int
write_cert(X509 *x, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        log_error("tls", "cannot create %s: %s", path, strerror(errno));
        return YB_EIO;
    }
    int ok = PEM_write_X509(f, x);
    if (fclose(f) != 0 || ok != 1) {
        log_error("tls", "cannot write %s", path);
        return YB_EIO;
    }
    return 0;
}

int
net_tls_generate_self_signed(const char *domain, const char *cert_file, const char *key_file,
                             int days)
{
    if (domain == NULL || domain[0] == '\0' || days <= 0)
        return YB_EIO;
    int rc = YB_EIO;
    X509 *x = NULL;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (key == NULL || (x = make_cert(key, domain, days)) == NULL) {
        net__tls_log_errors(LOG_ERROR, "tls", "cannot generate a self-signed certificate");
        goto done;
    }
    rc = write_key(key, key_file);
    if (rc == 0)
        rc = write_cert(x, cert_file);
    if (rc == 0)
        log_info("tls", "generated a self-signed certificate for %s in %s", domain, cert_file);
done:
    X509_free(x);
    EVP_PKEY_free(key);
    net__tls_clear_errors();
    return rc;
}
