/* SPDX-License-Identifier: MIT
 *
 * test_parser.c: the stream parser and stanza_parse() (src/xml/parser.c): events,
 * namespaces, input split anywhere, restricted XML, limits, keepalives, stream end,
 * suspend/resume, reset, memory kept between stanzas, and allocation failures.
 */
#include <stdbool.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "internal.h"
#include "parser.h"
#include "test.h"

/* Records every event as text, so that runs can be compared. */
struct rec {
    struct buf log;
    struct parser *p;
    int n_stanzas;
    int n_errors;
    int suspend_after; /* suspend in the n-th stanza callback (1-based), 0: never */
    bool suspend_on_open;
    enum parser_error last_error;
    bool oom; /* a log append failed */
};

static void
rec_puts(struct rec *r, const char *s)
{
    if (buf_puts(&r->log, s) != 0)
        r->oom = true;
}

static void
on_open(void *ud, const struct xml_node *hdr, const char *content_ns)
{
    struct rec *r = ud;
    rec_puts(r, "open(");
    rec_puts(r, hdr->name);
    rec_puts(r, " ");
    rec_puts(r, hdr->ns);
    rec_puts(r, " ");
    rec_puts(r, content_ns);
    for (const struct xml_attr *a = hdr->attrs; a != NULL; a = a->next) {
        rec_puts(r, " ");
        rec_puts(r, a->name);
        rec_puts(r, "=");
        rec_puts(r, a->value);
    }
    rec_puts(r, ")\n");
    if (r->suspend_on_open)
        parser_suspend(r->p);
}

static void
on_stanza(void *ud, struct stanza *st)
{
    struct rec *r = ud;
    char *s = stanza_to_string(st);
    if (s == NULL) {
        r->oom = true;
    } else {
        rec_puts(r, s);
        rec_puts(r, "\n");
    }
    yb_free(s);
    stanza_unref(st);
    if (++r->n_stanzas == r->suspend_after)
        parser_suspend(r->p);
}

static void
on_close(void *ud)
{
    rec_puts(ud, "close\n");
}

static const char *const err_names[] = {
    "not-well-formed", "restricted-xml", "policy", "bad-format", "nomem", "unsupported-encoding"};

static void
on_error(void *ud, enum parser_error err, const char *detail)
{
    struct rec *r = ud;
    (void)detail;
    r->n_errors++;
    r->last_error = err;
    rec_puts(r, "error(");
    rec_puts(r, err_names[err]);
    rec_puts(r, ")\n");
}

static const struct parser_callbacks cbs = {on_open, on_stanza, on_close, on_error};

static struct parser *
rec_init(struct rec *r, const struct parser_limits *limits)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->log);
    r->p = parser_new(limits, &cbs, r);
    return r->p;
}

static void
rec_fini(struct rec *r)
{
    parser_free(r->p);
    buf_fini(&r->log);
}

static const char *
rec_log(struct rec *r)
{
    return r->log.data != NULL ? r->log.data : "";
}

/* Parses in with a fresh parser, fed in pieces of `step` bytes (0: all at once);
 * returns the log in a new string. */
static char *
run(const char *in, size_t len, size_t step, const struct parser_limits *limits)
{
    struct rec r;
    if (rec_init(&r, limits) == NULL)
        return NULL;
    if (step == 0)
        step = len ? len : 1;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        if (parser_feed(r.p, in + off, n) == PARSER_FAILED)
            break;
    }
    char *s = yb_strdup(rec_log(&r));
    rec_fini(&r);
    return s;
}

static char *
run_str(const char *in, size_t step)
{
    return run(in, strlen(in), step, NULL);
}

#define HDR                                                                                        \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                                   \
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' "              \
    "xml:lang='en'>"
#define HDR_LOG                                                                                    \
    "open(stream http://etherx.jabber.org/streams jabber:client to=example.com version=1.0 "       \
    "xml:lang=en)\n"

static const char stream1[] =
    HDR "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
        "</starttls></stream:features>\n  \t\r\n"
        "<message to='juliet@example.com' type='chat' id='m&amp;1'><body>caf\xc3\xa9 &lt;&#x263A;"
        "&gt;</body><x xmlns='urn:x' xmlns:a='urn:a' a:b='c' xml:lang='fr'/>\r\n</message> "
        "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq></stream:stream>";

#define STREAM1_LOG                                                                                \
    HDR_LOG "<features xmlns='http://etherx.jabber.org/streams'><starttls "                        \
            "xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></features>\n"          \
            "<message xmlns='jabber:client' to='juliet@example.com' type='chat' id='m&amp;1'>"     \
            "<body>caf\xc3\xa9 &lt;\xe2\x98\xba&gt;</body><x xmlns='urn:x' xmlns:ns0='urn:a' "     \
            "ns0:b='c' xml:lang='fr'/>\n</message>\n"                                              \
            "<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>\n"     \
            "close\n"
static const char stream1_log[] = STREAM1_LOG;

TEST(stream_events)
{
    char *s = run_str(stream1, 0);
    ASSERT_STR_EQ(s, stream1_log);
    yb_free(s);
}

