/* SPDX-License-Identifier: MIT
 *
 * test_xmlrpc.c: the XML-RPC codec (src/proto/xmlrpc.c) for XEP-0009: every value
 * type, the implicit string, faults, malformed calls (stray text, unknown types,
 * out-of-range ints, bad doubles, dates and base64, duplicate members), the nesting
 * limit, and encode/decode round trips.
 */
#include "test.h"

#include "alloc.h"
#include "error.h"
#include "xmlrpc.h"

/* Parses a call written inside <query xmlns='jabber:iq:rpc'/>. */
static int
parse_call(const char *inner, struct xmlrpc_call **out, const char **why)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "<query xmlns='jabber:iq:rpc'>%s</query>", inner);
    struct stanza *st = stanza_parse(b.data, b.len);
    buf_fini(&b);
    if (st == NULL)
        abort();
    *why = NULL;
    int rc = xmlrpc_call_parse(node_first_element(stanza_root(st)), out, why);
    stanza_unref(st);
    return rc;
}

/* The single parameter of a call whose params are `value` XML. */
static struct xmlrpc_value *
one_value(const char *value_xml)
{
    struct buf b = BUF_INIT;
    buf_printf(&b,
               "<methodCall><methodName>x</methodName><params><param>%s</param></params>"
               "</methodCall>",
               value_xml);
    struct xmlrpc_call *c = NULL;
    const char *why;
    int rc = parse_call(b.data, &c, &why);
    buf_fini(&b);
    if (rc != 0)
        return NULL;
    struct xmlrpc_value *v = c->params->items[0];
    c->params->n_items = 0;
    xmlrpc_call_free(c);
    return v;
}

static bool
value_fails(const char *value_xml)
{
    struct xmlrpc_value *v = one_value(value_xml);
    xmlrpc_value_free(v);
    return v == NULL;
}

