/* SPDX-License-Identifier: MIT
 *
 * test_xmpp_error.c: condition names and default types (RFC 6120 §8.3.3), the XML of
 * error replies (§8.3.1) and of stream errors (§4.9.2).
 */
#include "test.h"

#include "alloc.h"
#include "error.h"
#include "xmpp_error.h"

#define LIT_XML(s) s, strlen(s)

/* The reply to xml, serialised inside a client stream. */
static char *
reply_xml(const char *xml, enum stanza_error_cond c, const char *text)
{
    struct stanza *orig = stanza_parse(xml, strlen(xml));
    if (orig == NULL)
        abort();
    struct stanza *r = stanza_error_reply(orig, c, text);
    stanza_unref(orig);
    if (r == NULL)
        return NULL;
    struct buf b = BUF_INIT;
    if (stanza_serialize(r, "jabber:client", &b) != 0)
        abort();
    stanza_unref(r);
    return buf_steal(&b);
}

#define ASSERT_REPLY(xml, c, text, expected)                                                       \
    do {                                                                                           \
        char *got_ = reply_xml(xml, c, text);                                                      \
        int eq_ = got_ != NULL && strcmp(got_, expected) == 0;                                     \
        if (!eq_)                                                                                  \
            fprintf(stderr, "got:      %s\nexpected: %s\n", got_ ? got_ : "(null)", expected);     \
        yb_free(got_);                                                                             \
        ASSERT_TRUE(eq_);                                                                          \
    } while (0)

TEST(stanza_names_and_types)
{
    static const char *const expected[][2] = {
        {"bad-request", "modify"},
        {"conflict", "cancel"},
        {"feature-not-implemented", "cancel"},
        {"forbidden", "auth"},
        {"gone", "cancel"},
        {"internal-server-error", "cancel"},
        {"item-not-found", "cancel"},
        {"jid-malformed", "modify"},
        {"not-acceptable", "modify"},
        {"not-allowed", "cancel"},
        {"not-authorized", "auth"},
        {"policy-violation", "modify"},
        {"recipient-unavailable", "wait"},
        {"redirect", "modify"},
        {"registration-required", "auth"},
        {"remote-server-not-found", "cancel"},
        {"remote-server-timeout", "wait"},
        {"resource-constraint", "wait"},
        {"service-unavailable", "cancel"},
        {"subscription-required", "auth"},
        {"undefined-condition", "cancel"},
        {"unexpected-request", "wait"},
    };
    ASSERT_EQ(sizeof expected / sizeof expected[0], SE_UNEXPECTED_REQUEST + 1);
    for (int c = SE_BAD_REQUEST; c <= SE_UNEXPECTED_REQUEST; c++) {
        ASSERT_STR_EQ(stanza_error_name((enum stanza_error_cond)c), expected[c][0]);
        ASSERT_STR_EQ(stanza_error_type((enum stanza_error_cond)c), expected[c][1]);
    }
    ASSERT_STR_EQ(stanza_error_name((enum stanza_error_cond)99), "undefined-condition");
}

TEST(stream_names)
{
    static const char *const expected[] = {
        "bad-format",
        "bad-namespace-prefix",
        "conflict",
        "connection-timeout",
        "host-gone",
        "host-unknown",
        "improper-addressing",
        "internal-server-error",
        "invalid-from",
        "invalid-namespace",
        "invalid-xml",
        "not-authorized",
        "not-well-formed",
        "policy-violation",
        "remote-connection-failed",
        "reset",
        "resource-constraint",
        "restricted-xml",
        "see-other-host",
        "system-shutdown",
        "undefined-condition",
        "unsupported-encoding",
        "unsupported-feature",
        "unsupported-stanza-type",
        "unsupported-version",
    };
    ASSERT_EQ(sizeof expected / sizeof expected[0], STE_UNSUPPORTED_VERSION + 1);
    for (int c = STE_BAD_FORMAT; c <= STE_UNSUPPORTED_VERSION; c++)
        ASSERT_STR_EQ(stream_error_name((enum stream_error_cond)c), expected[c]);
}

