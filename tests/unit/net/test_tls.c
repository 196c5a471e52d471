/* SPDX-License-Identifier: MIT
 *
 * test_tls.c: TLS end to end against an OpenSSL client: STARTTLS (with injected
 * plaintext dropped), direct TLS with ALPN (accepted, refused, absent), SNI choosing
 * the identity, channel bindings (tls-exporter, tls-server-end-point), protocol
 * versions, close_notify in both directions.
 */
#include "fixture.h"
#include "internal.h"

static const unsigned char ALPN_CLIENT[] = "\x0bxmpp-client";
static const unsigned char ALPN_SERVER[] = "\x0bxmpp-server";

/* STARTTLS; the message pipelined after <starttls/> must never reach the core. */
static void
client_starttls(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<starttls"));
    CCHECK(f, cli_expect(&cl, "</stream:features>"));
    CCHECK(f, cli_send(&cl, "<starttls xmlns='" NS_TLS "'/><message><body>injected</body>"
                            "</message>") == 0);
    CCHECK(f, cli_expect(&cl, "<proceed xmlns='" NS_TLS "'/>"));
    CCHECK(f, cl.len == 0);
    struct cli_tls_opts o = {.sni = "localhost"};
    CCHECK(f, cli_tls(&cl, &o) == 0);
    cli_tls_record(&cl);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features/>"));
    CCHECK(f, cli_send(&cl, "<message><body>secret</body></message>") == 0);
    CCHECK(f, cli_expect(&cl, "<body>secret</body>"));
    /* The server closes: <bye/>, then close_notify, then FIN. */
    CCHECK(f, cli_send(&cl, "<close xmlns='t'/>") == 0);
    CCHECK(f, cli_expect(&cl, "<bye/>"));
    CCHECK(f, cli_read_some(&cl) == 0);
    CCHECK(f, cl.ssl_err == SSL_ERROR_ZERO_RETURN);
out:
    cli_close(&cl);
}

TEST(starttls_upgrade)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_starttls);
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.events, "open:stream:jabber:client;starttls;tls;open:stream:jabber:client;"
                            "message:secret;close;closed:0;");
    ASSERT_EQ(F.n_tls_done, 1);
    ASSERT_TRUE(F.tls_flag_in_done);
    ASSERT_STR_EQ(F.tls_version, "TLSv1.3");
    ASSERT_STR_EQ(F.tls_sni, "localhost");
    ASSERT_FALSE(F.tls_had_alpn);
    /* RFC 9266: both ends derive the same tls-exporter. */
    ASSERT_EQ(F.exporter_len, 32);
    ASSERT_EQ(F.c_exporter_len, 32);
    ASSERT_MEM_EQ(F.exporter, F.c_exporter, 32);
    /* RFC 5929: ecdsa-with-SHA256 certificate: SHA-256 of its DER. */
    ASSERT_EQ(F.end_point_len, 32);
    ASSERT_MEM_EQ(F.end_point, F.c_end_point, 32);
    fix_fini(&F);
}

static void
client_direct(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    const unsigned char *alpn = f->c_user == 1 ? ALPN_CLIENT : NULL;
    struct cli_tls_opts o = {.sni = "localhost", .alpn = alpn, .alpn_len = alpn ? 12 : 0};
    CCHECK(f, cli_tls(&cl, &o) == 0);
    cli_tls_record(&cl);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features/>"));
    CCHECK(f, cli_send(&cl, "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>") == 0);
    CCHECK(f, cli_expect(&cl, "<ping xmlns='urn:xmpp:ping'/></iq>"));
    CCHECK(f, cli_send(&cl, "</stream:stream>") == 0);
    CCHECK(f, cli_expect(&cl, "</stream:stream>"));
    CCHECK(f, cli_read_some(&cl) == 0);
    CCHECK(f, cl.ssl_err == SSL_ERROR_ZERO_RETURN);
out:
    cli_close(&cl);
}

TEST(direct_tls_alpn)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
    F.c_user = 1;
    fix_run(&F, client_direct);
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.tls_alpn, "xmpp-client");
    ASSERT_STR_EQ(F.c_alpn, "xmpp-client");
    ASSERT_STR_EQ(F.listener, "direct");
    ASSERT_EQ(F.end_point_len, 32);
    ASSERT_MEM_EQ(F.end_point, F.c_end_point, 32);
    ASSERT_STR_EQ(F.events, "tls;open:stream:jabber:client;iq;end;closed:0;");
    fix_fini(&F);
}

TEST(direct_tls_without_alpn)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
    fix_run(&F, client_direct);
    ASSERT_CLIENT_OK(&F);
    ASSERT_FALSE(F.tls_had_alpn);
    ASSERT_EQ(F.n_tls_done, 1);
    fix_fini(&F);
}

