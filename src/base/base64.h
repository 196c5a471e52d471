/* SPDX-License-Identifier: MIT
 *
 * base64.h: RFC 4648 base64 (standard alphabet, padded), strict decoding.
 */
#ifndef YB_BASE_BASE64_H
#define YB_BASE_BASE64_H

#include <stddef.h>

/* Encodes len bytes; returns a new NUL-terminated string (yb_free) or NULL. */
char *base64_encode(const void *data, size_t len);
/* Decodes a padded base64 string of slen characters (whitespace is not allowed).
 * Returns a new buffer (yb_free) with *out_len bytes, NUL-terminated for
 * convenience, or NULL on malformed input or OOM. */
unsigned char *base64_decode(const char *s, size_t slen, size_t *out_len);

#endif
