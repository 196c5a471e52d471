/* SPDX-License-Identifier: MIT
 *
 * test_compress.c: XEP-0138 stream compression in net against a zlib client: the
 * <compressed/> in the clear and the stream restart, compressed echo over plaintext
 * and over TLS, one sync flush per output batch, a second request refused, the
 * memory held, compression bombs (whitespace, one huge stanza) ending in a policy
 * error, and uncompressed garbage ending in a not-well-formed error.
 */
#include "fixture.h"
#include "internal.h"

#define COMPRESS "<compress xmlns='t'/>"

static size_t zlib_mem_seen;

/* On the thread that owns c's socket (the I/O thread when there is one). */
static void
read_zlib_mem(struct conn *c, void *arg)
{
    (void)arg;
    if (c->zlib != NULL && c->zlib_on)
        zlib_mem_seen = net__zlib_mem(c->zlib);
}

static void
record_zlib_mem(struct fix *f, struct conn *c)
{
    (void)f;
    net__conn_call(c, read_zlib_mem, NULL);
}

/* Sync flush markers (an empty stored block, XEP-0138 §6.1) in what came so far. */
static int
count_flushes(const struct cli *cl)
{
    int n = 0;
    for (size_t i = 0; i + 4 <= cl->raw_len; i++)
        if (memcmp(cl->raw + i, "\x00\x00\xff\xff", 4) == 0)
            n++;
    return n;
}

/* Header, features, <compress/> (with a message pipelined behind it, which must be
 * dropped), <compressed/> in the clear, then the compressed stream header. */
static bool
negotiate(struct cli *cl)
{
    /* The fixture offers STARTTLS on plaintext streams only. */
    const char *features_end = cl->ssl != NULL ? "<stream:features/>" : "</stream:features>";
    if (cli_send(cl, HEADER) != 0 || !cli_expect(cl, features_end))
        return false;
    if (cli_send(cl, COMPRESS "<message><body>pipelined</body></message>") != 0 ||
        !cli_expect(cl, "<compressed/>") || cl->len != 0)
        return false;
    if (cli_compress(cl) != 0 || cli_send(cl, HEADER) != 0)
        return false;
    return cli_expect(cl, features_end);
}

static void
client_compressed_echo(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, negotiate(&cl));
    int before = count_flushes(&cl);
    /* Three stanzas in one read are echoed in one batch: one sync flush. */
    CCHECK(f, cli_send(&cl, "<message><body>one</body></message><message><body>two</body>"
                            "</message><message><body>three</body></message>") == 0);
    CCHECK(f, cli_expect(&cl, "<body>one</body>"));
    CCHECK(f, cli_expect(&cl, "<body>three</body>"));
    /* Asking twice is refused and changes nothing. */
    CCHECK(f, cli_send(&cl, COMPRESS) == 0);
    CCHECK(f, cli_expect(&cl, "<failure/>"));
    f->c_user = count_flushes(&cl) - before;
    CCHECK(f, cli_send(&cl, "<message><body>still compressed</body></message>") == 0);
    CCHECK(f, cli_expect(&cl, "<body>still compressed</body>"));
    CCHECK(f, cli_send(&cl, "</stream:stream>") == 0);
    CCHECK(f, cli_expect(&cl, "</stream:stream>"));
    CCHECK(f, cli_read_some(&cl) == 0);
out:
    cli_close(&cl);
}

TEST(compressed_echo)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    zlib_mem_seen = 0;
    F.on_stanza_hook = record_zlib_mem;
    fix_run(&F, client_compressed_echo);
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.events, "open:stream:jabber:client;compress;open:stream:jabber:client;"
                            "message:one;message:two;message:three;compress;"
                            "message:still compressed;end;closed:0;");
    ASSERT_EQ(F.c_user, 2); /* the batch of three echoes, then the failure */
    /* Deflate (4 KiB window, memLevel 5) plus inflate (32 KiB window) and zlib's
     * own structures. */
    fprintf(stderr, "zlib memory per connection: %zu bytes\n", zlib_mem_seen);
    ASSERT_TRUE(zlib_mem_seen > 32 * 1024);
    ASSERT_TRUE(zlib_mem_seen < 96 * 1024);
    fix_fini(&F);
}