static void
keep_stanza(void *ud, struct stanza *st)
{
    struct stanza **slot = ud;
    stanza_unref(*slot);
    *slot = st;
}

TEST(stanza_tree_from_stream)
{
    struct stanza *got = NULL;
    struct parser_callbacks cb = {NULL, keep_stanza, NULL, NULL};
    struct parser *p = parser_new(NULL, &cb, &got);
    ASSERT_NOT_NULL(p);
    const char *in = HDR "<message xml:lang='de' xmlns:a='urn:a' a:x='1'><body>x</body>"
                         "<stream:error/><a:y/></message>";
    ASSERT_EQ(parser_feed(p, in, strlen(in)), PARSER_OK);
    parser_free(p);
    ASSERT_NOT_NULL(got);
    ASSERT_STR_EQ(stanza_name(got), "message");
    ASSERT_STR_EQ(stanza_ns(got), "jabber:client");
    ASSERT_STR_EQ(stanza_attr(got, "xml:lang"), "de");
    ASSERT_STR_EQ(stanza_attr(got, "{urn:a}x"), "1");
    ASSERT_NULL(stanza_attr(got, "xmlns:a"));
    struct xml_node *body = stanza_child(got, "body", "jabber:client");
    ASSERT_NOT_NULL(body);
    ASSERT_STR_EQ(node_text(body), "x");
    ASSERT_NOT_NULL(stanza_child(got, "error", NS_STREAMS));
    ASSERT_NOT_NULL(stanza_child(got, "y", "urn:a"));
    ASSERT_FALSE(stanza_is_shared(got));
    stanza_unref(got);

    /* stanza_parse gives the same tree for one element. */
    const char *one = "<message xmlns='jabber:client' xml:lang='de'><body>x</body></message>";
    struct stanza *st = stanza_parse(one, strlen(one));
    ASSERT_NOT_NULL(st);
    ASSERT_STR_EQ(stanza_ns(st), "jabber:client");
    ASSERT_STR_EQ(stanza_attr(st, "xml:lang"), "de");
    ASSERT_STR_EQ(stanza_child(st, "body", "jabber:client")->ns, "jabber:client");
    stanza_unref(st);
}

TEST(every_split_gives_the_same_events)
{
    size_t len = strlen(stream1);
    char *one = run(stream1, len, 1, NULL);
    ASSERT_STR_EQ(one, stream1_log);
    yb_free(one);
    for (size_t cut = 1; cut < len; cut++) {
        struct rec r;
        ASSERT_NOT_NULL(rec_init(&r, NULL));
        parser_feed(r.p, stream1, cut);
        parser_feed(r.p, stream1 + cut, len - cut);
        if (strcmp(rec_log(&r), stream1_log) != 0) {
            fprintf(stderr, "cut at %zu:\n%s", cut, rec_log(&r));
            rec_fini(&r);
            ASSERT_TRUE(false);
        }
        rec_fini(&r);
    }
    for (size_t step = 2; step < 40; step++) {
        char *s = run(stream1, len, step, NULL);
        ASSERT_STR_EQ(s, stream1_log);
        yb_free(s);
    }
}

TEST(events_arrive_as_soon_as_complete)
{
    /* The stanza is reported when its last byte arrives, not when more data comes. */
    struct rec r;
    ASSERT_NOT_NULL(rec_init(&r, NULL));
    const char *in = HDR "<presence/>";
    size_t len = strlen(in);
    for (size_t i = 0; i < len; i++)
        ASSERT_EQ(parser_feed(r.p, in + i, 1), PARSER_OK);
    ASSERT_STR_EQ(rec_log(&r), HDR_LOG "<presence xmlns='jabber:client'/>\n");
    /* A long attribute value trickling in must not delay the stanza either. */
    char big[6000];
    memset(big, 'v', sizeof big);
    ASSERT_EQ(parser_feed(r.p, "<presence id='", 14), PARSER_OK);
    for (size_t i = 0; i < sizeof big; i += 1000)
        ASSERT_EQ(parser_feed(r.p, big + i, 1000), PARSER_OK);
    ASSERT_EQ(parser_feed(r.p, "'/", 2), PARSER_OK);
    ASSERT_EQ(r.n_stanzas, 1);
    ASSERT_EQ(parser_feed(r.p, ">", 1), PARSER_OK);
    ASSERT_EQ(r.n_stanzas, 2);
    rec_fini(&r);
}

TEST(header_variants)
{
    char *s = run_str("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                      "xmlns='jabber:server' xmlns:db='jabber:server:dialback'>"
                      "<db:result from='a' to='b'>key</db:result>",
                      0);
    ASSERT_STR_EQ(s, "open(stream http://etherx.jabber.org/streams jabber:server)\n"
                     "<result xmlns='jabber:server:dialback' from='a' to='b'>key</result>\n");
    yb_free(s);
    /* Any root is reported; the core checks its name and namespace. */
    s = run_str("<foo><bar/></foo>", 0);
    ASSERT_STR_EQ(s, "open(foo  )\n<bar/>\nclose\n");
    yb_free(s);
    /* An unprefixed stream element in the streams namespace. */
    s = run_str("<stream xmlns='http://etherx.jabber.org/streams'><features/></stream>", 0);
    ASSERT_STR_EQ(s, "open(stream http://etherx.jabber.org/streams "
                     "http://etherx.jabber.org/streams)\n"
                     "<features xmlns='http://etherx.jabber.org/streams'/>\nclose\n");
    yb_free(s);
    /* A self-closed header: open then close. */
    s = run_str("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>", 0);
    ASSERT_STR_EQ(s, "open(stream http://etherx.jabber.org/streams )\nclose\n");
    yb_free(s);
}

