/* SPDX-License-Identifier: MIT
 *
 * test_serialize.c: stanza serialisation (src/xml/serialize.c): namespace rules,
 * escaping, namespaced attributes, and parse -> serialise round trips.
 */
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "stanza.h"
#include "test.h"

/* Serialises st under default_ns into a static buffer for comparisons. */
static const char *
ser(const struct stanza *st, const char *default_ns)
{
    static char out[8192];
    struct buf b = BUF_INIT;
    if (stanza_serialize(st, default_ns, &b) != 0 || b.len >= sizeof out) {
        buf_fini(&b);
        return "(failed)";
    }
    memcpy(out, b.data, b.len + 1);
    buf_fini(&b);
    return out;
}

TEST(empty_and_root_ns)
{
    struct stanza *st = stanza_new("presence", "jabber:client");
    ASSERT_STR_EQ(ser(st, "jabber:client"), "<presence/>");
    ASSERT_STR_EQ(ser(st, "jabber:server"), "<presence/>");
    ASSERT_STR_EQ(ser(st, NULL), "<presence xmlns='jabber:client'/>");
    ASSERT_STR_EQ(ser(st, ""), "<presence xmlns='jabber:client'/>");
    /* XEP-0114: a component stream's namespace stands for jabber:client too. */
    ASSERT_STR_EQ(ser(st, "jabber:component:accept"), "<presence/>");
    ASSERT_STR_EQ(ser(st, "urn:example:other"), "<presence xmlns='jabber:client'/>");
    stanza_unref(st);

    st = stanza_new("presence", "jabber:server");
    ASSERT_STR_EQ(ser(st, "jabber:client"), "<presence/>");
    stanza_unref(st);

    st = stanza_new("query", "urn:x");
    ASSERT_STR_EQ(ser(st, "urn:x"), "<query/>");
    ASSERT_STR_EQ(ser(st, "jabber:client"), "<query xmlns='urn:x'/>");
    stanza_unref(st);

    st = stanza_new("bare", NULL);
    ASSERT_STR_EQ(ser(st, NULL), "<bare/>");
    ASSERT_STR_EQ(ser(st, "jabber:client"), "<bare xmlns=''/>");
    stanza_unref(st);
}

TEST(children_ns)
{
    struct stanza *st = stanza_new("iq", "jabber:client");
    stanza_set_attr(st, "type", "result");
    struct xml_node *q = node_add_child(stanza_root(st), "query", "jabber:iq:roster");
    struct xml_node *item = node_add_child(q, "item", NULL);
    node_set_attr(item, "jid", "a@b");
    node_add_text_child(item, "group", NULL, "Friends");
    node_add_child(q, "none", "");
    node_add_child(stanza_root(st), "x", "jabber:client");
    ASSERT_STR_EQ(ser(st, "jabber:client"),
                  "<iq type='result'><query xmlns='jabber:iq:roster'><item jid='a@b'>"
                  "<group>Friends</group></item><none xmlns=''/></query><x/></iq>");
    /* A jabber:client stanza written into a server stream: the root and its
     * same-namespace children take the stream's namespace. */
    ASSERT_STR_EQ(ser(st, "jabber:server"),
                  "<iq type='result'><query xmlns='jabber:iq:roster'><item jid='a@b'>"
                  "<group>Friends</group></item><none xmlns=''/></query><x/></iq>");
    stanza_unref(st);
}

TEST(stream_elements)
{
    struct stanza *st = stanza_new("features", "http://etherx.jabber.org/streams");
    node_add_child(stanza_root(st), "starttls", "urn:ietf:params:xml:ns:xmpp-tls");
    node_add_child(stanza_root(st), "c", "jabber:client");
    ASSERT_STR_EQ(ser(st, "jabber:client"),
                  "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><c/>"
                  "</stream:features>");
    ASSERT_STR_EQ(ser(st, NULL),
                  "<features xmlns='http://etherx.jabber.org/streams'><starttls "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><c xmlns='jabber:client'/>"
                  "</features>");
    stanza_unref(st);
    st = stanza_new("error", "http://etherx.jabber.org/streams");
    ASSERT_STR_EQ(ser(st, "jabber:server"), "<stream:error/>");
    stanza_unref(st);
}

