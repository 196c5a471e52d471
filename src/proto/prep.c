/* SPDX-License-Identifier: MIT
 *
 * prep.c: strict UTF-8 validation (RFC 3629) and a stringprep wrapper (RFC 3454 via
 * libidn) that allocates with yb_malloc and bounds the result, shared by jid.c,
 * sasl.c and scram.c. libidn is only ever given validated UTF-8.
 */
#include "internal.h"

#include <string.h>

#include "alloc.h"
#include "error.h"

bool
proto__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        i += n + 1;
    }
    return true;
}

/* Printable ASCII (U+0020..U+007E) through the four profiles we use needs no
 * tables: NFKC, the B.1 mappings, bidi and every prohibited table but two leave it
 * alone. Nodeprep folds case (B.2) and prohibits the space (C.1.1) and
 * "&'/:<>@ (RFC 3920 Appendix A.5); nameprep folds case; resourceprep and SASLprep
 * keep it as it is. This is most JIDs, and libidn's general path costs tens of
 * thousands of instructions per string (UCS-4 conversion and normalisation), which
 * made it the largest cost of routing a message. Returns 1 with the result (0 or
 * YB_EINVAL in *rc and *out), or 0 when s is not for the fast path. */
static int
prep_ascii(const char *s, size_t len, const Stringprep_profile *profile, size_t max_len, char **out,
           int *rc)
{
    bool node = profile == stringprep_xmpp_nodeprep;
    bool fold = node || profile == stringprep_nameprep;
    if (!fold && profile != stringprep_xmpp_resourceprep && profile != stringprep_saslprep)
        return 0;
    bool prohibited = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e)
            return 0;
        if (node && strchr(" \"&'/:<>@", c) != NULL)
            prohibited = true;
    }
    *out = NULL;
    if (len > max_len || prohibited) {
        *rc = YB_EINVAL;
        return 1;
    }
    char *buf = yb_malloc(len + 1);
    if (buf == NULL) {
        *rc = YB_ENOMEM;
        return 1;
    }
    for (size_t i = 0; i < len; i++)
        buf[i] = fold && s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    buf[len] = '\0';
    *out = buf;
    *rc = 0;
    return 1;
}

int
proto__stringprep(const char *s, size_t len, const Stringprep_profile *profile, bool unassigned_ok,
                  size_t max_len, char **out)
{
    *out = NULL;
    int fast_rc;
    if (prep_ascii(s, len, profile, max_len, out, &fast_rc))
        return fast_rc;
    if (!proto__utf8_valid(s, len))
        return YB_EINVAL;
    /* stringprep() works in place and fails with TOO_SMALL_BUFFER only when the
     * final result does not fit, so a buffer of max_len + 1 bytes (or the input's
     * size, when longer: mappings may shrink it) answers the length question. */
    size_t cap = (len > max_len ? len : max_len) + 1;
    char *buf = yb_malloc(cap);
    if (buf == NULL)
        return YB_ENOMEM;
    memcpy(buf, s, len);
    buf[len] = '\0';
    int rc = stringprep(buf, cap, unassigned_ok ? 0 : STRINGPREP_NO_UNASSIGNED, profile);
    if (rc == STRINGPREP_MALLOC_ERROR) {
        yb_free(buf);
        return YB_ENOMEM;
    }
    if (rc != STRINGPREP_OK || strlen(buf) > max_len) {
        yb_free(buf);
        return YB_EINVAL;
    }
    *out = buf;
    return 0;
}

int
proto__saslprep(const char *s, bool unassigned_ok, char **out)
{
    /* Longer than any password or user name we accept anywhere (PLAIN parts are
     * limited to 1 KiB), with room for NFKC expansion. */
    return proto__stringprep(s, strlen(s), stringprep_saslprep, unassigned_ok, 4096, out);
}