TEST(iq_reply)
{
    ASSERT_REPLY("<iq xmlns='jabber:client' type='get' id='v1' from='romeo@montague.lit/orchard' "
                 "to='juliet@capulet.lit/balcony'><query xmlns='jabber:iq:version'/></iq>",
                 SE_SERVICE_UNAVAILABLE, NULL,
                 "<iq to='romeo@montague.lit/orchard' from='juliet@capulet.lit/balcony' id='v1' "
                 "type='error'><query xmlns='jabber:iq:version'/><error type='cancel'>"
                 "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
}

TEST(message_reply_with_text)
{
    ASSERT_REPLY(
        "<message xmlns='jabber:client' from='a@b/c' to='d@e' type='chat' id='m&amp;1'>"
        "<body>hi &lt;there&gt;</body><thread>t</thread></message>",
        SE_ITEM_NOT_FOUND, "No <such> user & \"co\"",
        "<message to='a@b/c' from='d@e' id='m&amp;1' type='error'><body>hi &lt;there&gt;</body>"
        "<thread>t</thread><error type='cancel'><item-not-found "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>No &lt;such&gt; user &amp; \"co\"</text>"
        "</error></message>");
}

TEST(reply_addressing)
{
    /* No 'from' on the original (a client's own stream): no 'to' on the reply. */
    ASSERT_REPLY("<iq xmlns='jabber:client' type='set' id='x' to='example.com'><a xmlns='u:a'/>"
                 "</iq>",
                 SE_FORBIDDEN, NULL,
                 "<iq from='example.com' id='x' type='error'><a xmlns='u:a'/><error type='auth'>"
                 "<forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    /* Neither, and no id. */
    ASSERT_REPLY("<presence xmlns='jabber:client'/>", SE_BAD_REQUEST, NULL,
                 "<presence type='error'><error type='modify'><bad-request "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>");
}

TEST(reply_keeps_namespace_and_payload)
{
    /* A server-to-server stanza stays in jabber:server; nested payload is copied whole. */
    struct stanza *orig =
        stanza_parse(LIT_XML("<iq xmlns='jabber:server' type='get' id='1' from='a.lit' to='b.lit'>"
                             "<query xmlns='q'><item jid='x@y'>text</item></query></iq>"));
    ASSERT_NOT_NULL(orig);
    struct stanza *r = stanza_error_reply(orig, SE_REMOTE_SERVER_TIMEOUT, "slow");
    ASSERT_NOT_NULL(r);
    ASSERT_STR_EQ(stanza_ns(r), "jabber:server");
    ASSERT_STR_EQ(stanza_name(r), "iq");
    ASSERT_STR_EQ(stanza_attr(r, "type"), "error");
    ASSERT_STR_EQ(stanza_attr(r, "to"), "a.lit");
    ASSERT_STR_EQ(stanza_attr(r, "from"), "b.lit");
    struct xml_node *q = stanza_child(r, "query", "q");
    ASSERT_NOT_NULL(q);
    ASSERT_STR_EQ(node_attr(node_child(q, "item", "q"), "jid"), "x@y");
    ASSERT_STR_EQ(node_child_text(q, "item", "q"), "text");
    struct xml_node *e = stanza_child(r, "error", "jabber:server");
    ASSERT_NOT_NULL(e);
    ASSERT_STR_EQ(node_attr(e, "type"), "wait");
    ASSERT_NOT_NULL(node_child(e, "remote-server-timeout", NS_STANZAS));
    ASSERT_STR_EQ(node_child_text(e, "text", NS_STANZAS), "slow");
    /* The original is untouched (it is borrowed). */
    ASSERT_STR_EQ(stanza_attr(orig, "type"), "get");
    ASSERT_NULL(stanza_child(orig, "error", NULL));
    stanza_unref(r);
    stanza_unref(orig);
}

TEST(reply_oom)
{
    struct stanza *orig = stanza_parse(
        LIT_XML("<message xmlns='jabber:client' from='a@b/c' to='d@e' id='1'><body>x</body>"
                "</message>"));
    ASSERT_NOT_NULL(orig);
    bool done = false;
    for (long n = 0; n < 100 && !done; n++) {
        yb_alloc_fail_after(n);
        struct stanza *r = stanza_error_reply(orig, SE_NOT_ALLOWED, "no");
        yb_alloc_fail_after(-1);
        done = r != NULL;
        stanza_unref(r);
    }
    ASSERT_TRUE(done);
    stanza_unref(orig);
}

TEST(stream_error)
{
    struct buf b = BUF_INIT;
    ASSERT_EQ(stream_error_serialize(STE_HOST_UNKNOWN, NULL, &b), 0);
    ASSERT_STR_EQ(b.data, "<stream:error><host-unknown "
                          "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
    buf_clear(&b);
    ASSERT_EQ(buf_puts(&b, "<prefix/>"), 0);
    ASSERT_EQ(stream_error_serialize(STE_POLICY_VIOLATION, "Too <fast> & 'loud'", &b), 0);
    ASSERT_STR_EQ(b.data, "<prefix/><stream:error><policy-violation "
                          "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
                          "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Too &lt;fast&gt; &amp; "
                          "&apos;loud&apos;</text></stream:error>");
    buf_fini(&b);

    /* On OOM the buffer is left as it was. */
    for (long n = 0; n < 10; n++) {
        ASSERT_EQ(buf_puts(&b, "<keep/>"), 0);
        yb_alloc_fail_after(n);
        int rc = stream_error_serialize(STE_SYSTEM_SHUTDOWN, "bye", &b);
        yb_alloc_fail_after(-1);
        if (rc != 0) {
            ASSERT_EQ(rc, YB_ENOMEM);
            ASSERT_STR_EQ(b.data, "<keep/>");
        }
        buf_fini(&b);
    }
}

TEST_MAIN(TEST_CASE(stanza_names_and_types), TEST_CASE(stream_names), TEST_CASE(iq_reply),
          TEST_CASE(message_reply_with_text), TEST_CASE(reply_addressing),
          TEST_CASE(reply_keeps_namespace_and_payload), TEST_CASE(reply_oom),
          TEST_CASE(stream_error))