TEST(escaping)
{
    struct stanza *st = stanza_new("message", "jabber:client");
    stanza_set_attr(st, "id", "a<b>&\"c'\t\n\r");
    node_add_text_child(stanza_root(st), "body", NULL, "1 < 2 && 3 > 2 ]]> \"q\" 'a'\r\n");
    ASSERT_STR_EQ(ser(st, "jabber:client"),
                  "<message id='a&lt;b&gt;&amp;&quot;c&apos;&#9;&#10;&#13;'><body>1 &lt; 2 "
                  "&amp;&amp; 3 &gt; 2 ]]&gt; \"q\" 'a'&#13;\n</body></message>");
    stanza_unref(st);

    st = stanza_new("x", "urn:a&b'c");
    ASSERT_STR_EQ(ser(st, NULL), "<x xmlns='urn:a&amp;b&apos;c'/>");
    stanza_unref(st);
}

TEST(attr_namespaces)
{
    struct stanza *st = stanza_new("x", "urn:x");
    stanza_set_attr(st, "xml:lang", "de");
    stanza_set_attr(st, "{urn:one}a", "1");
    stanza_set_attr(st, "plain", "p");
    stanza_set_attr(st, "{urn:two}b", "2");
    stanza_set_attr(st, "{urn:one}c", "3");
    stanza_set_attr(st, "{http://www.w3.org/XML/1998/namespace}space", "preserve");
    stanza_set_attr(st, "xmlns", "urn:ignored");
    stanza_set_attr(st, "xmlns:foo", "urn:ignored");
    ASSERT_STR_EQ(ser(st, "urn:x"),
                  "<x xml:lang='de' xmlns:ns0='urn:one' ns0:a='1' plain='p' xmlns:ns1='urn:two' "
                  "ns1:b='2' xmlns:ns2='urn:one' ns2:c='3' xml:space='preserve'/>");
    /* The output parses back to the same attributes. */
    struct stanza *back = stanza_parse(ser(st, "urn:x"), strlen(ser(st, "urn:x")));
    ASSERT_NOT_NULL(back);
    ASSERT_STR_EQ(stanza_attr(back, "xml:lang"), "de");
    ASSERT_STR_EQ(stanza_attr(back, "{urn:one}a"), "1");
    ASSERT_STR_EQ(stanza_attr(back, "{urn:one}c"), "3");
    ASSERT_STR_EQ(stanza_attr(back, "{urn:two}b"), "2");
    ASSERT_STR_EQ(stanza_attr(back, "xml:space"), "preserve");
    ASSERT_NULL(stanza_attr(back, "xmlns"));
    stanza_unref(back);
    stanza_unref(st);
}

TEST(reserved_namespaces)
{
    /* Found by fuzzing: an element in the XML namespace cannot be written with a
     * default namespace declaration; a '}' in an attribute's URI is not its end. */
    const char *in = "<a xmlns='urn:a'><xml:b><c/><xml:d/></xml:b></a>";
    struct stanza *st = stanza_parse(in, strlen(in));
    ASSERT_NOT_NULL(st);
    ASSERT_STR_EQ(stanza_root(st)->first_child->ns, "http://www.w3.org/XML/1998/namespace");
    ASSERT_STR_EQ(ser(st, NULL), in);
    stanza_unref(st);
    st = stanza_parse("<xml:b/>", 8);
    ASSERT_NOT_NULL(st);
    ASSERT_STR_EQ(ser(st, "jabber:client"), "<xml:b/>");
    stanza_unref(st);

    in = "<a xmlns:p='urn:p}q' p:x='1'/>";
    st = stanza_parse(in, strlen(in));
    ASSERT_NOT_NULL(st);
    ASSERT_STR_EQ(stanza_attr(st, "{urn:p}q}x"), "1");
    ASSERT_STR_EQ(ser(st, NULL), "<a xmlns:ns0='urn:p}q' ns0:x='1'/>");
    stanza_unref(st);
}

TEST(node_and_text_serialize)
{
    struct stanza *st = stanza_new("message", "jabber:client");
    struct xml_node *body = node_add_text_child(stanza_root(st), "body", NULL, "a&b");
    struct buf b = BUF_INIT;
    ASSERT_EQ(node_serialize(body, "jabber:client", &b), 0);
    ASSERT_STR_EQ(b.data, "<body>a&amp;b</body>");
    buf_clear(&b);
    ASSERT_EQ(node_serialize(body, "urn:other", &b), 0);
    ASSERT_STR_EQ(b.data, "<body xmlns='jabber:client'>a&amp;b</body>");
    buf_clear(&b);
    ASSERT_EQ(node_serialize(body->first_child, NULL, &b), 0);
    ASSERT_STR_EQ(b.data, "a&amp;b");
    buf_fini(&b);

    char *s = stanza_to_string(st);
    ASSERT_STR_EQ(s, "<message xmlns='jabber:client'><body>a&amp;b</body></message>");
    yb_free(s);
    stanza_unref(st);
}