TEST(keepalives_and_stream_text)
{
    char *s = run_str(HDR " \n\t \r\n <presence/>\n\n \n", 1);
    ASSERT_STR_EQ(s, HDR_LOG "<presence xmlns='jabber:client'/>\n");
    yb_free(s);
    /* Non-whitespace at stream level: bad-format (parser.h), no later events. */
    s = run_str(HDR " x <presence/>", 0);
    ASSERT_STR_EQ(s, HDR_LOG "error(bad-format)\n");
    yb_free(s);
    s = run_str(HDR "&amp;", 0);
    ASSERT_STR_EQ(s, HDR_LOG "error(bad-format)\n");
    yb_free(s);
}

TEST(stream_close)
{
    struct rec r;
    ASSERT_NOT_NULL(rec_init(&r, NULL));
    const char *in = HDR "<presence/></stream:stream>";
    ASSERT_EQ(parser_feed(r.p, in, strlen(in)), PARSER_OK);
    /* Whatever follows the end is ignored, even junk. */
    ASSERT_EQ(parser_feed(r.p, "<presence/>junk<!-- -->", 23), PARSER_OK);
    ASSERT_STR_EQ(rec_log(&r), HDR_LOG "<presence xmlns='jabber:client'/>\nclose\n");
    rec_fini(&r);

    /* A close that does not match the open tag is not well-formed. */
    char *s = run_str(HDR "</stream>", 0);
    ASSERT_STR_EQ(s, HDR_LOG "error(not-well-formed)\n");
    yb_free(s);
}

static void
expect_error(const char *in, const char *want_log)
{
    for (size_t step = 0; step < 3; step++) {
        char *s = run_str(in, step);
        if (s == NULL || strcmp(s, want_log) != 0) {
            fprintf(stderr, "input: %s\nstep %zu: got:\n%swant:\n%s", in, step, s ? s : "(null)",
                    want_log);
            test__failed = 1;
        }
        yb_free(s);
    }
}

TEST(restricted_xml)
{
    expect_error("<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY x 'y'>]><stream/>",
                 "error(restricted-xml)\n");
    expect_error("<!DOCTYPE stream SYSTEM 'file:///etc/passwd'><stream/>",
                 "error(restricted-xml)\n");
    expect_error("<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;'>]>"
                 "<lolz>&lol2;</lolz>",
                 "error(restricted-xml)\n");
    expect_error("<?php echo 1; ?><stream/>", "error(restricted-xml)\n");
    expect_error(HDR "<?foo bar?>", HDR_LOG "error(restricted-xml)\n");
    expect_error(HDR "<message><?foo bar?></message>", HDR_LOG "error(restricted-xml)\n");
    expect_error("<!-- hi --><stream/>", "error(restricted-xml)\n");
    expect_error(HDR "<message><!-- hi --></message>", HDR_LOG "error(restricted-xml)\n");
    expect_error(HDR "<message><body>&foo;</body></message>", HDR_LOG "error(restricted-xml)\n");
    expect_error(HDR "<message id='&foo;'/>", HDR_LOG "error(restricted-xml)\n");
    /* An XML declaration elsewhere than at the start is not well-formed. */
    expect_error(HDR "<?xml version='1.0'?>", HDR_LOG "error(not-well-formed)\n");
    /* The predefined entities and character references are fine, CDATA too. */
    char *s = run_str(HDR "<m a='&lt;&gt;&amp;&apos;&quot;&#65;'>&#x41;<![CDATA[<&>]]></m>", 1);
    ASSERT_STR_EQ(s, HDR_LOG "<m xmlns='jabber:client' a='&lt;&gt;&amp;&apos;&quot;A'>A&lt;&amp;"
                             "&gt;</m>\n");
    yb_free(s);
}

TEST(encoding_must_be_utf8)
{
    /* RFC 6120 §11.6 */
    expect_error("<?xml version='1.0' encoding='ISO-8859-1'?><stream/>",
                 "error(unsupported-encoding)\n");
    char *s = run_str("<?xml version='1.0' encoding='utf-8'?><s>", 1);
    ASSERT_STR_EQ(s, "open(s  )\n");
    yb_free(s);
}

