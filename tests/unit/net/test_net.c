/* SPDX-License-Identifier: MIT
 *
 * test_net.c: plaintext connections end to end: stream open and echo, stream restart
 * dropping pipelined bytes, parse errors, peer EOF, refused connections, the output
 * bound, close from a handler, net_free() with live connections, listeners
 * (dual-stack, errors) and self-signed certificate generation.
 */
#include "fixture.h"

/* Stream open, echo, </stream:stream> from the client, graceful close. */
static void
client_echo(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features"));
    CCHECK(f, cli_send(&cl, "<message to='a@localhost'><body>hi &amp; bye</body></message>") == 0);
    CCHECK(f, cli_expect(&cl, "<message to='a@localhost'><body>hi &amp; bye</body></message>"));
    CCHECK(f, cli_send(&cl, "</stream:stream>") == 0);
    CCHECK(f, cli_expect(&cl, "</stream:stream>"));
    CCHECK(f, cli_expect_eof(&cl));
out:
    cli_close(&cl);
}

TEST(plain_echo)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_echo);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(F.n_accepted, 1);
    ASSERT_EQ(F.n_closed, 1);
    ASSERT_EQ(F.why, CONN_CLOSED_LOCAL);
    ASSERT_STR_EQ(F.events, "open:stream:jabber:client;message:hi & bye;end;closed:0;");
    ASSERT_STR_EQ(F.peer_ip, "127.0.0.1");
    ASSERT_TRUE(F.peer_port > 0);
    ASSERT_STR_EQ(F.listener, "starttls");
    fix_fini(&F);
}

/* Bytes after the element that triggered a restart belong to no stream. */
static void
client_restart(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features"));
    CCHECK(f, cli_send(&cl, "<restart xmlns='t'/><message><body>dropped</body></message>") == 0);
    CCHECK(f, cli_expect(&cl, "<restarted/>"));
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features"));
    CCHECK(f, cli_send(&cl, "<message><body>kept</body></message>") == 0);
    CCHECK(f, cli_expect(&cl, "<body>kept</body>"));
    CCHECK(f, cli_send(&cl, "</stream:stream>") == 0);
    CCHECK(f, cli_expect_eof(&cl));
out:
    cli_close(&cl);
}

TEST(restart_drops_pipelined_bytes)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_restart);
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.events, "open:stream:jabber:client;restart;open:stream:jabber:client;"
                            "message:kept;end;closed:0;");
    fix_fini(&F);
}

static void
client_parse_error(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features"));
    CCHECK(f, cli_send(&cl, "<message><body></message>") == 0);
    CCHECK(f, cli_expect(&cl, "<not-well-formed"));
    CCHECK(f, cli_expect(&cl, "</stream:stream>"));
    CCHECK(f, cli_expect_eof(&cl));
out:
    cli_close(&cl);
}

TEST(parse_error_reported)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_parse_error);
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.events, "open:stream:jabber:client;error:0;closed:0;");
    fix_fini(&F);
}

/* The client goes away without closing the stream. */
static void
client_eof(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features"));
    shutdown(cl.fd, SHUT_WR);
    CCHECK(f, cli_expect_eof(&cl));
out:
    cli_close(&cl);
}

TEST(peer_eof)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_eof);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(F.n_closed, 1);
    ASSERT_EQ(F.why, CONN_CLOSED_PEER);
    fix_fini(&F);
}

static void
client_refused(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    cli_send(&cl, HEADER);
    CCHECK(f, cli_read_some(&cl) <= 0);
out:
    cli_close(&cl);
}

TEST(refused_connection)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    F.refuse = true;
    fix_run(&F, client_refused);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(F.n_accepted, 0);
    fix_fini(&F);
    ASSERT_EQ(F.n_closed, 0); /* no handler: no closed() */
}

/* conn_close() from a stanza handler: queued output first, then FIN; later sends
 * are refused. */
