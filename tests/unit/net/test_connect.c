/* SPDX-License-Identifier: MIT
 *
 * test_connect.c: outgoing connections (net_connect) against our own listeners on
 * one loop: STARTTLS from the client side, direct TLS with ALPN, a client
 * certificate seen by a listener that asks for one, peer certificate checks (trusted
 * or not, names matched or not), output queued before the connection is up, and a
 * refused connection reported as CONN_CLOSED_CONNECT.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "internal.h"
#include "net.h"
#include "stanza.h"
#include "test.h"

size_t xml__parser_expat_bytes(const struct parser *p); /* src/xml/internal.h */

#define HEADER                                                                                     \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                                   \
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"

struct side {
    struct conn *c;
    bool tls;
    int n_tls_done, n_connected, n_closed;
    enum conn_close_reason why;
    char version[16], alpn[32];
    enum conn_peer_cert cert;
    bool name_ok, other_name_ok;
    char got[64];
};

struct run {
    uv_loop_t loop;
    uv_timer_t guard;
    struct net *net;
    char dir[64], cert[128], key[128];
    struct side srv, cli;
    const char *check_name; /* the name the client expects in the server's certificate */
    uint64_t deadline;
    unsigned idle_ms;                /* net_config.idle_ms for the test, 0: default */
    bool idle_test;                  /* the client pauses after the first echo */
    uv_timer_t pause;                /* ... for this long */
    size_t expat_before, expat_idle; /* the server conn's parser, around the pause */
    bool checked_expat;              /* (only with io_threads 0: the parser is the core's) */
};

static struct run R;

static void
check_cert(struct side *s, const char *name)
{
    char detail[128];
    s->cert = conn_peer_cert_check(s->c, name, &s->name_ok, detail, sizeof detail);
    bool other;
    conn_peer_cert_check(s->c, "other.example", &other, NULL, 0);
    s->other_name_ok = other;
}

/* The server side. */

static void
srv_tls_done(void *ud, struct conn *c, const struct conn_tls_info *info)
{
    struct side *s = ud;
    (void)c;
    s->tls = true;
    s->n_tls_done++;
    snprintf(s->version, sizeof s->version, "%s", info->version);
    snprintf(s->alpn, sizeof s->alpn, "%s", info->alpn ? info->alpn : "");
    check_cert(s, "localhost");
}

static void
srv_open(void *ud, struct conn *c, const struct xml_node *header, const char *ns)
{
    struct side *s = ud;
    (void)header;
    (void)ns;
    conn_send_raw(c, HEADER, strlen(HEADER));
    const char *f = s->tls ? "<stream:features/>"
                           : "<stream:features><starttls xmlns='" NS_TLS "'/></stream:features>";
    conn_send_raw(c, f, strlen(f));
}

static void
srv_stanza(void *ud, struct conn *c, struct stanza *st)
{
    (void)ud;
    if (strcmp(stanza_name(st), "starttls") == 0) {
        const char *p = "<proceed xmlns='" NS_TLS "'/>";
        conn_send_raw(c, p, strlen(p));
        conn_starttls(c);
        stanza_unref(st);
        return;
    }
    conn_send(c, st); /* echo */
}

static void
srv_stream_close(void *ud, struct conn *c)
{
    (void)ud;
    conn_send_raw(c, "</stream:stream>", 16);
    conn_close(c);
}

static void
srv_closed(void *ud, struct conn *c, enum conn_close_reason why)
{
    struct side *s = ud;
    (void)c;
    s->n_closed++;
    s->why = why;
    s->c = NULL;
}

static const struct conn_handler srv_handler = {
    .tls_done = srv_tls_done,
    .stream_open = srv_open,
    .stanza = srv_stanza,
    .stream_close = srv_stream_close,
    .closed = srv_closed,
};

static const struct conn_handler *
srv_accept(void *ud, struct conn *c, void **conn_ud)
{
    struct run *r = ud;
    r->srv.c = c;
    *conn_ud = &r->srv;
    return &srv_handler;
}

/* The client side. */

static void
cli_connected(void *ud, struct conn *c)
{
    struct side *s = ud;
    (void)c;
    s->n_connected++;
}

