/* SPDX-License-Identifier: MIT
 *
 * test_jid.c: JID parsing and normalisation (RFC 7622 §3, RFC 3920 stringprep
 * profiles): valid and invalid forms, limits, case folding, Unicode, IP literals,
 * and allocation failures.
 */
#include "test.h"

#include "alloc.h"
#include "jid.h"

/* Checks that s parses to the expected normalised full JID. */
#define ASSERT_JID(s, expected)                                                                    \
    do {                                                                                           \
        char *n_ = jid_normalize(s);                                                               \
        if (n_ == NULL)                                                                            \
            TEST__FAIL("jid_normalize(\"%s\") failed, expected \"%s\"", s, expected);              \
        int eq_ = strcmp(n_, expected) == 0;                                                       \
        if (!eq_)                                                                                  \
            fprintf(stderr, "jid_normalize(\"%s\") = \"%s\"\n", s, n_);                            \
        yb_free(n_);                                                                               \
        ASSERT_TRUE(eq_);                                                                          \
    } while (0)

#define ASSERT_BAD_JID(s)                                                                          \
    do {                                                                                           \
        struct jid *j_ = jid_new(s);                                                               \
        if (j_ != NULL) {                                                                          \
            fprintf(stderr, "accepted \"%s\" as \"%s\"\n", s, j_->full);                           \
            jid_free(j_);                                                                          \
            TEST__FAIL("expected invalid JID");                                                    \
        }                                                                                          \
    } while (0)

static char *
repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

TEST(parts)
{
    struct jid *j = jid_new("juliet@example.com/balcony");
    ASSERT_NOT_NULL(j);
    ASSERT_STR_EQ(j->node, "juliet");
    ASSERT_STR_EQ(j->domain, "example.com");
    ASSERT_STR_EQ(j->resource, "balcony");
    ASSERT_STR_EQ(j->bare, "juliet@example.com");
    ASSERT_STR_EQ(j->full, "juliet@example.com/balcony");
    jid_free(j);

    j = jid_new("example.com");
    ASSERT_NOT_NULL(j);
    ASSERT_NULL(j->node);
    ASSERT_NULL(j->resource);
    ASSERT_STR_EQ(j->domain, "example.com");
    ASSERT_STR_EQ(j->bare, "example.com");
    ASSERT_STR_EQ(j->full, "example.com");
    jid_free(j);

    j = jid_new("example.com/res");
    ASSERT_NOT_NULL(j);
    ASSERT_NULL(j->node);
    ASSERT_STR_EQ(j->resource, "res");
    ASSERT_STR_EQ(j->bare, "example.com");
    ASSERT_STR_EQ(j->full, "example.com/res");
    jid_free(j);

    j = jid_new("romeo@montague.lit");
    ASSERT_NOT_NULL(j);
    ASSERT_STR_EQ(j->node, "romeo");
    ASSERT_NULL(j->resource);
    ASSERT_STR_EQ(j->bare, "romeo@montague.lit");
    ASSERT_STR_EQ(j->full, "romeo@montague.lit");
    jid_free(j);
    jid_free(NULL);
}

TEST(separators)
{
    /* RFC 7622 §3.1: resource from the first '/', node up to the first '@' before. */
    ASSERT_JID("a@b/c/d", "a@b/c/d");
    ASSERT_JID("a@b/c@d", "a@b/c@d");
    ASSERT_JID("b/c@d", "b/c@d");
    ASSERT_JID("a@b/@", "a@b/@");
    ASSERT_JID("a@b/ with spaces ", "a@b/ with spaces ");
    ASSERT_BAD_JID("a@b@c");
    ASSERT_BAD_JID("@d");
    ASSERT_BAD_JID("d/");
    ASSERT_BAD_JID("a@");
    ASSERT_BAD_JID("a@/r");
    ASSERT_BAD_JID("a@d/");
    ASSERT_BAD_JID("@d/r");
    ASSERT_BAD_JID("");
    ASSERT_BAD_JID("/r");
    ASSERT_BAD_JID("@");
    ASSERT_BAD_JID("/");
    ASSERT_NULL(jid_new(NULL));
}

