/* SPDX-License-Identifier: MIT
 *
 * sasl.h: SASL helpers shared by server and client: the PLAIN message (RFC 4616),
 * SASLprep (RFC 4013) and the names of SASL failure conditions (RFC 6120 §6.5).
 */
#ifndef YB_PROTO_SASL_H
#define YB_PROTO_SASL_H

#include <stddef.h>

/* Parses "authzid NUL authcid NUL passwd". On success the three strings point into
 * *storage (yb_free it); authzid is NULL when empty. Returns 0 or YB_EINVAL. */
int sasl_plain_parse(const char *msg, size_t len, char **storage, const char **authzid,
                     const char **authcid, const char **password);
/* SASLprep with unassigned code points rejected (stored strings).
 * Returns: new string (yb_free) or NULL if prohibited. */
char *sasl_saslprep(const char *s);

enum sasl_failure {
    SASL_ABORTED,
    SASL_ACCOUNT_DISABLED,
    SASL_CREDENTIALS_EXPIRED,
    SASL_ENCRYPTION_REQUIRED,
    SASL_INCORRECT_ENCODING,
    SASL_INVALID_AUTHZID,
    SASL_INVALID_MECHANISM,
    SASL_MALFORMED_REQUEST,
    SASL_MECHANISM_TOO_WEAK,
    SASL_NOT_AUTHORIZED,
    SASL_TEMPORARY_AUTH_FAILURE,
};
/* The element name, e.g. "not-authorized". */
const char *sasl_failure_name(enum sasl_failure f);

#endif
