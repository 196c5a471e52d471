/* SPDX-License-Identifier: MIT
 *
 * xmpp_error.c: the one place where stanza errors (RFC 6120 §8.3) and stream errors
 * (RFC 6120 §4.9) become XML: condition names, default error types (§8.3.3), the
 * error reply to a stanza (§8.3.1) and the <stream:error/> element (§4.9.2).
 * Deciding *when* to send an error is the caller's business.
 */
#include "xmpp_error.h"

#include <string.h>

#include "error.h"

struct stanza_cond_info {
    const char *name;
    const char *type; /* RFC 6120 §8.3.3 */
};

static const struct stanza_cond_info stanza_conds[] = {
    [SE_BAD_REQUEST] = {"bad-request", "modify"},
    [SE_CONFLICT] = {"conflict", "cancel"},
    [SE_FEATURE_NOT_IMPLEMENTED] = {"feature-not-implemented", "cancel"},
    [SE_FORBIDDEN] = {"forbidden", "auth"},
    [SE_GONE] = {"gone", "cancel"},
    [SE_INTERNAL_SERVER_ERROR] = {"internal-server-error", "cancel"},
    [SE_ITEM_NOT_FOUND] = {"item-not-found", "cancel"},
    [SE_JID_MALFORMED] = {"jid-malformed", "modify"},
    [SE_NOT_ACCEPTABLE] = {"not-acceptable", "modify"},
    [SE_NOT_ALLOWED] = {"not-allowed", "cancel"},
    [SE_NOT_AUTHORIZED] = {"not-authorized", "auth"},
    [SE_POLICY_VIOLATION] = {"policy-violation", "modify"},
    [SE_RECIPIENT_UNAVAILABLE] = {"recipient-unavailable", "wait"},
    [SE_REDIRECT] = {"redirect", "modify"},
    [SE_REGISTRATION_REQUIRED] = {"registration-required", "auth"},
    [SE_REMOTE_SERVER_NOT_FOUND] = {"remote-server-not-found", "cancel"},
    [SE_REMOTE_SERVER_TIMEOUT] = {"remote-server-timeout", "wait"},
    [SE_RESOURCE_CONSTRAINT] = {"resource-constraint", "wait"},
    [SE_SERVICE_UNAVAILABLE] = {"service-unavailable", "cancel"},
    [SE_SUBSCRIPTION_REQUIRED] = {"subscription-required", "auth"},
    [SE_UNDEFINED_CONDITION] = {"undefined-condition", "cancel"},
    [SE_UNEXPECTED_REQUEST] = {"unexpected-request", "wait"},
};

#define N_STANZA_CONDS (sizeof stanza_conds / sizeof stanza_conds[0])

static const char *const stream_conds[] = {
    [STE_BAD_FORMAT] = "bad-format",
    [STE_BAD_NAMESPACE_PREFIX] = "bad-namespace-prefix",
    [STE_CONFLICT] = "conflict",
    [STE_CONNECTION_TIMEOUT] = "connection-timeout",
    [STE_HOST_GONE] = "host-gone",
    [STE_HOST_UNKNOWN] = "host-unknown",
    [STE_IMPROPER_ADDRESSING] = "improper-addressing",
    [STE_INTERNAL_SERVER_ERROR] = "internal-server-error",
    [STE_INVALID_FROM] = "invalid-from",
    [STE_INVALID_NAMESPACE] = "invalid-namespace",
    [STE_INVALID_XML] = "invalid-xml",
    [STE_NOT_AUTHORIZED] = "not-authorized",
    [STE_NOT_WELL_FORMED] = "not-well-formed",
    [STE_POLICY_VIOLATION] = "policy-violation",
    [STE_REMOTE_CONNECTION_FAILED] = "remote-connection-failed",
    [STE_RESET] = "reset",
    [STE_RESOURCE_CONSTRAINT] = "resource-constraint",
    [STE_RESTRICTED_XML] = "restricted-xml",
    [STE_SEE_OTHER_HOST] = "see-other-host",
    [STE_SYSTEM_SHUTDOWN] = "system-shutdown",
    [STE_UNDEFINED_CONDITION] = "undefined-condition",
    [STE_UNSUPPORTED_ENCODING] = "unsupported-encoding",
    [STE_UNSUPPORTED_FEATURE] = "unsupported-feature",
    [STE_UNSUPPORTED_STANZA_TYPE] = "unsupported-stanza-type",
    [STE_UNSUPPORTED_VERSION] = "unsupported-version",
};