TEST(domain)
{
    ASSERT_JID("Example.COM", "example.com");
    ASSERT_JID("example.com.", "example.com");
    ASSERT_JID("a@example.com./r", "a@example.com/r");
    ASSERT_JID("localhost", "localhost");
    ASSERT_JID("my_component.example", "my_component.example");
    ASSERT_JID("xn--bcher-kva.example", "xn--bcher-kva.example");
    ASSERT_JID("B\xC3\x9C"
               "CHER.example",
               "b\xC3\xBC"
               "cher.example"); /* BÜCHER */
    ASSERT_BAD_JID("example.com..");
    ASSERT_BAD_JID(".");
    ASSERT_BAD_JID(".example.com");
    ASSERT_BAD_JID("example..com");
    ASSERT_BAD_JID("exa mple.com");
    ASSERT_BAD_JID("a@exa mple.com");
    ASSERT_BAD_JID("exa<mple.com");
    ASSERT_BAD_JID("exa\tmple.com");
    ASSERT_BAD_JID("exa:mple.com");
    /* Fullwidth '@' becomes '@' under NFKC: must not create a second separator. */
    ASSERT_BAD_JID("a@b\xEF\xBC\xA0"
                   "c");
    /* A label of 63 bytes is fine, 64 is not. */
    char *l63 = repeat('a', 63), *l64 = repeat('a', 64);
    char buf[200];
    snprintf(buf, sizeof buf, "%s.example", l63);
    ASSERT_JID(buf, buf);
    snprintf(buf, sizeof buf, "%s.example", l64);
    ASSERT_BAD_JID(buf);
    free(l63);
    free(l64);
}

TEST(ip_literals)
{
    ASSERT_JID("[::1]", "[::1]");
    ASSERT_JID("u@[2001:DB8::1]/r", "u@[2001:db8::1]/r");
    ASSERT_JID("127.0.0.1", "127.0.0.1");
    ASSERT_JID("u@192.168.0.1/x", "u@192.168.0.1/x");
    ASSERT_JID("192.168.0.1.", "192.168.0.1");
    ASSERT_BAD_JID("[::1");
    ASSERT_BAD_JID("[]");
    ASSERT_BAD_JID("[:::1]");
    ASSERT_BAD_JID("[example.com]");
    ASSERT_BAD_JID("[::1]x");
    ASSERT_BAD_JID("[v1.fe]");
    ASSERT_BAD_JID("256.1.1.1");
    ASSERT_BAD_JID("1.2.3");
    ASSERT_BAD_JID("1.2.3.4.5");
    ASSERT_BAD_JID("123");
    /* Found by fuzz_jid: Nameprep turns superscript one into "1", which must then be
     * judged as an IPv4 address, or the result would not parse again. */
    ASSERT_BAD_JID("\xC2\xB9");
    ASSERT_JID("\xC2\xB9"
               "27.0.0.1",
               "127.0.0.1");
}