TEST(not_well_formed)
{
    expect_error(HDR "<a></b>", HDR_LOG "error(not-well-formed)\n");
    expect_error(HDR "<a b='1' b='2'/>", HDR_LOG "error(not-well-formed)\n");
    expect_error(HDR "<p:a/>", HDR_LOG "error(not-well-formed)\n");
    expect_error(HDR "<a>\xff\xfe</a>", HDR_LOG "error(not-well-formed)\n");
    expect_error(HDR "<a>\xc3</a>", HDR_LOG "error(not-well-formed)\n");
    expect_error(HDR "<a>\x01</a>", HDR_LOG "error(not-well-formed)\n");
    expect_error("junk junk", "error(not-well-formed)\n");
    expect_error("<a xmlns:p='urn:p' xmlns:q='urn:p'><b p:x='1' q:x='2'/></a>",
                 "open(a  )\nerror(not-well-formed)\n");
    /* Bytes that are not UTF-8 are refused whatever the declaration says. */
    expect_error("<?xml version='1.0'?><s><a>\xe9</a></s>", "open(s  )\nerror(not-well-formed)\n");
}

TEST(errors_are_final)
{
    struct rec r;
    ASSERT_NOT_NULL(rec_init(&r, NULL));
    const char *in = HDR "<a></b><presence/>";
    ASSERT_EQ(parser_feed(r.p, in, strlen(in)), PARSER_FAILED);
    ASSERT_EQ(parser_feed(r.p, "<presence/>", 11), PARSER_FAILED);
    ASSERT_EQ(parser_resume(r.p), PARSER_FAILED);
    ASSERT_EQ(r.n_errors, 1);
    ASSERT_EQ(r.n_stanzas, 0);
    ASSERT_EQ(parser_reset(r.p), 0);
    in = HDR "<presence/>";
    ASSERT_EQ(parser_feed(r.p, in, strlen(in)), PARSER_OK);
    ASSERT_EQ(r.n_stanzas, 1);
    rec_fini(&r);
}

static struct parser_limits
small_limits(void)
{
    struct parser_limits l;
    parser_limits_default(&l);
    l.max_stanza_bytes = 1000;
    l.max_header_bytes = 400;
    l.max_depth = 5;
    l.max_attrs = 5; /* HDR has 5 */
    return l;
}

static char *
run_limited(const char *in, size_t step)
{
    struct parser_limits l = small_limits();
    return run(in, strlen(in), step, &l);
}

static void
expect_limited(const char *in, const char *want_log)
{
    for (size_t step = 0; step < 3; step++) {
        char *s = run_limited(in, step == 2 ? 7 : step);
        if (s == NULL || strcmp(s, want_log) != 0) {
            fprintf(stderr, "step %zu: got:\n%swant:\n%s", step, s ? s : "(null)", want_log);
            test__failed = 1;
        }
        yb_free(s);
    }
}

TEST(limit_defaults)
{
    struct parser_limits l;
    parser_limits_default(&l);
    ASSERT_EQ(l.max_stanza_bytes, 256 * 1024);
    ASSERT_EQ(l.max_header_bytes, 8 * 1024);
    ASSERT_EQ(l.max_depth, 64);
    ASSERT_EQ(l.max_attrs, 64);
}

TEST(limit_stanza_size)
{
    struct buf in = BUF_INIT;
    /* Exactly the limit passes, one more byte fails. */
    buf_puts(&in, HDR "<m>");
    size_t start = strlen(HDR);
    while (in.len < start + 1000 - 4)
        buf_putc(&in, 'x');
    buf_puts(&in, "</m>");
    char *s = run_limited(in.data, 0);
    ASSERT_TRUE(strstr(s, "error") == NULL);
    yb_free(s);
    buf_clear(&in);
    buf_puts(&in, HDR "<m>");
    while (in.len < start + 1000 - 3)
        buf_putc(&in, 'x');
    buf_puts(&in, "</m>");
    expect_limited(in.data, HDR_LOG "error(policy)\n");

    /* A stanza that never ends is cut off while it arrives. */
    struct parser_limits l = small_limits();
    struct rec r;
    ASSERT_NOT_NULL(rec_init(&r, &l));
    ASSERT_EQ(parser_feed(r.p, HDR "<m>", strlen(HDR) + 3), PARSER_OK);
    enum parser_status st = PARSER_OK;
    int i;
    for (i = 0; i < 100 && st == PARSER_OK; i++)
        st = parser_feed(r.p, "0123456789abcdef<", 16);
    ASSERT_EQ(st, PARSER_FAILED);
    ASSERT_TRUE(i <= 1000 / 16 + 1);
    ASSERT_STR_EQ(rec_log(&r), HDR_LOG "error(policy)\n");
    rec_fini(&r);

    /* So is a start tag that never ends, and a huge attribute value. */
    ASSERT_NOT_NULL(rec_init(&r, &l));
    ASSERT_EQ(parser_feed(r.p, HDR "<m a='", strlen(HDR) + 6), PARSER_OK);
    st = PARSER_OK;
    for (i = 0; i < 100 && st == PARSER_OK; i++)
        st = parser_feed(r.p, "0123456789abcdef", 16);
    ASSERT_EQ(st, PARSER_FAILED);
    ASSERT_TRUE(i <= 1000 / 16 + 1);
    ASSERT_EQ(r.last_error, PARSER_E_POLICY);
    rec_fini(&r);

    /* One big feed is cut off too (the limit applies inside a feed). */
    buf_clear(&in);
    buf_puts(&in, HDR "<presence/><m>");
    for (int k = 0; k < 100000; k++)
        buf_puts(&in, "<a/>");
    s = run_limited(in.data, 0);
    ASSERT_STR_EQ(s, HDR_LOG "<presence xmlns='jabber:client'/>\nerror(policy)\n");
    yb_free(s);
    buf_fini(&in);

    /* Stanzas under the limit keep coming however long the stream lasts. */
    ASSERT_NOT_NULL(rec_init(&r, &l));
    ASSERT_EQ(parser_feed(r.p, HDR, strlen(HDR)), PARSER_OK);
    for (i = 0; i < 2000; i++)
        ASSERT_EQ(parser_feed(r.p, "<presence/> ", 12), PARSER_OK);
    ASSERT_EQ(r.n_stanzas, 2000);
    rec_fini(&r);
}