/* A client that offers ALPN without ours, or only TLS 1.1, fails the handshake. */
static void
client_refused_handshake(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    struct cli_tls_opts o = {.sni = "localhost"};
    if (f->c_user == 1) {
        o.alpn = ALPN_SERVER;
        o.alpn_len = 12;
    } else {
        o.min_version = TLS1_VERSION;
        o.max_version = TLS1_1_VERSION;
        o.ciphers = "DEFAULT:@SECLEVEL=0";
    }
    CCHECK(f, cli_tls(&cl, &o) != 0);
out:
    cli_close(&cl);
}

TEST(direct_tls_wrong_alpn)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
    F.c_user = 1;
    fix_run(&F, client_refused_handshake);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(F.c_ssl_reason, SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL);
    ASSERT_EQ(F.n_tls_done, 0);
    ASSERT_EQ(F.n_closed, 1);
    ASSERT_EQ(F.why, CONN_CLOSED_TLS);
    fix_fini(&F);
}

TEST(tls11_refused)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
    F.c_user = 2;
    fix_run(&F, client_refused_handshake);
    ASSERT_CLIENT_OK(&F);
    /* The server's alert, so the client did offer TLS 1.1 and we refused it. */
    ASSERT_EQ(F.c_ssl_reason, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
    ASSERT_EQ(F.n_tls_done, 0);
    ASSERT_EQ(F.why, CONN_CLOSED_TLS);
    fix_fini(&F);
}

/* SNI: c_user selects the name; the client checks which certificate it got. */
static const char *const sni_names[] = {"second.test", "muc.second.test", "unknown.example"};
static const char *const sni_expect[] = {"second.test", "second.test", "localhost"};

static void
client_sni(struct fix *f)
{
    struct cli cl;
    X509 *cert = NULL;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    struct cli_tls_opts o = {.sni = sni_names[f->c_user]};
    CCHECK(f, cli_tls(&cl, &o) == 0);
    cli_tls_record(&cl);
    cert = SSL_get1_peer_certificate(cl.ssl);
    CCHECK(f, cert != NULL);
    CCHECK(f, X509_check_host(cert, sni_expect[f->c_user], 0, 0, NULL) == 1);
    f->c_subject_ok = 1;
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features/>"));
out:
    X509_free(cert);
    cli_close(&cl);
}

TEST(sni_selects_identity)
{
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(fix_init(&F, 0), 0);
        ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
        F.c_user = i;
        fix_run(&F, client_sni);
        ASSERT_CLIENT_OK(&F);
        ASSERT_EQ(F.c_subject_ok, 1);
        ASSERT_STR_EQ(F.tls_sni, sni_names[i]);
        /* tls-server-end-point is the certificate actually served. */
        ASSERT_MEM_EQ(F.end_point, F.c_end_point, 32);
        ASSERT_EQ(F.why, CONN_CLOSED_PEER);
        fix_fini(&F);
    }
}

static void
client_tls12(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    struct cli_tls_opts o = {.max_version = TLS1_2_VERSION};
    CCHECK(f, cli_tls(&cl, &o) == 0);
    cli_tls_record(&cl);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features/>"));
    /* The client closes TLS first; the server answers with its close_notify. */
    CCHECK(f, SSL_shutdown(cl.ssl) == 0);
    CCHECK(f, cli_read_some(&cl) == 0);
    CCHECK(f, cl.ssl_err == SSL_ERROR_ZERO_RETURN);
out:
    cli_close(&cl);
}

TEST(tls12_has_no_exporter)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
    fix_run(&F, client_tls12);
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.tls_version, "TLSv1.2");
    ASSERT_EQ(F.exporter_len, 0);
    ASSERT_FALSE(F.tls_had_sni);
    ASSERT_EQ(F.end_point_len, 32);
    ASSERT_MEM_EQ(F.end_point, F.c_end_point, 32);
    ASSERT_EQ(F.why, CONN_CLOSED_PEER);
    fix_fini(&F);
}

/* A stream restart over TLS (after SASL) drops what was pipelined behind it. */
static void
client_tls_restart(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    struct cli_tls_opts o = {.sni = "localhost"};
    CCHECK(f, cli_tls(&cl, &o) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features/>"));
    CCHECK(f, cli_send(&cl, "<restart xmlns='t'/><message><body>dropped</body></message>") == 0);
    CCHECK(f, cli_expect(&cl, "<restarted/>"));
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features/>"));
    CCHECK(f, cli_send(&cl, "<message><body>kept</body></message>") == 0);
    CCHECK(f, cli_expect(&cl, "<body>kept</body>"));
    CCHECK(f, cli_send(&cl, "</stream:stream>") == 0);
    CCHECK(f, cli_expect(&cl, "</stream:stream>"));
    CCHECK(f, cli_read_some(&cl) == 0);
out:
    cli_close(&cl);
}

TEST(tls_restart_drops_pipelined_bytes)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
    fix_run(&F, client_tls_restart);
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.events, "tls;open:stream:jabber:client;restart;open:stream:jabber:client;"
                            "message:kept;end;closed:0;");
    fix_fini(&F);
}

/* Garbage instead of a ClientHello. */
static void
client_not_tls(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    /* Maybe an alert, then the end. */
    while (cli_read_some(&cl) > 0)
        ;
out:
    cli_close(&cl);
}