static void
cli_tls_done(void *ud, struct conn *c, const struct conn_tls_info *info)
{
    struct side *s = ud;
    s->tls = true;
    s->n_tls_done++;
    snprintf(s->version, sizeof s->version, "%s", info->version);
    snprintf(s->alpn, sizeof s->alpn, "%s", info->alpn ? info->alpn : "");
    check_cert(s, R.check_name);
    conn_send_raw(c, HEADER, strlen(HEADER));
}

/* The idle test: after the first echo the client stays silent for a few idle sweeps,
 * then sends again; the server's parser must have let expat go meanwhile and still
 * parse what comes next. */
static bool
core_owns_parsers(void)
{
    const char *io = getenv("YB_TEST_IO_THREADS");
    return io == NULL || atoi(io) == 0;
}

static void
on_pause_end(uv_timer_t *t)
{
    (void)t;
    if (core_owns_parsers() && R.srv.c != NULL) {
        R.expat_idle = xml__parser_expat_bytes(R.srv.c->parser);
        R.checked_expat = true;
    }
    const char *m = "<message><body>after a rest</body></message>";
    if (R.cli.c != NULL)
        conn_send_raw(R.cli.c, m, strlen(m));
}

static void
start_pause(void)
{
    if (core_owns_parsers() && R.srv.c != NULL)
        R.expat_before = xml__parser_expat_bytes(R.srv.c->parser);
    uv_timer_init(&R.loop, &R.pause);
    uv_timer_start(&R.pause, on_pause_end, 4 * (uint64_t)R.idle_ms, 0);
}

static void
cli_stanza(void *ud, struct conn *c, struct stanza *st)
{
    struct side *s = ud;
    const char *name = stanza_name(st);
    if (strcmp(name, "features") == 0) {
        if (!s->tls && stanza_child(st, "starttls", NS_TLS) != NULL) {
            const char *m = "<starttls xmlns='" NS_TLS "'/>";
            conn_send_raw(c, m, strlen(m));
        } else {
            const char *m = "<message><body>over the link</body></message>";
            conn_send_raw(c, m, strlen(m));
        }
    } else if (strcmp(name, "proceed") == 0) {
        conn_starttls(c);
    } else if (strcmp(name, "message") == 0) {
        const char *body = node_child_text(stanza_root(st), "body", NULL);
        snprintf(s->got, sizeof s->got, "%s", body ? body : "");
        if (R.idle_test && strcmp(s->got, "over the link") == 0)
            start_pause();
        else
            conn_send_raw(c, "</stream:stream>", 16);
    }
    stanza_unref(st);
}

static void
cli_stream_close(void *ud, struct conn *c)
{
    (void)ud;
    conn_close(c);
}

static void
cli_closed(void *ud, struct conn *c, enum conn_close_reason why)
{
    struct side *s = ud;
    (void)c;
    s->n_closed++;
    s->why = why;
    s->c = NULL;
}

static const struct conn_handler cli_handler = {
    .connected = cli_connected,
    .tls_done = cli_tls_done,
    .stanza = cli_stanza,
    .stream_close = cli_stream_close,
    .closed = cli_closed,
};

static void
on_guard(uv_timer_t *t)
{
    struct run *r = t->data;
    /* Done, or out of time. */
    if ((r->cli.n_closed > 0 && r->srv.c == NULL) || uv_now(&r->loop) > r->deadline)
        uv_stop(&r->loop);
}

static int
run_init(const char *ca_file_is_cert)
{
    unsigned idle_ms = R.idle_ms;
    memset(&R, 0, sizeof R);
    R.idle_ms = idle_ms;
    snprintf(R.dir, sizeof R.dir, "/tmp/yb-connect-XXXXXX");
    if (mkdtemp(R.dir) == NULL)
        return -1;
    snprintf(R.cert, sizeof R.cert, "%s/localhost.crt", R.dir);
    snprintf(R.key, sizeof R.key, "%s/localhost.key", R.dir);
    if (net_tls_generate_self_signed("localhost", R.cert, R.key, 30) != 0)
        return -1;
    uv_loop_init(&R.loop);
    struct net_config cfg = {.ca_file = ca_file_is_cert ? R.cert : NULL, .idle_ms = R.idle_ms};
    parser_limits_default(&cfg.parser);
    /* YB_TEST_IO_THREADS: as in fixture.h (the -io2 runs). */
    const char *io = getenv("YB_TEST_IO_THREADS");
    cfg.io_threads = io != NULL ? (unsigned)atoi(io) : 0;
    R.net = net_new(&R.loop, &cfg);
    if (R.net == NULL || net_tls_add_identity(R.net, "localhost", R.cert, R.key) != 0)
        return -1;
    R.check_name = "localhost";
    return 0;
}