TEST(limit_depth_and_attrs)
{
    expect_limited(HDR "<a><b><c><d><e/></d></c></b></a>",
                   HDR_LOG "<a xmlns='jabber:client'><b><c><d><e/></d></c></b></a>\n");
    expect_limited(HDR "<a><b><c><d><e><f/></e></d></c></b></a>", HDR_LOG "error(policy)\n");
    expect_limited(HDR "<a p='1' q='2' r='3' s='4' t='5'/>",
                   HDR_LOG "<a xmlns='jabber:client' p='1' q='2' r='3' s='4' t='5'/>\n");
    expect_limited(HDR "<a p='1' q='2' r='3' s='4' t='5' u='6'/>", HDR_LOG "error(policy)\n");
    /* Namespace declarations count as attributes. */
    expect_limited(HDR "<a xmlns:a='1' xmlns:b='2' xmlns:c='3' p='1' q='2' r='3'/>",
                   HDR_LOG "error(policy)\n");
    expect_limited(HDR "<a><b p='1' q='2' r='3' s='4' t='5' u='6'/></a>",
                   HDR_LOG "error(policy)\n");
    /* The header too. */
    expect_limited("<s a='1' b='2' c='3' d='4' e='5' f='6'>", "error(policy)\n");
}

TEST(limit_header)
{
    struct buf in = BUF_INIT;
    buf_puts(&in, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='");
    while (in.len < 500)
        buf_putc(&in, 'x');
    buf_puts(&in, "'>");
    expect_limited(in.data, "error(policy)\n");
    /* A header that never ends. */
    struct parser_limits l = small_limits();
    struct rec r;
    ASSERT_NOT_NULL(rec_init(&r, &l));
    enum parser_status st = PARSER_OK;
    int i;
    ASSERT_EQ(parser_feed(r.p, "<stream to='", 12), PARSER_OK);
    for (i = 0; i < 100 && st == PARSER_OK; i++)
        st = parser_feed(r.p, "xxxxxxxxxx", 10);
    ASSERT_EQ(st, PARSER_FAILED);
    ASSERT_TRUE(i <= 40);
    ASSERT_STR_EQ(rec_log(&r), "error(policy)\n");
    rec_fini(&r);
    buf_fini(&in);
}

TEST(suspend_resume)
{
    struct rec r;
    ASSERT_NOT_NULL(rec_init(&r, NULL));
    r.suspend_after = 1;
    const char *in = HDR "<a/><b/><c/>";
    ASSERT_EQ(parser_feed(r.p, in, strlen(in)), PARSER_SUSPENDED);
    ASSERT_EQ(r.n_stanzas, 1);
    /* Bytes fed while suspended are held too. */
    ASSERT_EQ(parser_feed(r.p, "<d/>", 4), PARSER_SUSPENDED);
    ASSERT_EQ(r.n_stanzas, 1);
    r.suspend_after = 3;
    ASSERT_EQ(parser_resume(r.p), PARSER_SUSPENDED);
    ASSERT_EQ(r.n_stanzas, 3);
    ASSERT_EQ(parser_resume(r.p), PARSER_OK);
    ASSERT_EQ(r.n_stanzas, 4);
    ASSERT_EQ(parser_resume(r.p), PARSER_OK); /* not suspended: nothing to do */
    ASSERT_EQ(parser_feed(r.p, "<e/></stream:stream>", 20), PARSER_OK);
    ASSERT_STR_EQ(rec_log(&r), HDR_LOG "<a xmlns='jabber:client'/>\n<b xmlns='jabber:client'/>\n"
                                       "<c xmlns='jabber:client'/>\n<d xmlns='jabber:client'/>\n"
                                       "<e xmlns='jabber:client'/>\nclose\n");
    rec_fini(&r);

    /* Suspended in stream_open, with more than one slice of input behind it. */
    ASSERT_NOT_NULL(rec_init(&r, NULL));
    r.suspend_on_open = true;
    struct buf b = BUF_INIT;
    buf_puts(&b, HDR);
    for (int i = 0; i < 1000; i++)
        buf_puts(&b, "<presence/>");
    ASSERT_EQ(parser_feed(r.p, b.data, b.len), PARSER_SUSPENDED);
    ASSERT_EQ(r.n_stanzas, 0);
    ASSERT_EQ(parser_resume(r.p), PARSER_OK);
    ASSERT_EQ(r.n_stanzas, 1000);
    rec_fini(&r);

    /* Every stanza suspends: each resume gives exactly the next one. */
    ASSERT_NOT_NULL(rec_init(&r, NULL));
    ASSERT_EQ(parser_feed(r.p, HDR, strlen(HDR)), PARSER_OK);
    r.suspend_after = 1;
    ASSERT_EQ(parser_feed(r.p, b.data + strlen(HDR), b.len - strlen(HDR)), PARSER_SUSPENDED);
    for (int i = 2; i <= 1000; i++) {
        r.suspend_after = i;
        ASSERT_EQ(parser_resume(r.p), PARSER_SUSPENDED);
        ASSERT_EQ(r.n_stanzas, i);
    }
    ASSERT_EQ(parser_resume(r.p), PARSER_OK);
    ASSERT_EQ(r.n_stanzas, 1000);
    rec_fini(&r);

    /* Reset while suspended drops the held bytes. */
    ASSERT_NOT_NULL(rec_init(&r, NULL));
    r.suspend_after = 1;
    ASSERT_EQ(parser_feed(r.p, b.data, b.len), PARSER_SUSPENDED);
    ASSERT_EQ(parser_reset(r.p), 0);
    ASSERT_EQ(parser_feed(r.p, HDR "<x/>", strlen(HDR) + 4), PARSER_OK);
    ASSERT_EQ(r.n_stanzas, 2);
    rec_fini(&r);
    buf_fini(&b);
}

TEST(reset)
{
    struct rec r;
    ASSERT_NOT_NULL(rec_init(&r, NULL));
    /* STARTTLS: the old stream stops in the middle; a new header follows. */
    const char *in = HDR "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    ASSERT_EQ(parser_feed(r.p, in, strlen(in)), PARSER_OK);
    ASSERT_EQ(parser_reset(r.p), 0);
    in = "<stream:stream xmlns='jabber:client' "
         "xmlns:stream='http://etherx.jabber.org/streams'><presence/>";
    ASSERT_EQ(parser_feed(r.p, in, strlen(in)), PARSER_OK);
    ASSERT_STR_EQ(rec_log(&r),
                  HDR_LOG "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n"
                          "open(stream http://etherx.jabber.org/streams jabber:client)\n"
                          "<presence xmlns='jabber:client'/>\n");
    /* Reset in the middle of a stanza and after a close. */
    ASSERT_EQ(parser_feed(r.p, "<message><bo", 12), PARSER_OK);
    ASSERT_EQ(parser_reset(r.p), 0);
    ASSERT_EQ(parser_feed(r.p, "<s/>", 4), PARSER_OK);
    ASSERT_EQ(parser_reset(r.p), 0);
    ASSERT_EQ(parser_feed(r.p, "<s/>", 4), PARSER_OK);
    ASSERT_EQ(r.n_errors, 0);
    rec_fini(&r);
}

TEST(memory_shrinks_between_stanzas)
{
    struct rec r;
    ASSERT_NOT_NULL(rec_init(&r, NULL));
    size_t fresh = xml__parser_expat_bytes(r.p);
    ASSERT_TRUE(fresh > 0);
    const char *hdr = "<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' "
                      "xmlns:stream='http://etherx.jabber.org/streams'>";
    ASSERT_EQ(parser_feed(r.p, hdr, strlen(hdr)), PARSER_OK);
    /* A 100 KB stanza with one big attribute makes expat buffer it whole. */
    struct buf b = BUF_INIT;
    buf_puts(&b, "<message id='");
    for (int i = 0; i < 100000; i++)
        buf_putc(&b, 'a' + i % 26);
    buf_puts(&b, "'><body>x</body></message>");
    for (size_t off = 0; off < b.len; off += 1500) {
        size_t n = b.len - off < 1500 ? b.len - off : 1500;
        ASSERT_EQ(parser_feed(r.p, b.data + off, n), PARSER_OK);
    }
    ASSERT_EQ(r.n_stanzas, 1);
    size_t after = xml__parser_expat_bytes(r.p);
    ASSERT_TRUE(after < 24 * 1024);
    /* The stream goes on with the same namespace context and offsets. */
    const char *more = "<presence/><p:x xmlns:p='urn:p'/><db:result>k</db:result>"
                       "<stream:features/></stream:stream>";
    ASSERT_EQ(parser_feed(r.p, more, strlen(more)), PARSER_OK);
    const char *tail = "<presence xmlns='jabber:server'/>\n<x xmlns='urn:p'/>\n"
                       "<result xmlns='jabber:server:dialback'>k</result>\n"
                       "<features xmlns='http://etherx.jabber.org/streams'/>\nclose\n";
    ASSERT_TRUE(r.log.len > strlen(tail));
    ASSERT_STR_EQ(rec_log(&r) + r.log.len - strlen(tail), tail);
    fprintf(stderr, "expat bytes: fresh %zu, after a 100 KB stanza %zu\n", fresh, after);
    rec_fini(&r);
    buf_fini(&b);

    /* Limits still hold after the switch. */
    struct parser_limits l = small_limits();
    l.max_stanza_bytes = 200000;
    ASSERT_NOT_NULL(rec_init(&r, &l));
    ASSERT_EQ(parser_feed(r.p, HDR, strlen(HDR)), PARSER_OK);
    buf_puts(&b, "<m>");
    for (int i = 0; i < 50000; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "</m>");
    ASSERT_EQ(parser_feed(r.p, b.data, b.len), PARSER_OK);
    ASSERT_EQ(parser_feed(r.p, b.data, b.len), PARSER_OK);
    buf_clear(&b);
    buf_puts(&b, "<m>");
    for (int i = 0; i < 200000; i++)
        buf_putc(&b, 'x');
    ASSERT_EQ(parser_feed(r.p, b.data, b.len), PARSER_FAILED);
    ASSERT_EQ(r.n_stanzas, 2);
    ASSERT_EQ(r.last_error, PARSER_E_POLICY);
    rec_fini(&r);
    buf_fini(&b);
}

TEST(idle_streams_hold_no_expat)
{
    struct rec r;
    ASSERT_NOT_NULL(rec_init(&r, NULL));
    /* Not before the header is complete, nor inside a stanza. */
    ASSERT_FALSE(parser_idle(r.p));
    const char *hdr = "<stream:stream xmlns='jabber:client' xmlns:p='urn:p' "
                      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    ASSERT_EQ(parser_feed(r.p, hdr, strlen(hdr)), PARSER_OK);
    ASSERT_EQ(parser_feed(r.p, "<message><body>half", 19), PARSER_OK);
    ASSERT_FALSE(parser_idle(r.p));
    ASSERT_EQ(parser_feed(r.p, "</body></message>", 17), PARSER_OK);
    ASSERT_EQ(r.n_stanzas, 1);
    ASSERT_TRUE(parser_idle(r.p));
    ASSERT_EQ(xml__parser_expat_bytes(r.p), 0);
    ASSERT_FALSE(parser_idle(r.p)); /* already idle */
    /* The next input rebuilds it with the header's namespace context: the prefix
     * declared on the stream header still resolves, and limits and offsets hold. */
    const char *more = "<p:x a='1'/><presence/>";
    ASSERT_EQ(parser_feed(r.p, more, strlen(more)), PARSER_OK);
    ASSERT_EQ(r.n_stanzas, 3);
    ASSERT_TRUE(xml__parser_expat_bytes(r.p) > 0);
    const char *tail = "<x xmlns='urn:p' a='1'/>\n<presence xmlns='jabber:client'/>\n";
    ASSERT_STR_EQ(rec_log(&r) + r.log.len - strlen(tail), tail);
    /* Idle again, then a bad stanza is still caught, and so is the stream end. */
    ASSERT_TRUE(parser_idle(r.p));
    ASSERT_EQ(parser_feed(r.p, "</stream:stream>", 16), PARSER_OK);
    ASSERT_STR_EQ(rec_log(&r) + r.log.len - 6, "close\n");
    rec_fini(&r);

    ASSERT_NOT_NULL(rec_init(&r, NULL));
    ASSERT_EQ(parser_feed(r.p, hdr, strlen(hdr)), PARSER_OK);
    ASSERT_TRUE(parser_idle(r.p));
    ASSERT_EQ(parser_feed(r.p, "<a><b></a>", 10), PARSER_FAILED);
    ASSERT_EQ(r.last_error, PARSER_E_NOT_WELL_FORMED);
    rec_fini(&r);

    /* Rebuilding under OOM fails the stream cleanly. */
    ASSERT_NOT_NULL(rec_init(&r, NULL));
    ASSERT_EQ(parser_feed(r.p, hdr, strlen(hdr)), PARSER_OK);
    ASSERT_TRUE(parser_idle(r.p));
    yb_alloc_fail_after(0);
    enum parser_status st = parser_feed(r.p, "<presence/>", 11);
    yb_alloc_fail_after(-1);
    ASSERT_EQ(st, PARSER_FAILED);
    ASSERT_EQ(r.last_error, PARSER_E_NOMEM);
    rec_fini(&r);
}

TEST(shrink_under_oom)
{
    /* Replacing the expat instance is best effort: whichever allocation fails, the
     * stream carries on. */
    struct buf b = BUF_INIT;
    buf_puts(&b, HDR "<message id='");
    for (int i = 0; i < 60000; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "'></message");
    for (long n = 0; n < 40; n++) {
        struct rec r;
        ASSERT_NOT_NULL(rec_init(&r, NULL));
        ASSERT_EQ(parser_feed(r.p, b.data, b.len), PARSER_OK);
        yb_alloc_fail_after(n);
        enum parser_status s = parser_feed(r.p, ">", 1);
        yb_alloc_fail_after(-1);
        ASSERT_EQ(s, PARSER_OK);
        ASSERT_EQ(r.n_stanzas, 1);
        ASSERT_EQ(parser_feed(r.p, "<presence/>", 11), PARSER_OK);
        ASSERT_EQ(r.n_stanzas, 2);
        ASSERT_EQ(r.n_errors, 0);
        rec_fini(&r);
    }
    buf_fini(&b);
}

TEST(stanza_parse_cases)
{
    const char *ok = "<?xml version='1.0'?>\n<m xmlns='urn:m' a='1'><b>t</b></m>\n";
    struct stanza *st = stanza_parse(ok, strlen(ok));
    ASSERT_NOT_NULL(st);
    ASSERT_STR_EQ(stanza_name(st), "m");
    ASSERT_STR_EQ(stanza_ns(st), "urn:m");
    ASSERT_STR_EQ(node_child_text(stanza_root(st), "b", "urn:m"), "t");
    stanza_unref(st);
    st = stanza_parse("<m/>", 4);
    ASSERT_NOT_NULL(st);
    ASSERT_STR_EQ(stanza_ns(st), "");
    stanza_unref(st);

    static const char *const bad[] = {
        "",
        "   ",
        "<m>",
        "<m/><n/>",
        "<m/>junk",
        "<m></n>",
        "<!DOCTYPE m><m/>",
        "<!-- c --><m/>",
        "<m><!-- c --></m>",
        "<m/><!-- c -->",
        "<?pi x?><m/>",
        "<m>&ent;</m>",
        "text",
        "<p:m/>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st = stanza_parse(bad[i], strlen(bad[i]));
        if (st != NULL) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            stanza_unref(st);
            test__failed = 1;
        }
    }
    /* Length is honoured: the bytes after it are not read. */
    st = stanza_parse("<m/>garbage", 4);
    ASSERT_NOT_NULL(st);
    stanza_unref(st);
}