static void
client_close(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features"));
    CCHECK(f, cli_send(&cl, "<close xmlns='t'/><message><body>after</body></message>") == 0);
    CCHECK(f, cli_expect(&cl, "<bye/>"));
    CCHECK(f, cli_expect_eof(&cl));
    CCHECK(f, strstr(cl.buf, "late") == NULL);
out:
    cli_close(&cl);
}

TEST(close_from_handler)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_close);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(F.rc_after_close, YB_ECLOSED);
    ASSERT_STR_EQ(F.events, "open:stream:jabber:client;close;closed:0;");
    fix_fini(&F);
}

/* conn_close() from a timer, outside any handler call. */
static void
client_close_later(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features"));
    CCHECK(f, cli_send(&cl, "<closelater xmlns='t'/>") == 0);
    CCHECK(f, cli_expect(&cl, "<later/>"));
    CCHECK(f, cli_expect_eof(&cl));
out:
    cli_close(&cl);
}

TEST(close_outside_handler)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_close_later);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(F.rc_after_close, YB_ECLOSED);
    ASSERT_STR_EQ(F.events, "open:stream:jabber:client;closelater;closed:0;");
    fix_fini(&F);
}

/* conn_abort() from a handler: queued output is dropped, the rest of the input too. */
static void
client_abort(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features"));
    cl.len = 0;
    cl.buf[0] = '\0';
    CCHECK(f, cli_send(&cl, "<abort xmlns='t'/><message><body>after</body></message>") == 0);
    while (cli_read_some(&cl) > 0)
        ;
    CCHECK(f, strstr(cl.buf, "never") == NULL);
out:
    cli_close(&cl);
}

TEST(abort_from_handler)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_abort);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(F.rc_after_close, YB_ECLOSED);
    ASSERT_STR_EQ(F.events, "open:stream:jabber:client;abort;closed:0;");
    fix_fini(&F);
}

/* A client that stops reading while the server writes: the bound closes it. */
static void
client_flood(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 4096) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features"));
    CCHECK(f, cli_send(&cl, "<flood xmlns='t'/>") == 0);
    for (int i = 0; i < 1000 && !atomic_load(&f->server_gone); i++)
        usleep(10000);
    CCHECK(f, atomic_load(&f->server_gone));
out:
    cli_close(&cl);
}

TEST(output_bound)
{
    ASSERT_EQ(fix_init(&F, 256 * 1024), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_flood);
    ASSERT_CLIENT_OK(&F);
    ASSERT_EQ(F.flood_rc, YB_ELIMIT);
    ASSERT_EQ(F.n_closed, 1);
    ASSERT_EQ(F.why, CONN_CLOSED_OVERFLOW);
    fix_fini(&F);
}

/* net_free() closes live connections and returns after their closed(). */
static void
client_idle(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "<stream:features"));
    f->c_user = 1; /* ready */
    atomic_store(&f->client_done, true);
    uv_async_send(&f->wake);
    CCHECK(f, cli_expect_eof(&cl));
out:
    cli_close(&cl);
}

static void *
idle_main(void *arg)
{
    client_idle(arg);
    return NULL;
}

TEST(net_free_closes_connections)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    pthread_create(&F.thread, NULL, idle_main, &F);
    while (!atomic_load(&F.client_done) && !F.timed_out)
        uv_run(&F.loop, UV_RUN_ONCE);
    ASSERT_EQ(F.n_accepted, 1);
    ASSERT_NOT_NULL(F.conn);
    /* With I/O threads the write's callback may run just after the client read. */
    for (int i = 0; i < 500 && conn_pending_output(F.conn) != 0; i++)
        usleep(1000);
    ASSERT_EQ(conn_pending_output(F.conn), 0);
    net_free(F.net);
    F.net = NULL;
    ASSERT_EQ(F.n_closed, 1);
    ASSERT_EQ(F.why, CONN_CLOSED_LOCAL);
    pthread_join(F.thread, NULL);
    ASSERT_CLIENT_OK(&F);
    fix_fini(&F);
}