TEST(deep_tree_no_recursion)
{
    struct stanza *st = stanza_new("d", NULL);
    struct xml_node *n = stanza_root(st);
    for (int i = 0; i < 200000; i++)
        n = node_add_child(n, "d", NULL);
    struct buf b = BUF_INIT;
    ASSERT_EQ(stanza_serialize(st, NULL, &b), 0);
    ASSERT_EQ(b.len, 200000 * 7 + 4);
    buf_fini(&b);
    stanza_unref(st);
}

static const char *const round_trips[] = {
    ("<message xmlns='jabber:client' to='juliet@example.com/balcony' type='chat' "
     "xml:lang='en'><body>Art thou not Romeo, and a Montague?</body><thread>e0ffe42b</thread>"
     "</message>"),
    ("<iq xmlns='jabber:client' type='result' id='r1'><query xmlns='jabber:iq:roster' ver='v'>"
     "<item jid='nurse@example.com' subscription='both'><group>Servants</group></item>"
     "<item jid='romeo@example.net'/></query></iq>"),
    ("<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
     "node='n' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/><x xmlns='vcard-temp:x:update'><photo/></x>"
     "</presence>"),
    ("<x xmlns='urn:x' xmlns:ns0='urn:a' ns0:b='&lt;&amp;&gt;&quot;&apos;&#9;&#10;&#13;'>"
     "text &amp; &lt;more&gt;&#13;\n<y xmlns=''>inner</y>tail</x>"),
    "<a xmlns='urn:a'><b xmlns='urn:b'><c xmlns='urn:a'><d/></c></b></a>",
};

TEST(round_trip)
{
    for (size_t i = 0; i < sizeof round_trips / sizeof round_trips[0]; i++) {
        const char *in = round_trips[i];
        struct stanza *st = stanza_parse(in, strlen(in));
        ASSERT_NOT_NULL(st);
        char *out = stanza_to_string(st);
        ASSERT_STR_EQ(out, in);
        struct stanza *cp = stanza_copy(st);
        char *out2 = stanza_to_string(cp);
        ASSERT_STR_EQ(out2, in);
        yb_free(out);
        yb_free(out2);
        stanza_unref(cp);
        stanza_unref(st);
    }
}

TEST(round_trip_normalises)
{
    /* Prefixes and quote styles are not kept; the namespaces are. */
    const char *in = "<p:x xmlns:p=\"urn:p\" xmlns:q='urn:q' q:a=\"1\"><p:y/><z xmlns='urn:z'>"
                     "&#65;&#x42;</z></p:x>";
    struct stanza *st = stanza_parse(in, strlen(in));
    ASSERT_NOT_NULL(st);
    char *out = stanza_to_string(st);
    ASSERT_STR_EQ(out, "<x xmlns='urn:p' xmlns:ns0='urn:q' ns0:a='1'><y/><z xmlns='urn:z'>AB"
                       "</z></x>");
    yb_free(out);
    stanza_unref(st);
}

TEST(oom)
{
    struct stanza *st = stanza_parse(round_trips[3], strlen(round_trips[3]));
    ASSERT_NOT_NULL(st);
    int rc = YB_ENOMEM;
    for (long n = 0; n < 1000 && rc != 0; n++) {
        struct buf b = BUF_INIT;
        yb_alloc_fail_after(n);
        rc = stanza_serialize(st, NULL, &b);
        yb_alloc_fail_after(-1);
        if (rc != 0)
            ASSERT_EQ(b.len, 0);
        else
            ASSERT_STR_EQ(b.data, round_trips[3]);
        buf_fini(&b);
    }
    ASSERT_EQ(rc, 0);
    stanza_unref(st);
}

TEST_MAIN(TEST_CASE(empty_and_root_ns), TEST_CASE(children_ns), TEST_CASE(stream_elements),
          TEST_CASE(escaping), TEST_CASE(attr_namespaces), TEST_CASE(reserved_namespaces),
          TEST_CASE(node_and_text_serialize), TEST_CASE(deep_tree_no_recursion),
          TEST_CASE(round_trip), TEST_CASE(round_trip_normalises), TEST_CASE(oom))