/* Feeds a whole stream under allocation failure after n allocations. */
static int
oom_run(long n, const char *in, size_t step)
{
    struct rec r;
    yb_alloc_fail_after(n);
    if (rec_init(&r, NULL) == NULL) {
        yb_alloc_fail_after(-1);
        buf_fini(&r.log);
        return YB_ENOMEM;
    }
    r.suspend_after = 2;
    size_t len = strlen(in);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += step) {
        size_t k = len - off < step ? len - off : step;
        enum parser_status s = parser_feed(r.p, in + off, k);
        if (s == PARSER_SUSPENDED)
            s = parser_resume(r.p);
        if (s == PARSER_FAILED)
            rc = r.last_error == PARSER_E_NOMEM ? YB_ENOMEM : YB_EINVAL;
    }
    if (rc == 0 && parser_reset(r.p) != 0)
        rc = YB_ENOMEM;
    if (rc == 0 && parser_feed(r.p, HDR, strlen(HDR)) != PARSER_OK)
        rc = YB_ENOMEM;
    yb_alloc_fail_after(-1);
    if (rc == 0 && (r.oom || strcmp(rec_log(&r), STREAM1_LOG HDR_LOG) != 0))
        rc = r.oom ? YB_ENOMEM : YB_EINVAL;
    if (rc == YB_EINVAL)
        fprintf(stderr, "n=%ld step=%zu: unexpected log:\n%s", n, step, rec_log(&r));
    rec_fini(&r);
    return rc;
}

