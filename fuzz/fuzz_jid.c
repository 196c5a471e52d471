/* SPDX-License-Identifier: MIT
 *
 * fuzz_jid.c: libFuzzer target for JID parsing and normalisation (src/proto/jid.c).
 * Besides "no crash, no leak", it checks the invariants: every part is within 1023
 * bytes, normalising is idempotent, and rebuilding from the parts gives the same JID.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct jid *j)
{
    if (j->domain == NULL || j->bare == NULL || j->full == NULL || j->domain[0] == '\0')
        abort();
    if (strlen(j->domain) > 1023 || (j->node && (j->node[0] == '\0' || strlen(j->node) > 1023)) ||
        (j->resource && (j->resource[0] == '\0' || strlen(j->resource) > 1023)))
        abort();
    if (strncmp(j->full, j->bare, strlen(j->bare)) != 0)
        abort();

    struct jid *again = jid_new(j->full);
    if (again == NULL || !jid_equal(j, again))
        abort();
    jid_free(again);

    struct jid *parts = jid_from_parts(j->node, j->domain, j->resource);
    if (parts == NULL || !jid_equal(j, parts))
        abort();
    jid_free(parts);

    struct jid *copy = jid_dup(j);
    if (copy == NULL || !jid_equal(j, copy) || strcmp(copy->bare, j->bare) != 0)
        abort();
    jid_free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    struct jid *j = jid_new(s);
    if (j != NULL)
        check(j);
    jid_free(j);

    yb_free(jid_nodeprep(s));
    yb_free(jid_nameprep(s));
    yb_free(jid_resourceprep(s));
    free(s);
    return 0;
}