#define N_STREAM_CONDS (sizeof stream_conds / sizeof stream_conds[0])

/* Out-of-range values (a bug in the caller) become undefined-condition rather than a
 * read past the table. */
const char *
stanza_error_name(enum stanza_error_cond c)
{
    return (unsigned)c < N_STANZA_CONDS ? stanza_conds[c].name
                                        : stanza_conds[SE_UNDEFINED_CONDITION].name;
}

const char *
stanza_error_type(enum stanza_error_cond c)
{
    return (unsigned)c < N_STANZA_CONDS ? stanza_conds[c].type
                                        : stanza_conds[SE_UNDEFINED_CONDITION].type;
}

const char *
stream_error_name(enum stream_error_cond c)
{
    return (unsigned)c < N_STREAM_CONDS ? stream_conds[c] : stream_conds[STE_UNDEFINED_CONDITION];
}

struct stanza *
stanza_error_reply(const struct stanza *orig, enum stanza_error_cond c, const char *text)
{
    const struct xml_node *o = stanza_root(orig);
    struct stanza *st = stanza_new(o->name, o->ns);
    if (st == NULL)
        return NULL;
    struct xml_node *root = stanza_root(st);
    const char *from = node_attr(o, "from");
    const char *to = node_attr(o, "to");
    const char *id = node_attr(o, "id");
    /* RFC 6120 §8.3.1: to/from swapped (a missing 'from' means the sender's own
     * server or account, which is exactly where an absent 'to' delivers), same id. */
    if ((from && node_set_attr(root, "to", from) != 0) ||
        (to && node_set_attr(root, "from", to) != 0) ||
        (id && node_set_attr(root, "id", id) != 0) || node_set_attr(root, "type", "error") != 0)
        goto fail;

    /* RFC 6120 §8.3.1 (item 4): the original payload may be included; we include it
     * so that the sender can tell which request failed. */
    for (const struct xml_node *n = o->first_child; n != NULL; n = n->next)
        if (node_append_copy(root, n) == NULL)
            goto fail;

    struct xml_node *err = node_add_child(root, "error", NULL);
    if (err == NULL || node_set_attr(err, "type", stanza_error_type(c)) != 0 ||
        node_add_child(err, stanza_error_name(c), NS_STANZAS) == NULL)
        goto fail;
    if (text != NULL && node_add_text_child(err, "text", NS_STANZAS, text) == NULL)
        goto fail;
    return st;
fail:
    stanza_unref(st);
    return NULL;
}

int
stream_error_serialize(enum stream_error_cond c, const char *text, struct buf *out)
{
    /* RFC 6120 §4.9.2: the condition and <text/> are qualified by the streams
     * namespace; <stream:error/> uses the prefix bound in the stream header. */
    size_t old_len = out->len;
    int rc =
        buf_printf(out, "<stream:error><%s xmlns='" NS_STREAM_ERRORS "'/>", stream_error_name(c));
    if (rc == 0 && text != NULL) {
        rc = buf_puts(out, "<text xmlns='" NS_STREAM_ERRORS "'>");
        if (rc == 0)
            rc = buf_put_xml_escaped(out, text, strlen(text));
        if (rc == 0)
            rc = buf_puts(out, "</text>");
    }
    if (rc == 0)
        rc = buf_puts(out, "</stream:error>");
    if (rc != 0 && out->data != NULL) {
        /* Leave out as it was: half an element must never reach a socket. */
        out->len = old_len;
        out->data[old_len] = '\0';
    }
    return rc == 0 ? 0 : YB_ENOMEM;
}