static const char parse_input[] =
    "<x xmlns='urn:x' xmlns:a='urn:a' a:b='1' xml:lang='en'><y>text &amp; more</y><z/>tail</x>";

TEST(oom)
{
    for (size_t step = 1; step <= 1000; step *= 10) {
        int rc = YB_ENOMEM;
        long n;
        for (n = 0; n < 100000 && rc == YB_ENOMEM; n++)
            rc = oom_run(n, stream1, step);
        ASSERT_EQ(rc, 0);
    }
    int rc = YB_ENOMEM;
    for (long n = 0; n < 1000 && rc == YB_ENOMEM; n++) {
        yb_alloc_fail_after(n);
        struct stanza *st = stanza_parse(parse_input, strlen(parse_input));
        yb_alloc_fail_after(-1);
        rc = st != NULL ? 0 : YB_ENOMEM;
        stanza_unref(st);
    }
    ASSERT_EQ(rc, 0);
}

TEST_MAIN(TEST_CASE(stream_events), TEST_CASE(stanza_tree_from_stream),
          TEST_CASE(every_split_gives_the_same_events),
          TEST_CASE(events_arrive_as_soon_as_complete), TEST_CASE(header_variants),
          TEST_CASE(keepalives_and_stream_text), TEST_CASE(stream_close), TEST_CASE(restricted_xml),
          TEST_CASE(encoding_must_be_utf8), TEST_CASE(not_well_formed), TEST_CASE(errors_are_final),
          TEST_CASE(limit_defaults), TEST_CASE(limit_stanza_size), TEST_CASE(limit_depth_and_attrs),
          TEST_CASE(limit_header), TEST_CASE(suspend_resume), TEST_CASE(reset),
          TEST_CASE(memory_shrinks_between_stanzas), TEST_CASE(idle_streams_hold_no_expat),
          TEST_CASE(shrink_under_oom), TEST_CASE(stanza_parse_cases), TEST_CASE(oom))
