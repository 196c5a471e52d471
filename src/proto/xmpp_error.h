/* SPDX-License-Identifier: MIT
 *
 * xmpp_error.h: stanza errors (RFC 6120 §8.3) and stream errors (RFC 6120 §4.9) as
 * data, turned into XML in exactly one place.
 */
#ifndef YB_PROTO_XMPP_ERROR_H
#define YB_PROTO_XMPP_ERROR_H

#include "buf.h"
#include "stanza.h"

#define NS_STANZAS       "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"

enum stanza_error_cond {
    SE_BAD_REQUEST,
    SE_CONFLICT,
    SE_FEATURE_NOT_IMPLEMENTED,
    SE_FORBIDDEN,
    SE_GONE,
    SE_INTERNAL_SERVER_ERROR,
    SE_ITEM_NOT_FOUND,
    SE_JID_MALFORMED,
    SE_NOT_ACCEPTABLE,
    SE_NOT_ALLOWED,
    SE_NOT_AUTHORIZED,
    SE_POLICY_VIOLATION,
    SE_RECIPIENT_UNAVAILABLE,
    SE_REDIRECT,
    SE_REGISTRATION_REQUIRED,
    SE_REMOTE_SERVER_NOT_FOUND,
    SE_REMOTE_SERVER_TIMEOUT,
    SE_RESOURCE_CONSTRAINT,
    SE_SERVICE_UNAVAILABLE,
    SE_SUBSCRIPTION_REQUIRED,
    SE_UNDEFINED_CONDITION,
    SE_UNEXPECTED_REQUEST,
};

enum stream_error_cond {
    STE_BAD_FORMAT,
    STE_BAD_NAMESPACE_PREFIX,
    STE_CONFLICT,
    STE_CONNECTION_TIMEOUT,
    STE_HOST_GONE,
    STE_HOST_UNKNOWN,
    STE_IMPROPER_ADDRESSING,
    STE_INTERNAL_SERVER_ERROR,
    STE_INVALID_FROM,
    STE_INVALID_NAMESPACE,
    STE_INVALID_XML,
    STE_NOT_AUTHORIZED,
    STE_NOT_WELL_FORMED,
    STE_POLICY_VIOLATION,
    STE_REMOTE_CONNECTION_FAILED,
    STE_RESET,
    STE_RESOURCE_CONSTRAINT,
    STE_RESTRICTED_XML,
    STE_SEE_OTHER_HOST,
    STE_SYSTEM_SHUTDOWN,
    STE_UNDEFINED_CONDITION,
    STE_UNSUPPORTED_ENCODING,
    STE_UNSUPPORTED_FEATURE,
    STE_UNSUPPORTED_STANZA_TYPE,
    STE_UNSUPPORTED_VERSION,
};

/* "bad-request", ... */
const char *stanza_error_name(enum stanza_error_cond c);
/* The RFC 6120 §8.3.3 default type: "modify", "cancel", "auth", "wait". */
const char *stanza_error_type(enum stanza_error_cond c);
const char *stream_error_name(enum stream_error_cond c);

/* Builds the error reply to orig (RFC 6120 §8.3.1): same name and id, to/from
 * swapped, type="error", orig's children copied (except for iq results, where it
 * is optional, they are kept), and <error type=...><cond/><text/>?</error>. text may
 * be NULL. Returns: new reference or NULL on OOM. Borrowed: orig. */
struct stanza *stanza_error_reply(const struct stanza *orig, enum stanza_error_cond c,
                                  const char *text);
/* Appends <stream:error><cond xmlns=.../><text/>?</stream:error> (prefix "stream").
 * Returns 0 or YB_ENOMEM. */
int stream_error_serialize(enum stream_error_cond c, const char *text, struct buf *out);

#endif