static void
run_loop(void)
{
    uv_timer_init(&R.loop, &R.guard);
    R.guard.data = &R;
    R.deadline = uv_now(&R.loop) + 10000;
    uv_timer_start(&R.guard, on_guard, 10, 10);
    uv_run(&R.loop, UV_RUN_DEFAULT);
}

static void
run_fini(void)
{
    uv_close((uv_handle_t *)&R.guard, NULL);
    net_free(R.net);
    uv_run(&R.loop, UV_RUN_DEFAULT);
    uv_loop_close(&R.loop);
    unlink(R.cert);
    unlink(R.key);
    rmdir(R.dir);
}

static int
listen_on(enum listen_tls tls, const char *alpn, bool want_cert)
{
    struct listen_config lc = {.address = "127.0.0.1",
                               .port = 0,
                               .tls = tls,
                               .alpn = alpn,
                               .name = "srv",
                               .request_client_cert = want_cert};
    if (net_listen(R.net, &lc, srv_accept, &R) != 0)
        return -1;
    return net_listener_port(R.net, 0);
}

TEST(starttls_from_the_client_side)
{
    ASSERT_EQ(run_init(NULL), 0);
    int port = listen_on(LISTEN_STARTTLS, NULL, false);
    ASSERT_TRUE(port > 0);
    struct connect_config cc = {
        .ip = "127.0.0.1", .port = port, .server_name = "localhost", .name = "out"};
    R.cli.c = net_connect(R.net, &cc, &cli_handler, &R.cli);
    ASSERT_NOT_NULL(R.cli.c);
    ASSERT_TRUE(conn_is_outgoing(R.cli.c));
    /* Queued before the TCP connection exists: goes out once it does. */
    ASSERT_EQ(conn_send_raw(R.cli.c, HEADER, strlen(HEADER)), 0);
    run_loop();
    ASSERT_EQ(R.cli.n_connected, 1);
    ASSERT_EQ(R.cli.n_tls_done, 1);
    ASSERT_EQ(R.srv.n_tls_done, 1);
    ASSERT_STR_EQ(R.cli.version, "TLSv1.3");
    ASSERT_STR_EQ(R.cli.got, "over the link");
    /* Self-signed and no CA file: untrusted, but the names are checked. */
    ASSERT_EQ(R.cli.cert, CONN_CERT_UNTRUSTED);
    ASSERT_TRUE(R.cli.name_ok);
    ASSERT_FALSE(R.cli.other_name_ok);
    /* The listener did not ask for a client certificate. */
    ASSERT_EQ(R.srv.cert, CONN_CERT_NONE);
    ASSERT_EQ(R.cli.n_closed, 1);
    ASSERT_EQ(R.cli.why, CONN_CLOSED_LOCAL);
    ASSERT_EQ(R.srv.n_closed, 1);
    run_fini();
}

TEST(direct_tls_with_alpn_and_client_certificate)
{
    /* The CA file is the self-signed certificate itself: trusted both ways. */
    ASSERT_EQ(run_init("trust"), 0);
    int port = listen_on(LISTEN_DIRECT_TLS, "xmpp-server", true);
    ASSERT_TRUE(port > 0);
    struct connect_config cc = {.ip = "127.0.0.1",
                                .port = port,
                                .direct_tls = true,
                                .server_name = "localhost",
                                .alpn = "xmpp-server",
                                .client_identity = "localhost",
                                .name = "out"};
    R.cli.c = net_connect(R.net, &cc, &cli_handler, &R.cli);
    ASSERT_NOT_NULL(R.cli.c);
    run_loop();
    ASSERT_EQ(R.cli.n_connected, 1);
    ASSERT_EQ(R.cli.n_tls_done, 1);
    ASSERT_STR_EQ(R.cli.alpn, "xmpp-server");
    ASSERT_STR_EQ(R.srv.alpn, "xmpp-server");
    ASSERT_STR_EQ(R.cli.got, "over the link");
    ASSERT_EQ(R.cli.cert, CONN_CERT_TRUSTED);
    ASSERT_TRUE(R.cli.name_ok);
    /* The server saw our client certificate (SASL EXTERNAL material). */
    ASSERT_EQ(R.srv.cert, CONN_CERT_TRUSTED);
    ASSERT_TRUE(R.srv.name_ok);
    ASSERT_FALSE(R.srv.other_name_ok);
    run_fini();
}

