/* SPDX-License-Identifier: MIT
 *
 * fuzz_xmlrpc.c: libFuzzer target for the XML-RPC codec (src/proto/xmlrpc.c). The
 * input is one XML element (a <methodCall/> or <methodResponse/>). Besides "no
 * crash, no leak", it checks that whatever decodes re-encodes and decodes to an
 * equal value (round trip).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "xmlrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_call(const struct xmlrpc_call *c)
{
    struct stanza *q = stanza_new("query", NS_RPC);
    if (q == NULL)
        return;
    if (xmlrpc_call_to_xml(stanza_root(q), c->method, c->params) == NULL)
        abort();
    struct xmlrpc_call *again = NULL;
    const char *why;
    if (xmlrpc_call_parse(node_first_element(stanza_root(q)), &again, &why) != 0)
        abort();
    if (strcmp(again->method, c->method) != 0 || !xmlrpc_value_equal(again->params, c->params))
        abort();
    xmlrpc_call_free(again);
    stanza_unref(q);
}

static void
check_response(const struct xmlrpc_value *v)
{
    struct stanza *q = stanza_new("query", NS_RPC);
    if (q == NULL)
        return;
    if (xmlrpc_response_to_xml(stanza_root(q), v) == NULL)
        abort();
    struct xmlrpc_value *again = NULL;
    int32_t code;
    char *fs = NULL;
    const char *why;
    if (xmlrpc_response_parse(node_first_element(stanza_root(q)), &again, &code, &fs, &why) != 0)
        abort();
    if (!xmlrpc_value_equal(again, v))
        abort();
    xmlrpc_value_free(again);
    stanza_unref(q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stanza *st = stanza_parse((const char *)data, size);
    if (st == NULL)
        return 0;
    const char *why;
    struct xmlrpc_call *c = NULL;
    if (xmlrpc_call_parse(stanza_root(st), &c, &why) == 0)
        check_call(c);
    xmlrpc_call_free(c);

    struct xmlrpc_value *v = NULL;
    int32_t code;
    char *fs = NULL;
    if (xmlrpc_response_parse(stanza_root(st), &v, &code, &fs, &why) == 0 && v != NULL)
        check_response(v);
    xmlrpc_value_free(v);
    yb_free(fs);
    stanza_unref(st);
    return 0;
}
