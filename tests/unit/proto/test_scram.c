/* SPDX-License-Identifier: MIT
 *
 * test_scram.c: SCRAM against the RFC 5802 §5 and RFC 7677 §3 examples, client <->
 * server round trips for every hash with and without channel binding, the -PLUS
 * downgrade rules, wrong passwords, unknown users, malformed messages and allocation
 * failures.
 */
#include "test.h"

#include "alloc.h"
#include "base64.h"
#include "error.h"
#include "internal.h"
#include "scram.h"

#define LIT(s) s, strlen(s)

static const unsigned char exporter[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char other_exporter[32] = "0123456789abcdef0123456789abcdeF";
static const unsigned char end_point[32] = "fedcba9876543210fedcba9876543210";

static void
keys_from_b64(enum scram_hash h, const char *password, const char *salt_b64, unsigned iter,
              struct scram_keys *k)
{
    size_t salt_len;
    unsigned char *salt = base64_decode(salt_b64, strlen(salt_b64), &salt_len);
    int rc = scram_keys_derive(h, password, salt, salt_len, iter, k);
    yb_free(salt);
    if (rc != 0)
        abort();
}

/* An RFC example from both sides: the fixed nonces make every message exact. */
static void
check_rfc_example(enum scram_hash h, const char *cnonce, const char *snonce, const char *salt,
                  const char *server_first, const char *client_final, const char *server_final)
{
    struct scram_keys keys;
    keys_from_b64(h, "pencil", salt, 4096, &keys);
    char client_first[128];
    snprintf(client_first, sizeof client_first, "n,,n=user,r=%s", cnonce);

    /* Server side. */
    struct scram_server *s = scram_server_new(h, false);
    ASSERT_NOT_NULL(s);
    ASSERT_EQ(scram_server__set_nonce(s, snonce), 0);
    const char *user, *authzid;
    struct scram_cb cb = {0};
    ASSERT_EQ(scram_server_client_first(s, LIT(client_first), &cb, &user, &authzid), 0);
    ASSERT_STR_EQ(user, "user");
    ASSERT_NULL(authzid);
    char *sf = scram_server_first(s, &keys);
    ASSERT_STR_EQ(sf, server_first);
    yb_free(sf);
    char *fin = NULL;
    ASSERT_EQ(scram_server_client_final(s, LIT(client_final), &fin), 0);
    ASSERT_STR_EQ(fin, server_final);
    yb_free(fin);
    scram_server_free(s);

    /* Client side. */
    struct scram_client *c = scram_client_new(h, "user", "pencil", NULL, NULL, 0);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(scram_client__set_nonce(c, cnonce), 0);
    char *cf = scram_client_first(c);
    ASSERT_STR_EQ(cf, client_first);
    yb_free(cf);
    char *cfin = scram_client_final(c, LIT(server_first));
    ASSERT_STR_EQ(cfin, client_final);
    yb_free(cfin);
    ASSERT_EQ(scram_client_verify(c, LIT(server_final)), 0);
    scram_client_free(c);
}

TEST(rfc5802_sha1)
{
    check_rfc_example(SCRAM_SHA1, "fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j",
                      "QSXCR+Q6sek8bf92",
                      "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
                      "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                      "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                      "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

TEST(rfc7677_sha256)
{
    check_rfc_example(
        SCRAM_SHA256, "rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        "W22ZaJ0SNY7soEsUEjb6gQ==",
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

TEST(hash_info)
{
    ASSERT_STR_EQ(scram_hash_mech(SCRAM_SHA1), "SCRAM-SHA-1");
    ASSERT_STR_EQ(scram_hash_mech(SCRAM_SHA256), "SCRAM-SHA-256");
    ASSERT_STR_EQ(scram_hash_mech(SCRAM_SHA512), "SCRAM-SHA-512");
    ASSERT_EQ(scram_hash_size(SCRAM_SHA1), 20);
    ASSERT_EQ(scram_hash_size(SCRAM_SHA256), 32);
    ASSERT_EQ(scram_hash_size(SCRAM_SHA512), 64);
}

TEST(keys)
{
    struct scram_keys k, k2;
    for (int h = 0; h < SCRAM_N_HASHES; h++) {
        ASSERT_EQ(scram_keys_generate((enum scram_hash)h, "secret", 64, &k), 0);
        ASSERT_EQ(k.hash, h);
        ASSERT_EQ(k.iterations, 64);
        ASSERT_EQ(k.salt_len, 16);
        ASSERT_EQ(k.key_len, scram_hash_size((enum scram_hash)h));
        ASSERT_TRUE(scram_keys_check_password(&k, "secret"));
        ASSERT_FALSE(scram_keys_check_password(&k, "Secret"));
        ASSERT_FALSE(scram_keys_check_password(&k, ""));
        ASSERT_FALSE(scram_keys_check_password(&k, "\x01"));
        ASSERT_EQ(scram_keys_generate((enum scram_hash)h, "secret", 64, &k2), 0);
        ASSERT_TRUE(memcmp(k.salt, k2.salt, 16) != 0);
    }
    /* SASLprep applies: a soft hyphen disappears, a non-ASCII space is a space. */
    ASSERT_EQ(scram_keys_generate(SCRAM_SHA256,
                                  "pa\xC2\xAD"
                                  "ss word",
                                  16, &k),
              0);
    ASSERT_TRUE(scram_keys_check_password(&k, "pass\xC2\xA0word"));
    /* Unassigned code points are allowed in passwords (queries). */
    ASSERT_EQ(scram_keys_generate(SCRAM_SHA256, "\xF0\x9F\x98\x80", 16, &k), 0);
    ASSERT_TRUE(scram_keys_check_password(&k, "\xF0\x9F\x98\x80"));

    unsigned char salt[SCRAM_MAX_SALT + 1] = {1};
    ASSERT_EQ(scram_keys_derive(SCRAM_SHA1, "pw", salt, 0, 16, &k), YB_EINVAL);
    ASSERT_EQ(scram_keys_derive(SCRAM_SHA1, "pw", salt, SCRAM_MAX_SALT + 1, 16, &k), YB_EINVAL);
    ASSERT_EQ(scram_keys_derive(SCRAM_SHA1, "pw", salt, SCRAM_MAX_SALT, 16, &k), 0);
    ASSERT_EQ(scram_keys_derive(SCRAM_SHA1, "pw", salt, 16, 0, &k), YB_EINVAL);
    ASSERT_EQ(scram_keys_derive(SCRAM_SHA1, "p\x07w", salt, 16, 16, &k), YB_EINVAL);
    ASSERT_EQ(scram_keys_derive(SCRAM_SHA1, "", salt, 16, 16, &k), YB_EINVAL);
    ASSERT_EQ(scram_keys_derive(SCRAM_SHA1, "\xC2\xAD", salt, 16, 16, &k), YB_EINVAL);
    ASSERT_EQ(scram_keys_derive(SCRAM_SHA1, "\xff", salt, 16, 16, &k), YB_EINVAL);
    ASSERT_EQ(scram_keys_derive(SCRAM_SHA1,
                                "\xD8\xA7"
                                "1",
                                salt, 16, 16, &k),
              YB_EINVAL);
}

/* ---- round trips ------------------------------------------------------------------ */

enum stage {
    ST_OK,
    ST_CLIENT_NEW,
    ST_CLIENT_FIRST,
    ST_SERVER_FIRST_MSG,
    ST_CHALLENGE,
    ST_CLIENT_FINAL,
    ST_SERVER_FINAL,
    ST_VERIFY
};

struct run {
    enum stage stage; /* where it stopped */
    int rc;           /* the server's answer there */
    char user[64];
};

/* A whole exchange; keys NULL for an unknown user. */
static struct run
exchange(enum scram_hash h, bool plus, const struct scram_cb *cb, const struct scram_keys *keys,
         const char *user, const char *password, const char *cb_name, const unsigned char *cb_data,
         size_t cb_len, bool flag_y)
{
    struct run r = {ST_OK, 0, ""};
    struct scram_client *c = scram_client_new(h, user, password, cb_name, cb_data, cb_len);
    struct scram_server *s = NULL;
    char *m = NULL, *reply = NULL;
    if (c == NULL) {
        r.stage = ST_CLIENT_NEW;
        goto done;
    }
    if (flag_y && scram_client__set_flag_y(c) != 0)
        abort();
    m = scram_client_first(c);
    if (m == NULL) {
        r.stage = ST_CLIENT_FIRST;
        goto done;
    }
    s = scram_server_new(h, plus);
    if (s == NULL) {
        r.stage = ST_SERVER_FIRST_MSG;
        r.rc = YB_ENOMEM;
        goto done;
    }
    const char *u, *z;
    r.rc = scram_server_client_first(s, m, strlen(m), cb, &u, &z);
    if (r.rc != 0) {
        r.stage = ST_SERVER_FIRST_MSG;
        goto done;
    }
    snprintf(r.user, sizeof r.user, "%s", u);
    reply = scram_server_first(s, keys);
    if (reply == NULL) {
        r.stage = ST_CHALLENGE;
        goto done;
    }
    yb_free(m);
    m = scram_client_final(c, reply, strlen(reply));
    if (m == NULL) {
        r.stage = ST_CLIENT_FINAL;
        goto done;
    }
    yb_free(reply);
    reply = NULL;
    r.rc = scram_server_client_final(s, m, strlen(m), &reply);
    if (r.rc != 0) {
        r.stage = ST_SERVER_FINAL;
        if (reply != NULL)
            abort();
        goto done;
    }
    r.rc = scram_client_verify(c, reply, strlen(reply));
    if (r.rc != 0)
        r.stage = ST_VERIFY;
done:
    yb_free(m);
    yb_free(reply);
    scram_server_free(s);
    scram_client_free(c);
    return r;
}

TEST(round_trip_all_hashes)
{
    struct scram_cb none = {0};
    struct scram_cb tls13 = {exporter, 32, end_point, 32, NULL, 0, true};
    for (int i = 0; i < SCRAM_N_HASHES; i++) {
        enum scram_hash h = (enum scram_hash)i;
        struct scram_keys k;
        ASSERT_EQ(scram_keys_generate(h, "pencil", 256, &k), 0);

        struct run r = exchange(h, false, &none, &k, "user", "pencil", NULL, NULL, 0, false);
        ASSERT_EQ(r.stage, ST_OK);
        ASSERT_STR_EQ(r.user, "user");
        /* No -PLUS on offer, the client says 'y': fine. */
        r = exchange(h, false, &none, &k, "user", "pencil", NULL, NULL, 0, true);
        ASSERT_EQ(r.stage, ST_OK);
        /* Plain SCRAM on a TLS connection that offers -PLUS, client cannot bind. */
        r = exchange(h, false, &tls13, &k, "user", "pencil", NULL, NULL, 0, false);
        ASSERT_EQ(r.stage, ST_OK);
        /* -PLUS with either binding type. */
        r = exchange(h, true, &tls13, &k, "user", "pencil", "tls-exporter", exporter, 32, false);
        ASSERT_EQ(r.stage, ST_OK);
        r = exchange(h, true, &tls13, &k, "user", "pencil", "tls-server-end-point", end_point, 32,
                     false);
        ASSERT_EQ(r.stage, ST_OK);
        /* Another password, another user. */
        r = exchange(h, false, &none, &k, "user", "pencil2", NULL, NULL, 0, false);
        ASSERT_EQ(r.stage, ST_SERVER_FINAL);
        ASSERT_EQ(r.rc, YB_EAUTH);
        r = exchange(h, false, &none, NULL, "nobody", "pencil", NULL, NULL, 0, false);
        ASSERT_EQ(r.stage, ST_SERVER_FINAL);
        ASSERT_EQ(r.rc, YB_EAUTH);
        /* Keys of another hash count as no keys. */
        struct scram_keys other;
        ASSERT_EQ(
            scram_keys_generate((enum scram_hash)((i + 1) % SCRAM_N_HASHES), "pencil", 16, &other),
            0);
        r = exchange(h, false, &none, &other, "user", "pencil", NULL, NULL, 0, false);
        ASSERT_EQ(r.stage, ST_SERVER_FINAL);
        ASSERT_EQ(r.rc, YB_EAUTH);
    }
}

TEST(tls_unique)
{
    static const unsigned char finished[12] = "finished-msg";
    static const unsigned char other[12] = "other-finish";
    struct scram_cb with = {NULL, 0, end_point, 32, finished, 12, true};
    struct scram_cb without = {NULL, 0, end_point, 32, NULL, 0, true};
    struct scram_keys k;
    ASSERT_EQ(scram_keys_generate(SCRAM_SHA512, "pencil", 64, &k), 0);
    /* COMPAT: slixmpp 1.8 binds with tls-unique; it must match the Finished bytes. */
    struct run r = exchange(SCRAM_SHA512, true, &with, &k, "user", "pencil", "tls-unique", finished,
                            12, false);
    ASSERT_EQ(r.stage, ST_OK);
    r = exchange(SCRAM_SHA512, true, &with, &k, "user", "pencil", "tls-unique", other, 12, false);
    ASSERT_EQ(r.rc, YB_EAUTH);
    /* Not offered on this connection: refused at the first message. */
    r = exchange(SCRAM_SHA512, true, &without, &k, "user", "pencil", "tls-unique", finished, 12,
                 false);
    ASSERT_EQ(r.rc, YB_EAUTH);
    ASSERT_NE(r.stage, ST_OK);
}

TEST(user_names)
{
    struct scram_cb none = {0};
    struct scram_keys k;
    ASSERT_EQ(scram_keys_generate(SCRAM_SHA256, "pw", 16, &k), 0);
    /* ',' and '=' travel as =2C and =3D and come back decoded. */
    struct run r = exchange(SCRAM_SHA256, false, &none, &k, "a,b=c", "pw", NULL, NULL, 0, false);
    ASSERT_EQ(r.stage, ST_OK);
    ASSERT_STR_EQ(r.user, "a,b=c");
    /* The server applies SASLprep to what it receives. */
    r = exchange(SCRAM_SHA256, false, &none, &k,
                 "us\xC2\xAD"
                 "er",
                 "pw", NULL, NULL, 0, false);
    ASSERT_EQ(r.stage, ST_OK);
    ASSERT_STR_EQ(r.user, "user");
    /* Client refuses names SASLprep rejects or empties. */
    r = exchange(SCRAM_SHA256, false, &none, &k, "\xC2\xAD", "pw", NULL, NULL, 0, false);
    ASSERT_EQ(r.stage, ST_CLIENT_NEW);
    r = exchange(SCRAM_SHA256, false, &none, &k, "a\x07", "pw", NULL, NULL, 0, false);
    ASSERT_EQ(r.stage, ST_CLIENT_NEW);
    r = exchange(SCRAM_SHA256, false, &none, &k, "u", "", NULL, NULL, 0, false);
    ASSERT_EQ(r.stage, ST_CLIENT_NEW);
}

TEST(channel_binding_rules)
{
    struct scram_cb none = {0};
    struct scram_cb tls13 = {exporter, 32, end_point, 32, NULL, 0, true};
    struct scram_cb tls12 = {NULL, 0, end_point, 32, NULL, 0, true};
    struct scram_cb other = {other_exporter, 32, end_point, 32, NULL, 0, true};
    struct scram_keys k;
    ASSERT_EQ(scram_keys_generate(SCRAM_SHA256, "pw", 16, &k), 0);
    enum scram_hash h = SCRAM_SHA256;

    /* Binding data that differ: fails at the final step. */
    struct run r = exchange(h, true, &other, &k, "u", "pw", "tls-exporter", exporter, 32, false);
    ASSERT_EQ(r.stage, ST_SERVER_FINAL);
    ASSERT_EQ(r.rc, YB_EAUTH);
    r = exchange(h, true, &tls13, &k, "u", "pw", "tls-server-end-point", exporter, 32, false);
    ASSERT_EQ(r.stage, ST_SERVER_FINAL);
    ASSERT_EQ(r.rc, YB_EAUTH);
    /* 'y' while the server offers -PLUS: a downgrade. */
    r = exchange(h, false, &tls13, &k, "u", "pw", NULL, NULL, 0, true);
    ASSERT_EQ(r.stage, ST_SERVER_FIRST_MSG);
    ASSERT_EQ(r.rc, YB_EAUTH);
    /* 'p' on a mechanism without -PLUS. */
    r = exchange(h, false, &tls13, &k, "u", "pw", "tls-exporter", exporter, 32, false);
    ASSERT_EQ(r.stage, ST_SERVER_FIRST_MSG);
    ASSERT_EQ(r.rc, YB_EAUTH);
    /* 'n' or 'y' on a -PLUS mechanism. */
    r = exchange(h, true, &tls13, &k, "u", "pw", NULL, NULL, 0, false);
    ASSERT_EQ(r.stage, ST_SERVER_FIRST_MSG);
    ASSERT_EQ(r.rc, YB_EAUTH);
    r = exchange(h, true, &tls13, &k, "u", "pw", NULL, NULL, 0, true);
    ASSERT_EQ(r.stage, ST_SERVER_FIRST_MSG);
    ASSERT_EQ(r.rc, YB_EAUTH);
    /* Unknown binding type, or one this connection cannot provide. */
    r = exchange(h, true, &tls13, &k, "u", "pw", "tls-unique", exporter, 32, false);
    ASSERT_EQ(r.stage, ST_SERVER_FIRST_MSG);
    ASSERT_EQ(r.rc, YB_EAUTH);
    r = exchange(h, true, &tls12, &k, "u", "pw", "tls-exporter", exporter, 32, false);
    ASSERT_EQ(r.stage, ST_SERVER_FIRST_MSG);
    ASSERT_EQ(r.rc, YB_EAUTH);
    r = exchange(h, true, &tls12, &k, "u", "pw", "tls-server-end-point", end_point, 32, false);
    ASSERT_EQ(r.stage, ST_OK);
    r = exchange(h, true, &none, &k, "u", "pw", "tls-exporter", exporter, 32, false);
    ASSERT_EQ(r.stage, ST_SERVER_FIRST_MSG);
    ASSERT_EQ(r.rc, YB_EAUTH);
    r = exchange(h, true, NULL, &k, "u", "pw", "tls-exporter", exporter, 32, false);
    ASSERT_EQ(r.stage, ST_SERVER_FIRST_MSG);
    ASSERT_EQ(r.rc, YB_EAUTH);
    /* No cb at all is "no TLS, no -PLUS". */
    r = exchange(h, false, NULL, &k, "u", "pw", NULL, NULL, 0, true);
    ASSERT_EQ(r.stage, ST_OK);
}

/* server-first for user name (NULL keys: unknown user) with a fixed nonce. */
static char *
challenge(enum scram_hash h, const char *name, const struct scram_keys *keys)
{
    struct scram_cb none = {0};
    const char *u, *z;
    char msg[64];
    snprintf(msg, sizeof msg, "n,,n=%s,r=abc", name);
    struct scram_server *s = scram_server_new(h, false);
    if (s == NULL || scram_server__set_nonce(s, "X") != 0 ||
        scram_server_client_first(s, LIT(msg), &none, &u, &z) != 0)
        abort();
    char *sf = scram_server_first(s, keys);
    scram_server_free(s);
    return sf;
}

TEST(unknown_user_salt)
{
    /* The fake challenge for an unknown user is stable, so asking twice does not
     * reveal that the user does not exist; it differs between users and hashes, but
     * not between names the server treats as one account (Nodeprep case folding). */
    struct scram_keys k;
    ASSERT_EQ(scram_keys_generate(SCRAM_SHA256, "pw", 777, &k), 0);
    char *real = challenge(SCRAM_SHA256, "someone", &k);
    ASSERT_NOT_NULL(real);
    ASSERT_TRUE(strstr(real, ",i=777") != NULL);
    yb_free(real);

    char *sf[5];
    const char *names[5] = {"ghost", "ghost", "other", "ghost", "GHOST"};
    enum scram_hash hs[5] = {SCRAM_SHA256, SCRAM_SHA256, SCRAM_SHA256, SCRAM_SHA1, SCRAM_SHA256};
    for (int i = 0; i < 5; i++) {
        sf[i] = challenge(hs[i], names[i], NULL);
        ASSERT_NOT_NULL(sf[i]);
    }
    ASSERT_TRUE(strncmp(sf[0], "r=abcX,s=", 9) == 0);
    /* The iteration count of real accounts, so that i= does not give it away. */
    ASSERT_TRUE(strstr(sf[0], ",i=777") != NULL);
    ASSERT_STR_EQ(sf[0], sf[1]);
    ASSERT_STR_EQ(sf[0], sf[4]);
    ASSERT_TRUE(strcmp(sf[0], sf[2]) != 0);
    ASSERT_TRUE(strcmp(sf[0], sf[3]) != 0);
    for (int i = 0; i < 5; i++)
        yb_free(sf[i]);
}

TEST(server_nonce)
{
    struct scram_cb none = {0};
    struct scram_keys k;
    ASSERT_EQ(scram_keys_generate(SCRAM_SHA1, "pw", 16, &k), 0);
    const char *u, *z;
    struct scram_server *s = scram_server_new(SCRAM_SHA1, false);
    ASSERT_EQ(scram_server_client_first(s, LIT("n,,n=u,r=abc"), &none, &u, &z), 0);
    char *sf = scram_server_first(s, &k);
    ASSERT_NOT_NULL(sf);
    /* client nonce + base64 of 24 random bytes (32 characters). */
    ASSERT_TRUE(strncmp(sf, "r=abc", 5) == 0);
    ASSERT_EQ(strcspn(sf, ",") - 5, 32);
    yb_free(sf);
    scram_server_free(s);
    s = scram_server_new(SCRAM_SHA1, false);
    ASSERT_EQ(scram_server__set_nonce(s, "a,b"), YB_EINVAL);
    ASSERT_EQ(scram_server__set_nonce(s, ""), YB_EINVAL);
    ASSERT_EQ(scram_server__set_nonce(s, "a b"), YB_EINVAL);
    scram_server_free(s);
}

/* ---- malformed input -------------------------------------------------------------- */

static int
server_first_rc(bool plus, const struct scram_cb *cb, const char *msg, size_t len)
{
    struct scram_server *s = scram_server_new(SCRAM_SHA256, plus);
    static const char sentinel[] = "unchanged";
    const char *u = sentinel, *z = sentinel;
    int rc = scram_server_client_first(s, msg, len, cb, &u, &z);
    if (rc != 0 && (u != NULL || z != NULL))
        abort();
    scram_server_free(s);
    return rc;
}

TEST(malformed_client_first)
{
    struct scram_cb none = {0};
    static const char *const bad[] = {
        "",
        "n",
        "n,",
        "n,,",
        "x,,n=user,r=abc",
        "n,n=user,r=abc",
        "N,,n=user,r=abc",
        "n,,m=ext,n=user,r=abc",
        "n,,n=user",
        "n,,r=abc,n=user",
        "n,,n=user,r=",
        "n,,n=,r=abc",
        "n,,n=us=er,r=abc",
        "n,,n=us=2cer,r=abc",
        "n,,n=user=2,r=abc",
        "n,,n=user,r=abc,",
        "n,,n=user,r=abc,,x=y",
        "n,,n=user,r=abc,1=y",
        "n,,n=user,r=abc,x=",
        "n,,n=user,r=ab\x7f",
        "n,,n=user,r=ab c",
        "n,,n=user,r=ab\xC3\xA9",
        "n,,n=user,,r=abc",
        "n,,,n=user,r=abc",
        "n,a=,n=user,r=abc",
        "n,a=x=1,n=user,r=abc",
        "n,b=x,n=user,r=abc",
        "p=,,n=user,r=abc",
        "p=tls exporter,,n=user,r=abc",
        "p=tls-exporter,n=user,r=abc",
        "y,,n=\x07,r=abc",
        "n,,n=\xff,r=abc",
        ",,n=user,r=abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = server_first_rc(false, &none, LIT(bad[i]));
        if (rc != YB_EINVAL)
            fprintf(stderr, "client-first \"%s\": %d\n", bad[i], rc);
        ASSERT_EQ(rc, YB_EINVAL);
    }
    /* Embedded NUL, and a message over the size limit. */
    ASSERT_EQ(server_first_rc(false, &none, "n,,n=us\0er,r=abc", 16), YB_EINVAL);
    char *big = malloc(9000);
    memset(big, 'a', 9000);
    memcpy(big, "n,,n=", 5);
    ASSERT_EQ(server_first_rc(false, &none, big, 9000), YB_EINVAL);
    free(big);
    ASSERT_EQ(server_first_rc(false, &none, NULL, 0), YB_EINVAL);
}

TEST(valid_client_first_variants)
{
    struct scram_cb none = {0};
    const char *u, *z;
    /* Unknown extensions after the nonce are ignored; authzid decodes. */
    struct scram_server *s = scram_server_new(SCRAM_SHA256, false);
    ASSERT_EQ(
        scram_server_client_first(s, LIT("n,a=a=2Cb=3Dc@x,n=u=2Cser,r=abc,x=1,y=2"), &none, &u, &z),
        0);
    ASSERT_STR_EQ(u, "u,ser");
    ASSERT_STR_EQ(z, "a,b=c@x");
    /* One exchange per object: a second client-first is refused. */
    ASSERT_EQ(scram_server_client_first(s, LIT("n,,n=user,r=abc"), &none, &u, &z), YB_EINVAL);
    scram_server_free(s);
    scram_server_free(NULL);
}

/* Drives a server to the final step with user "user"/"pencil" (SHA-1, fixed nonce)
 * and returns its answer to msg. */
static int
server_final_rc(const char *msg)
{
    struct scram_keys keys;
    keys_from_b64(SCRAM_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096, &keys);
    struct scram_cb none = {0};
    struct scram_server *s = scram_server_new(SCRAM_SHA1, false);
    const char *u, *z;
    if (scram_server__set_nonce(s, "3rfcNHYJY1ZVvWVs7j") != 0 ||
        scram_server_client_first(s, LIT("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), &none, &u, &z) !=
            0)
        abort();
    char *sf = scram_server_first(s, &keys);
    yb_free(sf);
    static char unchanged[] = "unchanged";
    char *fin = unchanged;
    int rc = scram_server_client_final(s, msg, strlen(msg), &fin);
    if (rc != 0 && fin != NULL)
        abort();
    yb_free(fin);
    scram_server_free(s);
    return rc;
}

#define NONCE "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
#define PROOF "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="

TEST(malformed_client_final)
{
    ASSERT_EQ(server_final_rc("c=biws,r=" NONCE ",p=" PROOF), 0);
    static const char *const einval[] = {
        "",
        "c=biws,r=" NONCE,
        "c=biws,r=" NONCE ",p=",
        "c=biws,r=" NONCE ",p=!!!!",
        "c=biws,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4T=",
        "c=biws,r=" NONCE ",p=dGVzdA==",      /* wrong length */
        "c=biws,r=" NONCE ",p=" PROOF ",x=1", /* proof not last */
        "c=biws,r=" NONCE ",p=" PROOF ",",
        "r=" NONCE ",c=biws,p=" PROOF,
        "c=biw,r=" NONCE ",p=" PROOF,
        "c=bi ws,r=" NONCE ",p=" PROOF,
        "c=biws,p=" PROOF,
        "p=" PROOF,
        "c=biws,,r=" NONCE ",p=" PROOF,
        "c=biws,r=" NONCE ",1=x,p=" PROOF,
        "c=biws,r=" NONCE ",P=" PROOF,
    };
    for (size_t i = 0; i < sizeof einval / sizeof einval[0]; i++) {
        int rc = server_final_rc(einval[i]);
        if (rc != YB_EINVAL)
            fprintf(stderr, "client-final \"%s\": %d\n", einval[i], rc);
        ASSERT_EQ(rc, YB_EINVAL);
    }
    static const char *const eauth[] = {
        "c=biws,r=" NONCE "x,p=" PROOF,                      /* wrong nonce */
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=" PROOF,        /* client part only */
        "c=eSws,r=" NONCE ",p=" PROOF,                       /* "y,," */
        "c=biwsAAAA,r=" NONCE ",p=" PROOF,                   /* extra binding data */
        "c=biws,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ss=", /* wrong proof */
        "c=biws,r=" NONCE ",x=ext,p=" PROOF,                 /* proof over another message */
    };
    for (size_t i = 0; i < sizeof eauth / sizeof eauth[0]; i++) {
        int rc = server_final_rc(eauth[i]);
        if (rc != YB_EAUTH)
            fprintf(stderr, "client-final \"%s\": %d\n", eauth[i], rc);
        ASSERT_EQ(rc, YB_EAUTH);
    }
}

TEST(state_misuse)
{
    struct scram_cb none = {0};
    char *fin = NULL;
    const char *u, *z;
    struct scram_server *s = scram_server_new(SCRAM_SHA1, false);
    ASSERT_EQ(scram_server_client_final(s, LIT("c=biws,r=x,p=" PROOF), &fin), YB_EINVAL);
    ASSERT_NULL(fin);
    scram_server_free(s);

    /* After a failed client-first, nothing else goes. */
    s = scram_server_new(SCRAM_SHA1, false);
    ASSERT_EQ(scram_server_client_first(s, LIT("bad"), &none, &u, &z), YB_EINVAL);
    ASSERT_EQ(scram_server_client_first(s, LIT("n,,n=user,r=abc"), &none, &u, &z), YB_EINVAL);
    scram_server_free(s);

    /* One final attempt only. */
    struct scram_keys keys;
    keys_from_b64(SCRAM_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096, &keys);
    s = scram_server_new(SCRAM_SHA1, false);
    ASSERT_EQ(scram_server__set_nonce(s, "3rfcNHYJY1ZVvWVs7j"), 0);
    ASSERT_EQ(
        scram_server_client_first(s, LIT("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), &none, &u, &z),
        0);
    char *sf = scram_server_first(s, &keys);
    ASSERT_NOT_NULL(sf);
    yb_free(sf);
    ASSERT_EQ(scram_server_client_final(s, LIT("c=biws,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ss="),
                                        &fin),
              YB_EAUTH);
    ASSERT_EQ(scram_server_client_final(s, LIT("c=biws,r=" NONCE ",p=" PROOF), &fin), YB_EINVAL);
    ASSERT_NULL(fin);
    scram_server_free(s);

    /* Client out of order. */
    struct scram_client *c = scram_client_new(SCRAM_SHA1, "user", "pencil", NULL, NULL, 0);
    ASSERT_NULL(scram_client_final(c, LIT("r=abc,s=QSXCR+Q6sek8bf92,i=4096")));
    ASSERT_EQ(scram_client_verify(c, LIT("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")), YB_EINVAL);
    char *cf = scram_client_first(c);
    ASSERT_NOT_NULL(cf);
    yb_free(cf);
    ASSERT_NULL(scram_client_first(c));
    ASSERT_EQ(scram_client__set_nonce(c, "abc"), YB_EINVAL);
    scram_client_free(c);
    scram_client_free(NULL);
}

/* Client: answers to a server-first message (client nonce "abc"). */
static bool
client_accepts(const char *server_first)
{
    struct scram_client *c = scram_client_new(SCRAM_SHA1, "user", "pencil", NULL, NULL, 0);
    if (c == NULL || scram_client__set_nonce(c, "abc") != 0)
        abort();
    char *cf = scram_client_first(c);
    yb_free(cf);
    char *fin = scram_client_final(c, server_first, strlen(server_first));
    bool ok = fin != NULL;
    yb_free(fin);
    scram_client_free(c);
    return ok;
}

TEST(client_checks_server_first)
{
    ASSERT_TRUE(client_accepts("r=abcdef,s=QSXCR+Q6sek8bf92,i=16"));
    ASSERT_TRUE(client_accepts("r=abcdef,s=QSXCR+Q6sek8bf92,i=16,x=ext"));
    ASSERT_FALSE(client_accepts("r=abc,s=QSXCR+Q6sek8bf92,i=16"));    /* no server part */
    ASSERT_FALSE(client_accepts("r=abXdef,s=QSXCR+Q6sek8bf92,i=16")); /* not our nonce */
    ASSERT_FALSE(client_accepts("m=x,r=abcdef,s=QSXCR+Q6sek8bf92,i=16"));
    ASSERT_FALSE(client_accepts("r=abcdef,s=QSXCR+Q6sek8bf9,i=16"));
    ASSERT_FALSE(client_accepts("r=abcdef,s=,i=16"));
    ASSERT_FALSE(client_accepts("r=abcdef,i=16"));
    ASSERT_FALSE(client_accepts("r=abcdef,s=QSXCR+Q6sek8bf92,i=0"));
    ASSERT_FALSE(client_accepts("r=abcdef,s=QSXCR+Q6sek8bf92,i=016"));
    ASSERT_FALSE(client_accepts("r=abcdef,s=QSXCR+Q6sek8bf92,i=-1"));
    ASSERT_FALSE(client_accepts("r=abcdef,s=QSXCR+Q6sek8bf92,i=999999999"));
    ASSERT_FALSE(client_accepts("r=abcdef,s=QSXCR+Q6sek8bf92,i="));
    ASSERT_FALSE(client_accepts("r=abcdef,s=QSXCR+Q6sek8bf92"));
    ASSERT_FALSE(client_accepts("e=other-error"));
    ASSERT_FALSE(client_accepts(""));
}

TEST(client_verify)
{
    static const char *const cases[][2] = {
        {"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", "0"},
        {"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,x=1", "0"},
        {"v=rmF9pqV8S7suAoZWja4dJRkFsKM=", "auth"},
        {"v=rmF9pqV8S7suAoZWja4dJRkFsKq=", "inval"}, /* not canonical base64 */
        {"e=invalid-proof", "auth"},
        {"v=rmF9pqV8S7suAoZWja4dJRkFsK==", "inval"},
        {"v=", "inval"},
        {"x=1", "inval"},
        {"", "inval"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct scram_client *c = scram_client_new(SCRAM_SHA1, "user", "pencil", NULL, NULL, 0);
        ASSERT_EQ(scram_client__set_nonce(c, "fyko+d2lbbFgONRv9qkxdawL"), 0);
        char *m = scram_client_first(c);
        yb_free(m);
        m = scram_client_final(
            c, LIT("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"));
        ASSERT_NOT_NULL(m);
        yb_free(m);
        int want = cases[i][1][0] == '0' ? 0 : cases[i][1][0] == 'a' ? YB_EAUTH : YB_EINVAL;
        ASSERT_EQ(scram_client_verify(c, LIT(cases[i][0])), want);
        scram_client_free(c);
    }
}

TEST(client_new_args)
{
    ASSERT_NULL(scram_client_new(SCRAM_SHA1, NULL, "pw", NULL, NULL, 0));
    ASSERT_NULL(scram_client_new(SCRAM_SHA1, "u", NULL, NULL, NULL, 0));
    ASSERT_NULL(scram_client_new(SCRAM_SHA1, "u", "pw", "bad name", exporter, 32));
    ASSERT_NULL(scram_client_new(SCRAM_SHA1, "u", "pw", "", exporter, 32));
    ASSERT_NULL(scram_client_new(SCRAM_SHA1, "u", "pw", "tls-exporter", NULL, 32));
    ASSERT_NULL(scram_client_new((enum scram_hash)7, "u", "pw", NULL, NULL, 0));
    ASSERT_NULL(scram_server_new((enum scram_hash)7, false));
    struct scram_client *c = scram_client_new(SCRAM_SHA1, "u", "pw", "tls-exporter", exporter, 32);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(scram_client__set_flag_y(c), YB_EINVAL);
    char *m = scram_client_first(c);
    ASSERT_TRUE(strncmp(m, "p=tls-exporter,,n=u,r=", 22) == 0);
    yb_free(m);
    scram_client_free(c);
}

TEST(oom)
{
    /* Every allocation failure anywhere in an exchange fails it cleanly. */
    struct scram_cb tls13 = {exporter, 32, end_point, 32, NULL, 0, true};
    struct scram_keys k;
    ASSERT_EQ(scram_keys_generate(SCRAM_SHA256, "pencil", 16, &k), 0);
    bool completed = false;
    for (long n = 0; n < 200 && !completed; n++) {
        yb_alloc_fail_after(n);
        struct run r = exchange(SCRAM_SHA256, true, &tls13, &k, "user", "pencil", "tls-exporter",
                                exporter, 32, false);
        yb_alloc_fail_after(-1);
        completed = r.stage == ST_OK;
        /* base64_decode() cannot tell OOM from bad input: EINVAL is fine too. */
        if (!completed && (r.stage == ST_SERVER_FINAL || r.stage == ST_SERVER_FIRST_MSG))
            ASSERT_TRUE(r.rc == YB_ENOMEM || r.rc == YB_EINVAL);
    }
    ASSERT_TRUE(completed);
    for (long n = 0; n < 20; n++) {
        yb_alloc_fail_after(n);
        struct scram_keys k2;
        int rc = scram_keys_derive(SCRAM_SHA1, "pw", k.salt, 16, 4, &k2);
        yb_alloc_fail_after(-1);
        ASSERT_TRUE(rc == 0 || rc == YB_ENOMEM);
    }
}

TEST_MAIN(TEST_CASE(rfc5802_sha1), TEST_CASE(rfc7677_sha256), TEST_CASE(hash_info), TEST_CASE(keys),
          TEST_CASE(round_trip_all_hashes), TEST_CASE(tls_unique), TEST_CASE(user_names),
          TEST_CASE(channel_binding_rules), TEST_CASE(unknown_user_salt), TEST_CASE(server_nonce),
          TEST_CASE(malformed_client_first), TEST_CASE(valid_client_first_variants),
          TEST_CASE(malformed_client_final), TEST_CASE(state_misuse),
          TEST_CASE(client_checks_server_first), TEST_CASE(client_verify),
          TEST_CASE(client_new_args), TEST_CASE(oom))