TEST(wrong_name_is_reported)
{
    ASSERT_EQ(run_init("trust"), 0);
    int port = listen_on(LISTEN_DIRECT_TLS, NULL, false);
    ASSERT_TRUE(port > 0);
    R.check_name = "other.example";
    struct connect_config cc = {
        .ip = "127.0.0.1", .port = port, .direct_tls = true, .server_name = "other.example"};
    R.cli.c = net_connect(R.net, &cc, &cli_handler, &R.cli);
    ASSERT_NOT_NULL(R.cli.c);
    run_loop();
    ASSERT_EQ(R.cli.n_tls_done, 1);
    ASSERT_EQ(R.cli.cert, CONN_CERT_TRUSTED);
    ASSERT_FALSE(R.cli.name_ok);
    run_fini();
}

TEST(refused_connection)
{
    ASSERT_EQ(run_init(NULL), 0);
    /* A port that was just free: nothing listens there. */
    int port = listen_on(LISTEN_STARTTLS, NULL, false);
    ASSERT_TRUE(port > 0);
    net_stop_listening(R.net);
    uv_run(&R.loop, UV_RUN_NOWAIT);
    struct connect_config cc = {.ip = "127.0.0.1", .port = port};
    R.cli.c = net_connect(R.net, &cc, &cli_handler, &R.cli);
    ASSERT_NOT_NULL(R.cli.c);
    ASSERT_EQ(R.cli.n_closed, 0); /* never from inside net_connect */
    run_loop();
    ASSERT_EQ(R.cli.n_connected, 0);
    ASSERT_EQ(R.cli.n_closed, 1);
    ASSERT_EQ(R.cli.why, CONN_CLOSED_CONNECT);
    run_fini();
}

TEST(idle_connections_give_parser_memory_back)
{
    R.idle_ms = 30;
    ASSERT_EQ(run_init(NULL), 0);
    R.idle_test = true;
    int port = listen_on(LISTEN_STARTTLS, NULL, false);
    ASSERT_TRUE(port > 0);
    struct connect_config cc = {.ip = "127.0.0.1", .port = port, .server_name = "localhost"};
    R.cli.c = net_connect(R.net, &cc, &cli_handler, &R.cli);
    ASSERT_NOT_NULL(R.cli.c);
    ASSERT_EQ(conn_send_raw(R.cli.c, HEADER, strlen(HEADER)), 0);
    run_loop();
    /* The stream went on after the rest: the second message was parsed and echoed. */
    ASSERT_STR_EQ(R.cli.got, "after a rest");
    ASSERT_EQ(R.cli.n_closed, 1);
    if (core_owns_parsers()) {
        ASSERT_TRUE(R.checked_expat);
        ASSERT_TRUE(R.expat_before > 0);
        ASSERT_EQ(R.expat_idle, 0);
    }
    uv_close((uv_handle_t *)&R.pause, NULL);
    run_fini();
    R.idle_ms = 0;
}

TEST(bad_arguments)
{
    ASSERT_EQ(run_init(NULL), 0);
    struct connect_config cc = {.ip = "not-an-address", .port = 5269};
    ASSERT_NULL(net_connect(R.net, &cc, &cli_handler, &R.cli));
    struct connect_config cc2 = {.ip = "127.0.0.1", .port = 5269, .client_identity = "nobody"};
    ASSERT_NULL(net_connect(R.net, &cc2, &cli_handler, &R.cli));
    ASSERT_EQ(R.cli.n_closed, 0);
    uv_timer_init(&R.loop, &R.guard);
    run_fini();
}

TEST_MAIN(TEST_CASE(starttls_from_the_client_side),
          TEST_CASE(direct_tls_with_alpn_and_client_certificate), TEST_CASE(wrong_name_is_reported),
          TEST_CASE(refused_connection), TEST_CASE(idle_connections_give_parser_memory_back),
          TEST_CASE(bad_arguments))