TEST(node_prohibited)
{
    /* RFC 3920 Appendix A.5: " & ' / : < > @ and space are not allowed in a node. */
    const char *bad[] = {"a\"b@d",      "a&b@d",           "a'b@d",
                         "a:b@d",       "a<b@d",           "a>b@d",
                         "a b@d",       "a\xC2\xA0\x62@d", /* no-break space */
                         "a\x7f\x62@d", "a\x01\x62@d",     "a\xEF\xBF\xBE\x62@d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_BAD_JID(bad[i]);
    /* '/' and '@' cannot reach a node through parsing, but through the parts. */
    ASSERT_NULL(jid_from_parts("a/b", "d", NULL));
    ASSERT_NULL(jid_from_parts("a@b", "d", NULL));
    char *p = jid_nodeprep("a/b");
    ASSERT_NULL(p);
    p = jid_nodeprep("a\xEF\xBC\xA0"); /* fullwidth '@' */
    ASSERT_NULL(p);
    /* Allowed elsewhere: the resource takes all of them but controls. */
    ASSERT_JID("a@d/\"&'/:<>@ x", "a@d/\"&'/:<>@ x");
    ASSERT_BAD_JID("a@d/x\x01");
    ASSERT_BAD_JID("a@d/x\x7f");
}

TEST(case_and_unicode)
{
    ASSERT_JID("JULIET@Example.COM/Balcony", "juliet@example.com/Balcony");
    /* Fullwidth letters fold to ASCII under NFKC (node and domain). */
    ASSERT_JID("\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3@example.com", "abc@example.com");
    ASSERT_JID("u@\xEF\xBD\x85xample.com", "u@example.com");
    /* Resources keep case but are NFKC-normalised: fullwidth A becomes A. */
    ASSERT_JID("u@d/\xEF\xBC\xA1", "u@d/A");
    /* U+00DF (sharp s) case-folds to "ss" in nodes. */
    ASSERT_JID("stra\xC3\x9F"
               "e@d",
               "strasse@d");
    /* Combining sequence: e + U+0301 composes to U+00E9. */
    ASSERT_JID("caf"
               "e\xCC\x81"
               "@d",
               "caf\xC3\xA9@d");
    /* Soft hyphen maps to nothing: "a<SHY>b" is "ab", a node of only it is empty. */
    ASSERT_JID("a\xC2\xAD"
               "b@d",
               "ab@d");
    ASSERT_BAD_JID("\xC2\xAD@d");
    ASSERT_BAD_JID("u@d/\xC2\xAD");
    /* Emoji (unassigned in Unicode 3.2) are accepted as queries. */
    ASSERT_JID("u@d/\xF0\x9F\x98\x80", "u@d/\xF0\x9F\x98\x80");
    /* Bidi: RandALCat and LCat mixed in one part is prohibited (RFC 3454 §6). */
    ASSERT_BAD_JID("a\xD7\x90@d");
    ASSERT_JID("\xD7\x90\xD7\x91@d", "\xD7\x90\xD7\x91@d");
}

TEST(bad_utf8)
{
    ASSERT_BAD_JID("\xff@d");
    ASSERT_BAD_JID("u@d/\xc0\x80");     /* overlong NUL */
    ASSERT_BAD_JID("u@d/\xed\xa0\x80"); /* surrogate */
    ASSERT_BAD_JID("u@d/\xf4\x90\x80\x80");
    ASSERT_BAD_JID("u@d/\xe2\x82");
    ASSERT_BAD_JID("u@\xc3");
}

TEST(length_limits)
{
    char *p1023 = repeat('a', 1023), *p1024 = repeat('a', 1024);
    char *buf = malloc(4000);

    snprintf(buf, 4000, "%s@d", p1023);
    struct jid *j = jid_new(buf);
    ASSERT_NOT_NULL(j);
    ASSERT_EQ(strlen(j->node), 1023);
    jid_free(j);
    snprintf(buf, 4000, "%s@d", p1024);
    ASSERT_BAD_JID(buf);

    snprintf(buf, 4000, "u@d/%s", p1023);
    j = jid_new(buf);
    ASSERT_NOT_NULL(j);
    ASSERT_EQ(strlen(j->resource), 1023);
    jid_free(j);
    snprintf(buf, 4000, "u@d/%s", p1024);
    ASSERT_BAD_JID(buf);

    /* Domain: 1023 bytes made of 63-byte labels. */
    size_t o = 0;
    while (o < 1023 - 64) {
        memset(buf + o, 'b', 63);
        o += 63;
        buf[o++] = '.';
    }
    while (o < 1023)
        buf[o++] = 'c';
    buf[o] = '\0';
    j = jid_new(buf);
    ASSERT_NOT_NULL(j);
    ASSERT_EQ(strlen(j->domain), 1023);
    jid_free(j);
    /* With one more byte, before and after the final-dot rule. */
    buf[o++] = 'c';
    buf[o] = '\0';
    ASSERT_BAD_JID(buf);
    buf[o - 1] = '.';
    j = jid_new(buf);
    ASSERT_NOT_NULL(j);
    ASSERT_EQ(strlen(j->domain), 1023);
    jid_free(j);

    /* The limit is on the prepared form: 1023 fullwidth letters (3 bytes each)
     * become 1023 ASCII bytes. */
    char *wide = malloc(1023 * 3 + 8);
    for (size_t i = 0; i < 1023; i++)
        memcpy(wide + 3 * i, "\xEF\xBC\xA1", 3);
    memcpy(wide + 1023 * 3, "@d", 3);
    j = jid_new(wide);
    ASSERT_NOT_NULL(j);
    ASSERT_EQ(strlen(j->node), 1023);
    jid_free(j);

    /* Expansion past the limit: 512 sharp s become 1024 bytes of "ss". */
    for (size_t i = 0; i < 512; i++)
        memcpy(wide + 2 * i, "\xC3\x9F", 2);
    memcpy(wide + 1024, "@d", 3);
    ASSERT_BAD_JID(wide);

    free(wide);
    free(buf);
    free(p1023);
    free(p1024);
}

TEST(from_parts)
{
    struct jid *j = jid_from_parts("Juliet", "EXAMPLE.com.", "Balcony");
    ASSERT_NOT_NULL(j);
    ASSERT_STR_EQ(j->full, "juliet@example.com/Balcony");
    jid_free(j);
    j = jid_from_parts(NULL, "example.com", NULL);
    ASSERT_NOT_NULL(j);
    ASSERT_STR_EQ(j->full, "example.com");
    jid_free(j);
    j = jid_from_parts(NULL, "example.com", "a/b@c");
    ASSERT_NOT_NULL(j);
    ASSERT_STR_EQ(j->full, "example.com/a/b@c");
    ASSERT_STR_EQ(j->resource, "a/b@c");
    jid_free(j);
    ASSERT_NULL(jid_from_parts("a@b", "example.com", NULL));
    ASSERT_NULL(jid_from_parts("a", "x@example.com", NULL));
    ASSERT_NULL(jid_from_parts("a", "example.com/r", NULL));
    ASSERT_NULL(jid_from_parts("", "example.com", NULL));
    ASSERT_NULL(jid_from_parts("a", "", NULL));
    ASSERT_NULL(jid_from_parts("a", NULL, NULL));
    ASSERT_NULL(jid_from_parts("a", "example.com", ""));
}

TEST(dup_equal_helpers)
{
    struct jid *a = jid_new("A@B/C");
    struct jid *b = jid_new("a@b/C");
    struct jid *c = jid_new("a@b/c");
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    ASSERT_NOT_NULL(c);
    ASSERT_TRUE(jid_equal(a, b));
    ASSERT_FALSE(jid_equal(a, c));
    ASSERT_FALSE(jid_equal(a, NULL));
    ASSERT_TRUE(jid_equal(NULL, NULL));
    struct jid *d = jid_dup(a);
    ASSERT_NOT_NULL(d);
    ASSERT_TRUE(jid_equal(a, d));
    ASSERT_STR_EQ(d->node, "a");
    ASSERT_STR_EQ(d->bare, "a@b");
    ASSERT_TRUE(d->full != a->full);
    jid_free(a);
    jid_free(b);
    jid_free(c);
    jid_free(d);
    ASSERT_NULL(jid_dup(NULL));

    char *s = jid_bare_of("User@Example.com/Phone");
    ASSERT_STR_EQ(s, "user@example.com");
    yb_free(s);
    ASSERT_NULL(jid_bare_of("@bad"));
    ASSERT_NULL(jid_normalize("bad/"));

    s = jid_nodeprep("ÄBC");
    ASSERT_STR_EQ(s, "äbc");
    yb_free(s);
    ASSERT_NULL(jid_nodeprep("a@b"));
    ASSERT_NULL(jid_nodeprep(""));
    s = jid_nameprep("Example.ORG.");
    ASSERT_STR_EQ(s, "example.org");
    yb_free(s);
    ASSERT_NULL(jid_nameprep("a b"));
    ASSERT_NULL(jid_nameprep(""));
    s = jid_resourceprep("My Phone");
    ASSERT_STR_EQ(s, "My Phone");
    yb_free(s);
    ASSERT_NULL(jid_resourceprep(""));
    ASSERT_NULL(jid_nodeprep(NULL));
}

TEST(idempotent)
{
    const char *in[] = {"JULIET@Example.COM/Balcony", "\xEF\xBC\xA1@d/\xEF\xBC\xA1",
                        "stra\xC3\x9F\x65@[::1]/x", "a@b/c/d@e"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        struct jid *j = jid_new(in[i]);
        ASSERT_NOT_NULL(j);
        struct jid *k = jid_new(j->full);
        ASSERT_NOT_NULL(k);
        ASSERT_TRUE(jid_equal(j, k));
        jid_free(j);
        jid_free(k);
    }
}

TEST(oom)
{
    /* Every allocation failure gives NULL, never a crash or a leak. */
    for (long n = 0; n < 10; n++) {
        yb_alloc_fail_after(n);
        struct jid *j = jid_new("user@example.com/res");
        struct jid *d = j ? jid_dup(j) : NULL;
        yb_alloc_fail_after(-1);
        jid_free(d);
        jid_free(j);
    }
    yb_alloc_fail_after(-1);
}

TEST_MAIN(TEST_CASE(parts), TEST_CASE(separators), TEST_CASE(domain), TEST_CASE(ip_literals),
          TEST_CASE(node_prohibited), TEST_CASE(case_and_unicode), TEST_CASE(bad_utf8),
          TEST_CASE(length_limits), TEST_CASE(from_parts), TEST_CASE(dup_equal_helpers),
          TEST_CASE(idempotent), TEST_CASE(oom))