TEST(dual_stack_listener)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    struct listen_config lc = {.address = "::", .port = 0, .name = "starttls"};
    if (net_listen(F.net, &lc, on_accept, &F) != 0) {
        fprintf(stderr, "no IPv6 here: skipped\n");
        fix_fini(&F);
        return;
    }
    F.port = net_listener_port(F.net, 0);
    ASSERT_TRUE(F.port > 0);
    ASSERT_EQ(net_listener_port(F.net, 1), -1);
    fix_run(&F, client_echo); /* connects to 127.0.0.1 */
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.peer_ip, "127.0.0.1");
    fix_fini(&F);
}

TEST(listen_errors)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    struct listen_config bad = {.address = "not an address", .port = 0, .name = "bad"};
    ASSERT_EQ(net_listen(F.net, &bad, on_accept, &F), YB_EIO);
    struct listen_config busy = {.address = "127.0.0.1", .port = F.port, .name = "busy"};
    ASSERT_EQ(net_listen(F.net, &busy, on_accept, &F), YB_EIO);
    ASSERT_EQ(net_listener_port(F.net, 1), -1);
    net_stop_listening(F.net);
    ASSERT_EQ(net_listener_port(F.net, 0), F.port);
    fix_fini(&F);
}

TEST(self_signed_certificate)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    struct stat sb;
    ASSERT_EQ(stat(F.key2, &sb), 0);
    ASSERT_EQ(sb.st_mode & 0777, 0600);
    FILE *fp = fopen(F.cert2, "r");
    ASSERT_NOT_NULL(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    ASSERT_NOT_NULL(x);
    int host_ok = X509_check_host(x, "second.test", 0, 0, NULL);
    int wild_ok = X509_check_host(x, "conference.second.test", 0, 0, NULL);
    int other = X509_check_host(x, "example.org", 0, 0, NULL);
    int is_ca = X509_check_ca(x);
    uint32_t xku = X509_get_extended_key_usage(x);
    int md_nid = 0, pk_nid = 0;
    X509_get_signature_info(x, &md_nid, &pk_nid, NULL, NULL);
    EVP_PKEY *pub = X509_get0_pubkey(x);
    int self_ok = X509_verify(x, pub);
    X509_free(x);
    ASSERT_EQ(host_ok, 1);
    ASSERT_EQ(wild_ok, 1);
    ASSERT_TRUE(other != 1);
    ASSERT_EQ(is_ca, 0);
    ASSERT_TRUE(xku & XKU_SSL_SERVER);
    ASSERT_TRUE(xku & XKU_SSL_CLIENT);
    ASSERT_EQ(md_nid, NID_sha256);
    ASSERT_EQ(pk_nid, NID_X9_62_id_ecPublicKey);
    ASSERT_EQ(self_ok, 1);
    /* Bad inputs. */
    ASSERT_EQ(net_tls_add_identity(F.net, "x", F.cert1, F.key2), YB_EINVAL); /* mismatch */
    ASSERT_EQ(net_tls_add_identity(F.net, "x", "/nonexistent.crt", F.key1), YB_EINVAL);
    ASSERT_EQ(net_tls_generate_self_signed("x", "/nonexistent/dir/x.crt", "/nonexistent/x.key", 1),
              YB_EIO);
    fix_fini(&F);
}

TEST(free_null)
{
    net_free(NULL);
}

TEST_MAIN(TEST_CASE(plain_echo), TEST_CASE(restart_drops_pipelined_bytes),
          TEST_CASE(parse_error_reported), TEST_CASE(peer_eof), TEST_CASE(refused_connection),
          TEST_CASE(close_from_handler), TEST_CASE(close_outside_handler),
          TEST_CASE(abort_from_handler), TEST_CASE(output_bound),
          TEST_CASE(net_free_closes_connections), TEST_CASE(dual_stack_listener),
          TEST_CASE(listen_errors), TEST_CASE(self_signed_certificate), TEST_CASE(free_null))
