/* SPDX-License-Identifier: MIT
 *
 * sasl.c: the PLAIN message (RFC 4616 §2), SASLprep for stored strings (RFC 4013)
 * and the SASL failure names (RFC 6120 §6.5). Checking the password is the caller's
 * job (scram_keys_check_password); nothing here logs a SASL payload.
 */
#include "sasl.h"

#include <string.h>

#include "alloc.h"
#include "error.h"
#include "internal.h"

/* RFC 4616 allows 255 octets per part; clients in the wild send longer authzids. */
#define SASL_PLAIN_MAX_PART 1024

int
sasl_plain_parse(const char *msg, size_t len, char **storage, const char **authzid,
                 const char **authcid, const char **password)
{
    *storage = NULL;
    *authzid = *authcid = *password = NULL;

    /* message = [authzid] UTF8NUL authcid UTF8NUL passwd: exactly two NULs. */
    if (msg == NULL || len < 4)
        return YB_EINVAL;
    const char *nul1 = memchr(msg, '\0', len);
    if (nul1 == NULL)
        return YB_EINVAL;
    const char *nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - msg));
    if (nul2 == NULL)
        return YB_EINVAL;
    size_t zid_len = (size_t)(nul1 - msg);
    size_t cid_len = (size_t)(nul2 - nul1 - 1);
    size_t pw_len = len - (size_t)(nul2 + 1 - msg);
    if (cid_len == 0 || pw_len == 0 || memchr(nul2 + 1, '\0', pw_len) != NULL)
        return YB_EINVAL;
    if (zid_len > SASL_PLAIN_MAX_PART || cid_len > SASL_PLAIN_MAX_PART ||
        pw_len > SASL_PLAIN_MAX_PART)
        return YB_EINVAL;
    if (!proto__utf8_valid(msg, zid_len) || !proto__utf8_valid(nul1 + 1, cid_len) ||
        !proto__utf8_valid(nul2 + 1, pw_len))
        return YB_EINVAL;

    char *copy = yb_malloc(len + 1);
    if (copy == NULL)
        return YB_ENOMEM;
    memcpy(copy, msg, len);
    copy[len] = '\0';
    *storage = copy;
    *authzid = zid_len ? copy : NULL;
    *authcid = copy + zid_len + 1;
    *password = copy + zid_len + 1 + cid_len + 1;
    return 0;
}

char *
sasl_saslprep(const char *s)
{
    char *out;
    return proto__saslprep(s, false, &out) == 0 ? out : NULL;
}

static const char *const failure_names[] = {
    [SASL_ABORTED] = "aborted",
    [SASL_ACCOUNT_DISABLED] = "account-disabled",
    [SASL_CREDENTIALS_EXPIRED] = "credentials-expired",
    [SASL_ENCRYPTION_REQUIRED] = "encryption-required",
    [SASL_INCORRECT_ENCODING] = "incorrect-encoding",
    [SASL_INVALID_AUTHZID] = "invalid-authzid",
    [SASL_INVALID_MECHANISM] = "invalid-mechanism",
    [SASL_MALFORMED_REQUEST] = "malformed-request",
    [SASL_MECHANISM_TOO_WEAK] = "mechanism-too-weak",
    [SASL_NOT_AUTHORIZED] = "not-authorized",
    [SASL_TEMPORARY_AUTH_FAILURE] = "temporary-auth-failure",
};

const char *
sasl_failure_name(enum sasl_failure f)
{
    if ((unsigned)f >= sizeof failure_names / sizeof failure_names[0])
        return "not-authorized";
    return failure_names[f];
}