TEST(plaintext_on_direct_tls)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
    fix_run(&F, client_not_tls);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(F.why, CONN_CLOSED_TLS);
    ASSERT_STR_EQ(F.events, "closed:2;");
    fix_fini(&F);
}

/* The output bound also holds over TLS. */
static void
client_tls_flood(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 4096) == 0);
    struct cli_tls_opts o = {.sni = "localhost"};
    CCHECK(f, cli_tls(&cl, &o) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features/>"));
    CCHECK(f, cli_send(&cl, "<flood xmlns='t'/>") == 0);
    for (int i = 0; i < 1000 && !atomic_load(&f->server_gone); i++)
        usleep(10000);
    CCHECK(f, atomic_load(&f->server_gone));
out:
    cli_close(&cl);
}

TEST(tls_output_bound)
{
    ASSERT_EQ(fix_init(&F, 256 * 1024), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
    fix_run(&F, client_tls_flood);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(F.flood_rc, YB_ELIMIT);
    ASSERT_EQ(F.why, CONN_CLOSED_OVERFLOW);
    fix_fini(&F);
}

TEST(no_identity)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    net_tls_clear_identities(F.net);
    ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
    F.c_user = 1;
    fix_run(&F, client_refused_handshake);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(F.n_accepted, 0); /* closed before the core hears of it */
    fix_fini(&F);
}

/* After a 100 KB stanza each way, an idle TLS connection holds no output buffer and
 * no grown BIO buffers. */
static size_t idle_out_cap, idle_rbio_max, idle_wbio_max, busy_pending;

static size_t
bio_max(BIO *b)
{
    BUF_MEM *bm = NULL;
    BIO_get_mem_ptr(b, &bm);
    return bm != NULL ? bm->max : (size_t)-1;
}

/* On the thread that owns c's socket. */
static void
read_idle(struct conn *c, void *arg)
{
    (void)arg;
    idle_out_cap = c->out.cap;
    idle_rbio_max = bio_max(SSL_get_rbio(c->ssl));
    idle_wbio_max = bio_max(SSL_get_wbio(c->ssl));
}

/* The last write's callback may still be due when the client has all the bytes. */
static uv_timer_t idle_timer;

static void
on_idle_timer(uv_timer_t *t)
{
    struct fix *f = t->data;
    if (f->conn == NULL) {
        uv_timer_stop(t);
        return;
    }
    busy_pending = conn_pending_output(f->conn);
    if (busy_pending != 0)
        return;
    uv_timer_stop(t);
    net__conn_call(f->conn, read_idle, NULL);
    atomic_store(&f->phase, 2);
}

static void
idle_check(struct fix *f)
{
    if (atomic_load(&f->phase) != 1)
        return;
    idle_timer.data = f;
    uv_timer_start(&idle_timer, on_idle_timer, 1, 1);
}

static void
client_big(struct fix *f)
{
    struct cli cl;
    char *msg = malloc(110000);
    CCHECK(f, msg != NULL);
    strcpy(msg, "<message><body>");
    memset(msg + 15, 'a', 100000);
    strcpy(msg + 100015, "</body></message>");
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    struct cli_tls_opts o = {.sni = "localhost"};
    CCHECK(f, cli_tls(&cl, &o) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features/>"));
    CCHECK(f, cli_send(&cl, msg) == 0);
    CCHECK(f, cli_expect(&cl, "</body></message>"));
    atomic_store(&f->phase, 1);
    uv_async_send(&f->wake);
    for (int i = 0; i < 500 && atomic_load(&f->phase) != 2; i++)
        usleep(10000);
    CCHECK(f, atomic_load(&f->phase) == 2);
out:
    free(msg);
    cli_close(&cl);
}

TEST(idle_tls_conn_holds_little)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
    F.on_wake_hook = idle_check;
    uv_timer_init(&F.loop, &idle_timer);
    fix_run(&F, client_big);
    uv_close((uv_handle_t *)&idle_timer, NULL);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(idle_out_cap, 0);
    ASSERT_EQ(busy_pending, 0);
    ASSERT_TRUE(idle_rbio_max <= NET_TLS_BIO_KEEP_BYTES);
    ASSERT_TRUE(idle_wbio_max <= NET_TLS_BIO_KEEP_BYTES);
    fprintf(stderr, "sizeof(struct conn) = %zu\n", sizeof(struct conn));
    fix_fini(&F);
}

TEST_MAIN(TEST_CASE(idle_tls_conn_holds_little), TEST_CASE(starttls_upgrade),
          TEST_CASE(direct_tls_alpn), TEST_CASE(direct_tls_without_alpn),
          TEST_CASE(direct_tls_wrong_alpn), TEST_CASE(tls11_refused),
          TEST_CASE(sni_selects_identity), TEST_CASE(tls12_has_no_exporter),
          TEST_CASE(tls_restart_drops_pipelined_bytes), TEST_CASE(plaintext_on_direct_tls),
          TEST_CASE(tls_output_bound), TEST_CASE(no_identity))