/* TLS first, then compression: TLS → zlib → XML. */
static void
client_tls_compressed(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    struct cli_tls_opts o = {.sni = "localhost"};
    CCHECK(f, cli_tls(&cl, &o) == 0);
    CCHECK(f, negotiate(&cl));
    char big[20000];
    /* Larger than one TLS record and than the inflate scratch buffer once inflated. */
    strcpy(big, "<message><subject>");
    size_t len = strlen(big);
    for (int i = 0; i < 1200; i++)
        len += (size_t)sprintf(big + len, "%04d.%08d;", i, i * 7);
    strcpy(big + len, "</subject></message>");
    CCHECK(f, cli_send(&cl, big) == 0);
    CCHECK(f, cli_expect(&cl, "1199.00008393;</subject>"));
    CCHECK(f, cli_send(&cl, "<close xmlns='t'/>") == 0);
    CCHECK(f, cli_expect(&cl, "<bye/>"));
    CCHECK(f, cli_read_some(&cl) == 0);
    CCHECK(f, cl.ssl_err == SSL_ERROR_ZERO_RETURN);
out:
    cli_close(&cl);
}

TEST(compressed_over_tls)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_DIRECT_TLS, "xmpp-client") > 0);
    fix_run(&F, client_tls_compressed);
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.events, "tls;open:stream:jabber:client;compress;open:stream:jabber:client;"
                            "message;close;closed:0;");
    fix_fini(&F);
}

/* Few compressed bytes, megabytes of whitespace between stanzas: the parser would
 * take it, the inflate bound does not. */
static void
client_bomb_whitespace(struct fix *f)
{
    struct cli cl;
    char *spaces = NULL, *z = NULL;
    size_t zlen = 0, n = 8u << 20;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, negotiate(&cl));
    CCHECK(f, (spaces = malloc(n)) != NULL);
    memset(spaces, ' ', n);
    CCHECK(f, cli_deflate(&cl, spaces, n, &z, &zlen) == 0);
    CCHECK(f, zlen < 16 * 1024);
    CCHECK(f, cli_send_bytes(&cl, z, zlen) == 0);
    CCHECK(f, cli_expect(&cl, "<not-well-formed")); /* the fixture's only error */
    CCHECK(f, cli_read_some(&cl) == 0);
out:
    free(spaces);
    free(z);
    cli_close(&cl);
}

TEST(bomb_of_whitespace_is_policy_violation)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_bomb_whitespace);
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.events, "open:stream:jabber:client;compress;open:stream:jabber:client;"
                            "error:2;closed:0;");
    fix_fini(&F);
}

/* One stanza beyond the parser's limit, compressed to a few KiB. */
static void
client_bomb_stanza(struct fix *f)
{
    struct cli cl;
    char *msg = NULL;
    size_t n = 600 * 1024;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, negotiate(&cl));
    CCHECK(f, (msg = malloc(n + 64)) != NULL);
    strcpy(msg, "<message><body>");
    memset(msg + 15, 'a', n);
    strcpy(msg + 15 + n, "</body></message>");
    CCHECK(f, cli_send(&cl, msg) == 0);
    CCHECK(f, cli_expect(&cl, "<not-well-formed"));
    CCHECK(f, cli_read_some(&cl) == 0);
out:
    free(msg);
    cli_close(&cl);
}

TEST(bomb_stanza_is_policy_violation)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_bomb_stanza);
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.events, "open:stream:jabber:client;compress;open:stream:jabber:client;"
                            "error:2;closed:0;");
    fix_fini(&F);
}