TEST(scalars)
{
    struct xmlrpc_value *v = one_value("<value><i4>-42</i4></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->type, XMLRPC_INT);
    ASSERT_EQ(v->i, -42);
    xmlrpc_value_free(v);

    v = one_value("<value><int>2147483647</int></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->i, 2147483647);
    xmlrpc_value_free(v);

    v = one_value("<value><int>-2147483648</int></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->i, INT32_MIN);
    xmlrpc_value_free(v);

    v = one_value("<value><boolean>1</boolean></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->type, XMLRPC_BOOLEAN);
    ASSERT_TRUE(v->b);
    xmlrpc_value_free(v);

    v = one_value("<value><string>a &amp; b</string></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->type, XMLRPC_STRING);
    ASSERT_STR_EQ(v->str, "a & b");
    xmlrpc_value_free(v);

    v = one_value("<value><string/></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_STR_EQ(v->str, "");
    xmlrpc_value_free(v);

    /* No type element: a string, whitespace kept. */
    v = one_value("<value> plain </value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->type, XMLRPC_STRING);
    ASSERT_STR_EQ(v->str, " plain ");
    xmlrpc_value_free(v);

    v = one_value("<value><double>-12.214</double></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->type, XMLRPC_DOUBLE);
    ASSERT_TRUE(v->d == -12.214);
    xmlrpc_value_free(v);

    v = one_value("<value><double>1e+20</double></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_TRUE(v->d == 1e20);
    xmlrpc_value_free(v);

    v = one_value("<value><dateTime.iso8601>19980717T14:08:55</dateTime.iso8601></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->type, XMLRPC_DATETIME);
    ASSERT_STR_EQ(v->str, "19980717T14:08:55");
    xmlrpc_value_free(v);

    v = one_value("<value><dateTime.iso8601>1998-07-17T14:08:55Z</dateTime.iso8601></value>");
    ASSERT_NOT_NULL(v);
    xmlrpc_value_free(v);

    v = one_value("<value><base64>eW91IGNh\n  bid0IHJlYWQgdGhpcyE=</base64></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->type, XMLRPC_BASE64);
    ASSERT_EQ(v->len, 20);
    ASSERT_MEM_EQ(v->str, "you can't read this!", 20);
    xmlrpc_value_free(v);

    v = one_value("<value><base64></base64></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->len, 0);
    xmlrpc_value_free(v);
}

TEST(array_and_struct)
{
    struct xmlrpc_value *v = one_value(
        "<value><struct>\n"
        "  <member><name>lowerBound</name><value><i4>18</i4></value></member>\n"
        "  <member><name>list</name><value><array><data>\n"
        "    <value><i4>12</i4></value><value>Egypt</value><value><boolean>0</boolean></value>\n"
        "  </data></array></value></member>\n"
        "</struct></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->type, XMLRPC_STRUCT);
    ASSERT_EQ(v->n_items, 2);
    const struct xmlrpc_value *lb = xmlrpc_struct_get(v, "lowerBound");
    ASSERT_NOT_NULL(lb);
    ASSERT_EQ(lb->i, 18);
    const struct xmlrpc_value *list = xmlrpc_struct_get(v, "list");
    ASSERT_NOT_NULL(list);
    ASSERT_EQ(list->type, XMLRPC_ARRAY);
    ASSERT_EQ(list->n_items, 3);
    ASSERT_STR_EQ(list->items[1]->str, "Egypt");
    ASSERT_FALSE(list->items[2]->b);
    ASSERT_NULL(xmlrpc_struct_get(v, "missing"));
    xmlrpc_value_free(v);

    v = one_value("<value><array><data/></array></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->n_items, 0);
    xmlrpc_value_free(v);

    v = one_value("<value><struct/></value>");
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(v->type, XMLRPC_STRUCT);
    xmlrpc_value_free(v);
}

TEST(call)
{
    struct xmlrpc_call *c = NULL;
    const char *why;
    ASSERT_EQ(parse_call("<methodCall>\n <methodName>examples.getStateName</methodName>\n"
                         " <params><param><value><i4>6</i4></value></param>"
                         "<param><value>x</value></param></params>\n</methodCall>",
                         &c, &why),
              0);
    ASSERT_NOT_NULL(c);
    ASSERT_STR_EQ(c->method, "examples.getStateName");
    ASSERT_EQ(c->params->n_items, 2);
    ASSERT_EQ(c->params->items[0]->i, 6);
    xmlrpc_call_free(c);

    c = NULL;
    ASSERT_EQ(parse_call("<methodCall><methodName>system.listMethods</methodName></methodCall>", &c,
                         &why),
              0);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(c->params->n_items, 0);
    xmlrpc_call_free(c);

    c = NULL;
    ASSERT_EQ(parse_call("<methodCall><methodName>a</methodName><params/></methodCall>", &c, &why),
              0);
    xmlrpc_call_free(c);
}

TEST(malformed_calls)
{
    static const char *const bad[] = {
        "<methodResponse/>",
        "<methodCall/>",
        "<methodCall><methodName></methodName></methodCall>",
        "<methodCall><methodName>bad name</methodName></methodCall>",
        "<methodCall><methodName>a<b/></methodName></methodCall>",
        "<methodCall>text<methodName>a</methodName></methodCall>",
        "<methodCall><params/><methodName>a</methodName></methodCall>",
        "<methodCall><methodName>a</methodName><params/><params/></methodCall>",
        "<methodCall><methodName>a</methodName><extra/></methodCall>",
        "<methodCall><methodName>a</methodName><params><value>1</value></params></methodCall>",
        "<methodCall><methodName>a</methodName><params><param/></params></methodCall>",
        "<methodCall><methodName>a</methodName><params><param><value/><value/></param></params>"
        "</methodCall>",
        "<methodCall><methodName xmlns='urn:other'>a</methodName></methodCall>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct xmlrpc_call *c = NULL;
        const char *why = NULL;
        int rc = parse_call(bad[i], &c, &why);
        if (rc != YB_EINVAL)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        ASSERT_EQ(rc, YB_EINVAL);
        ASSERT_NULL(c);
        ASSERT_NOT_NULL(why);
    }
}

TEST(malformed_values)
{
    ASSERT_TRUE(value_fails("<value><int>2147483648</int></value>"));
    ASSERT_TRUE(value_fails("<value><int>-2147483649</int></value>"));
    ASSERT_TRUE(value_fails("<value><int>99999999999999999999999</int></value>"));
    ASSERT_TRUE(value_fails("<value><int>12a</int></value>"));
    ASSERT_TRUE(value_fails("<value><int></int></value>"));
    ASSERT_TRUE(value_fails("<value><int>-</int></value>"));
    ASSERT_TRUE(value_fails("<value><i4> 1</i4></value>"));
    ASSERT_TRUE(value_fails("<value><boolean>true</boolean></value>"));
    ASSERT_TRUE(value_fails("<value><boolean>2</boolean></value>"));
    ASSERT_TRUE(value_fails("<value><double>abc</double></value>"));
    ASSERT_TRUE(value_fails("<value><double>inf</double></value>"));
    ASSERT_TRUE(value_fails("<value><double>nan</double></value>"));
    ASSERT_TRUE(value_fails("<value><double>1e999</double></value>"));
    ASSERT_TRUE(value_fails("<value><double>0x10</double></value>"));
    ASSERT_TRUE(value_fails("<value><double>.</double></value>"));
    ASSERT_TRUE(value_fails("<value><double>1e</double></value>"));
    ASSERT_TRUE(value_fails("<value><dateTime.iso8601>yesterday</dateTime.iso8601></value>"));
    ASSERT_TRUE(
        value_fails("<value><dateTime.iso8601>19981317T14:08:55</dateTime.iso8601></value>"));
    ASSERT_TRUE(
        value_fails("<value><dateTime.iso8601>19980717T25:08:55</dateTime.iso8601></value>"));
    ASSERT_TRUE(value_fails("<value><dateTime.iso8601>19980717T14:08</dateTime.iso8601></value>"));
    ASSERT_TRUE(value_fails("<value><base64>!!!!</base64></value>"));
    ASSERT_TRUE(value_fails("<value><base64>abc</base64></value>"));
    ASSERT_TRUE(value_fails("<value><nil/></value>"));
    ASSERT_TRUE(value_fails("<value><string><b/></string></value>"));
    ASSERT_TRUE(value_fails("<value>text<int>1</int></value>"));
    ASSERT_TRUE(value_fails("<value><int>1</int><int>2</int></value>"));
    ASSERT_TRUE(value_fails("<value><array/></value>"));
    ASSERT_TRUE(value_fails("<value><array><data><int>1</int></data></array></value>"));
    ASSERT_TRUE(value_fails("<value><array><data/><data/></array></value>"));
    ASSERT_TRUE(value_fails("<value><struct><member><name>a</name></member></struct></value>"));
    ASSERT_TRUE(value_fails("<value><struct><member><value>1</value><name>a</name></member>"
                            "</struct></value>"));
    ASSERT_TRUE(value_fails("<value><struct><member><name>a</name><value>1</value></member>"
                            "<member><name>a</name><value>2</value></member></struct></value>"));
    ASSERT_TRUE(value_fails("<value><struct><value>1</value></struct></value>"));
    ASSERT_TRUE(value_fails("<value><struct>x</struct></value>"));
}

/* <value><array><data>... depth times ...</data></array></value> */
static char *
nested(int depth)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < depth; i++)
        buf_puts(&b, "<value><array><data>");
    buf_puts(&b, "<value>leaf</value>");
    for (int i = 0; i < depth; i++)
        buf_puts(&b, "</data></array></value>");
    return buf_steal(&b);
}

TEST(nesting_limit)
{
    /* The outermost <value/> is depth 1; the leaf is depth+1. */
    char *ok = nested(XMLRPC_MAX_DEPTH - 1);
    struct xmlrpc_value *v = one_value(ok);
    ASSERT_NOT_NULL(v);
    xmlrpc_value_free(v);
    yb_free(ok);
    char *deep = nested(XMLRPC_MAX_DEPTH);
    ASSERT_TRUE(value_fails(deep));
    yb_free(deep);
    char *deeper = nested(1000);
    ASSERT_TRUE(value_fails(deeper));
    yb_free(deeper);
}

static struct xmlrpc_value *
sample(void)
{
    struct xmlrpc_value *st = xmlrpc_struct_new();
    struct xmlrpc_value *arr = xmlrpc_array_new();
    xmlrpc_array_append(arr, xmlrpc_int_new(INT32_MIN));
    xmlrpc_array_append(arr, xmlrpc_bool_new(true));
    xmlrpc_array_append(arr, xmlrpc_string_new("<tag> & 'quote' \"dq\" \xc3\xa9"));
    xmlrpc_array_append(arr, xmlrpc_double_new(0.1));
    xmlrpc_array_append(arr, xmlrpc_double_new(-1.5e300));
    xmlrpc_array_append(arr, xmlrpc_datetime_new("20240102T03:04:05"));
    xmlrpc_array_append(arr, xmlrpc_base64_new("\0\1\2\xff", 4));
    xmlrpc_array_append(arr, xmlrpc_string_new(""));
    xmlrpc_array_append(arr, xmlrpc_array_new());
    xmlrpc_struct_set(st, "list", arr);
    xmlrpc_struct_set(st, "empty", xmlrpc_struct_new());
    xmlrpc_struct_set(st, "n", xmlrpc_int_new(7));
    xmlrpc_struct_set(st, "n", xmlrpc_int_new(8)); /* replaces */
    return st;
}

TEST(round_trip_call)
{
    struct xmlrpc_value *params = xmlrpc_array_new();
    ASSERT_EQ(xmlrpc_array_append(params, sample()), 0);
    ASSERT_EQ(xmlrpc_array_append(params, xmlrpc_string_new("second")), 0);
    struct stanza *q = stanza_new("query", NS_RPC);
    struct xml_node *mc = xmlrpc_call_to_xml(stanza_root(q), "yerba.test", params);
    ASSERT_NOT_NULL(mc);
    /* Through text and back, as it travels. */
    char *xml = stanza_to_string(q);
    struct stanza *again = stanza_parse(xml, strlen(xml));
    ASSERT_NOT_NULL(again);
    struct xmlrpc_call *c = NULL;
    const char *why = NULL;
    ASSERT_EQ(xmlrpc_call_parse(node_first_element(stanza_root(again)), &c, &why), 0);
    ASSERT_STR_EQ(c->method, "yerba.test");
    ASSERT_TRUE(xmlrpc_value_equal(c->params, params));
    ASSERT_EQ(xmlrpc_struct_get(c->params->items[0], "n")->i, 8);
    xmlrpc_call_free(c);
    stanza_unref(again);
    yb_free(xml);
    stanza_unref(q);
    xmlrpc_value_free(params);
}

TEST(round_trip_response_and_fault)
{
    struct xmlrpc_value *v = sample();
    struct stanza *q = stanza_new("query", NS_RPC);
    ASSERT_NOT_NULL(xmlrpc_response_to_xml(stanza_root(q), v));
    struct xmlrpc_value *got = NULL;
    int32_t code = 0;
    char *fs = NULL;
    const char *why = NULL;
    ASSERT_EQ(xmlrpc_response_parse(node_first_element(stanza_root(q)), &got, &code, &fs, &why), 0);
    ASSERT_TRUE(xmlrpc_value_equal(got, v));
    ASSERT_NULL(fs);
    xmlrpc_value_free(got);
    stanza_unref(q);

    q = stanza_new("query", NS_RPC);
    ASSERT_NOT_NULL(xmlrpc_fault_to_xml(stanza_root(q), XMLRPC_FAULT_NO_METHOD, "no such method"));
    char *xml = stanza_to_string(q);
    ASSERT_NOT_NULL(strstr(xml, "<methodResponse><fault><value><struct><member><name>faultCode"
                                "</name><value><int>-32601</int></value></member>"));
    yb_free(xml);
    ASSERT_EQ(xmlrpc_response_parse(node_first_element(stanza_root(q)), &got, &code, &fs, &why), 0);
    ASSERT_NULL(got);
    ASSERT_EQ(code, XMLRPC_FAULT_NO_METHOD);
    ASSERT_STR_EQ(fs, "no such method");
    yb_free(fs);
    stanza_unref(q);
    xmlrpc_value_free(v);
}

TEST(malformed_responses)
{
    static const char *const bad[] = {
        "<methodResponse/>",
        "<methodResponse><params/></methodResponse>",
        "<methodResponse><params><param><value>1</value></param><param><value>2</value></param>"
        "</params></methodResponse>",
        "<methodResponse><fault><value><struct/></value></fault></methodResponse>",
        "<methodResponse><fault><value><struct><member><name>faultCode</name><value>x</value>"
        "</member><member><name>faultString</name><value>y</value></member></struct></value>"
        "</fault></methodResponse>",
        "<methodResponse><params><param><value>1</value></param></params><fault/></methodResponse>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct stanza *st = stanza_parse(bad[i], strlen(bad[i]));
        ASSERT_NOT_NULL(st);
        struct xmlrpc_value *got = NULL;
        int32_t code;
        char *fs = NULL;
        const char *why = NULL;
        ASSERT_EQ(xmlrpc_response_parse(stanza_root(st), &got, &code, &fs, &why), YB_EINVAL);
        ASSERT_NULL(got);
        ASSERT_NULL(fs);
        stanza_unref(st);
    }
}

TEST(constructors)
{
    ASSERT_NULL(xmlrpc_double_new(1.0 / 0.0));
    ASSERT_NULL(xmlrpc_datetime_new("2024-01-02"));
    ASSERT_NULL(xmlrpc_datetime_new("20240102T03:04:05+25:00"));
    struct xmlrpc_value *d = xmlrpc_datetime_new("20240102T03:04:05-05:30");
    ASSERT_NOT_NULL(d);
    xmlrpc_value_free(d);
    struct xmlrpc_value *i = xmlrpc_int_new(1);
    ASSERT_EQ(xmlrpc_array_append(i, xmlrpc_int_new(2)), YB_EINVAL);
    ASSERT_EQ(xmlrpc_struct_set(i, "x", xmlrpc_int_new(2)), YB_EINVAL);
    xmlrpc_value_free(i);
    ASSERT_STR_EQ(xmlrpc_type_name(XMLRPC_DATETIME), "dateTime.iso8601");
    xmlrpc_value_free(NULL);
    xmlrpc_call_free(NULL);
}

TEST(out_of_memory)
{
    /* Every allocation failure point of a parse and an encode fails cleanly. */
    const char *xml = "<query xmlns='jabber:iq:rpc'><methodCall><methodName>m</methodName><params>"
                      "<param><value><struct><member><name>a</name><value><array><data><value>"
                      "<base64>AAEC</base64></value><value><double>1.5</double></value></data>"
                      "</array></value></member></struct></value></param></params></methodCall>"
                      "</query>";
    struct stanza *st = stanza_parse(xml, strlen(xml));
    ASSERT_NOT_NULL(st);
    bool succeeded = false;
    for (long n = 0; n < 200 && !succeeded; n++) {
        struct xmlrpc_call *c = NULL;
        const char *why = NULL;
        yb_alloc_fail_after(n);
        int rc = xmlrpc_call_parse(node_first_element(stanza_root(st)), &c, &why);
        yb_alloc_fail_after(-1);
        if (rc == 0) {
            succeeded = true;
            for (long k = 0; k < 200; k++) {
                struct stanza *q2 = stanza_new("query", NS_RPC);
                yb_alloc_fail_after(k);
                struct xml_node *r = xmlrpc_response_to_xml(stanza_root(q2), c->params);
                yb_alloc_fail_after(-1);
                stanza_unref(q2);
                if (r != NULL)
                    break;
            }
        } else {
            ASSERT_EQ(rc, YB_ENOMEM);
        }
        xmlrpc_call_free(c);
    }
    ASSERT_TRUE(succeeded);
    stanza_unref(st);
}

TEST_MAIN(TEST_CASE(scalars), TEST_CASE(array_and_struct), TEST_CASE(call),
          TEST_CASE(malformed_calls), TEST_CASE(malformed_values), TEST_CASE(nesting_limit),
          TEST_CASE(round_trip_call), TEST_CASE(round_trip_response_and_fault),
          TEST_CASE(malformed_responses), TEST_CASE(constructors), TEST_CASE(out_of_memory))
