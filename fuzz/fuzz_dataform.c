/* SPDX-License-Identifier: MIT
 *
 * fuzz_dataform.c: libFuzzer target for XEP-0004 form parsing (src/proto/dataform.c).
 * The input is one XML element. Besides "no crash, no leak", it checks that a parsed
 * form serialises, parses back (unless an untyped field holds several values, which
 * only a submission may do) to a form that serialises identically, and that
 * validating a form against itself does not fail on memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dataform.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
serialise(const struct dataform *f)
{
    struct stanza *st = stanza_new("q", "urn:fuzz");
    if (st == NULL || dataform_to_xml(f, stanza_root(st)) == NULL)
        abort();
    char *s = stanza_to_string(st);
    if (s == NULL)
        abort();
    stanza_unref(st);
    return s;
}

static bool
has_untyped_multi(const struct xml_node *x)
{
    for (const struct xml_node *c = node_first_element(x); c; c = node_next_element(c))
        if (strcmp(c->name, "field") == 0 && strcmp(c->ns, NS_DATA) == 0 &&
            node_attr(c, "type") == NULL) {
            int n = 0;
            for (const struct xml_node *v = node_first_element(c); v; v = node_next_element(v))
                n += strcmp(v->name, "value") == 0 && strcmp(v->ns, NS_DATA) == 0;
            if (n > 1)
                return true;
        }
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stanza *in = stanza_parse((const char *)data, size);
    if (in == NULL)
        return 0;
    const char *why = NULL;
    struct dataform *f = dataform_parse(stanza_root(in), &why);
    if (f == NULL) {
        if (why == NULL)
            abort();
        stanza_unref(in);
        return 0;
    }

    char *s1 = serialise(f);
    struct stanza *again = stanza_new("q", "urn:fuzz");
    if (again == NULL)
        abort();
    struct xml_node *x = dataform_to_xml(f, stanza_root(again));
    if (x == NULL)
        abort();
    struct dataform *g = dataform_parse(x, &why);
    if (g == NULL && !has_untyped_multi(stanza_root(in)))
        abort();
    if (g != NULL) {
        char *s2 = serialise(g);
        if (strcmp(s1, s2) != 0 || g->n_fields != f->n_fields)
            abort();
        yb_free(s2);
    }
    if (dataform_validate(f, f, true, &why) == YB_ENOMEM)
        abort();

    dataform_free(g);
    yb_free(s1);
    stanza_unref(again);
    dataform_free(f);
    stanza_unref(in);
    return 0;
}