/* Plain XML where a zlib stream is expected. */
static void
client_garbage(struct fix *f)
{
    struct cli cl;
    CCHECK(f, cli_connect(&cl, f, 0) == 0);
    CCHECK(f, cli_send(&cl, HEADER) == 0);
    CCHECK(f, cli_expect(&cl, "</stream:features>"));
    CCHECK(f, cli_send(&cl, COMPRESS) == 0);
    CCHECK(f, cli_expect(&cl, "<compressed/>"));
    CCHECK(f, cli_compress(&cl) == 0);
    CCHECK(f, cli_send_bytes(&cl, HEADER, strlen(HEADER)) == 0);
    CCHECK(f, cli_expect(&cl, "<not-well-formed"));
    CCHECK(f, cli_read_some(&cl) == 0);
out:
    cli_close(&cl);
}

TEST(uncompressed_garbage_is_not_well_formed)
{
    ASSERT_EQ(fix_init(&F, 0), 0);
    ASSERT_TRUE(fix_listen(&F, LISTEN_STARTTLS, NULL) > 0);
    fix_run(&F, client_garbage);
    ASSERT_CLIENT_OK(&F);
    ASSERT_STR_EQ(F.events, "open:stream:jabber:client;compress;error:0;closed:0;");
    fix_fini(&F);
}

/* The deflate and inflate halves against each other, without sockets: any split of
 * the input gives the same bytes, and a corrupt byte is an error. */
TEST(zlib_roundtrip_and_corruption)
{
    struct net__zlib *a = net__zlib_new(), *b = net__zlib_new();
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    struct buf out = BUF_INIT;
    ASSERT_EQ(buf_puts(&out, "<message><body>hello hello hello</body></message>"), 0);
    ASSERT_EQ(net__zlib_deflate(a, &out), 0);
    ASSERT_TRUE(out.len > 4);
    ASSERT_MEM_EQ(out.data + out.len - 4, "\x00\x00\xff\xff", 4);
    char res[256];
    size_t res_len = 0;
    net__zlib_new_read(b);
    for (size_t i = 0; i < out.len; i++) { /* one byte at a time */
        const char *p = out.data + i;
        size_t left = 1, got = 0;
        ASSERT_EQ(
            net__zlib_inflate(b, &p, &left, res + res_len, sizeof res - res_len, &got, SIZE_MAX),
            0);
        ASSERT_EQ(left, 0);
        res_len += got;
    }
    res[res_len] = '\0';
    ASSERT_STR_EQ(res, "<message><body>hello hello hello</body></message>");
    /* An empty batch writes nothing (no lone flush marker). */
    buf_clear(&out);
    ASSERT_EQ(net__zlib_deflate(a, &out), 0);
    ASSERT_EQ(out.len, 0);
    /* The read budget. */
    ASSERT_EQ(buf_puts(&out, "                                                  "), 0);
    ASSERT_EQ(net__zlib_deflate(a, &out), 0);
    const char *p = out.data;
    size_t left = out.len, got = 0;
    net__zlib_new_read(b);
    ASSERT_EQ(net__zlib_inflate(b, &p, &left, res, sizeof res, &got, 10), YB_ELIMIT);
    buf_fini(&out);
    /* Corruption: a stored block whose length check fails. */
    const char bad[] = "\x00\x05\x00\x00\x00";
    p = bad;
    left = sizeof bad - 1;
    ASSERT_EQ(net__zlib_inflate(a, &p, &left, res, sizeof res, &got, SIZE_MAX), YB_EPROTO);
    net__zlib_free(a);
    net__zlib_free(b);
}

TEST_MAIN(TEST_CASE(compressed_echo), TEST_CASE(compressed_over_tls),
          TEST_CASE(bomb_of_whitespace_is_policy_violation),
          TEST_CASE(bomb_stanza_is_policy_violation),
          TEST_CASE(uncompressed_garbage_is_not_well_formed),
          TEST_CASE(zlib_roundtrip_and_corruption))
