/* SPDX-License-Identifier: MIT
 *
 * internal.h: helpers shared by the files of src/proto and test hooks. Nothing here is
 * part of the layer's interface: other layers must not include this file.
 */
#ifndef YB_PROTO_INTERNAL_H
#define YB_PROTO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <stringprep.h>

struct scram_server;
struct scram_client;

/* True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) and contains no NUL. */
bool proto__utf8_valid(const char *s, size_t len);

/* Applies a stringprep profile to s[0..len). unassigned_ok: the RFC 3454 §7 "query"
 * rule (unassigned code points pass through) instead of the "stored string" rule.
 * max_len: the longest acceptable result in bytes. Returns 0 and *out (yb_free), or
 * YB_EINVAL (bad UTF-8, prohibited output, bidi failure, result too long) or
 * YB_ENOMEM. */
int proto__stringprep(const char *s, size_t len, const Stringprep_profile *profile,
                      bool unassigned_ok, size_t max_len, char **out);

/* SASLprep (RFC 4013) of a NUL-terminated string; see proto__stringprep. */
int proto__saslprep(const char *s, bool unassigned_ok, char **out);

/* Test hooks: replace the random part of the next nonce. server_part (printable
 * ASCII without ',') is appended to the client nonce by scram_server_first();
 * client_nonce is used by scram_client_first(). Return 0 or YB_EINVAL / YB_ENOMEM. */
int scram_server__set_nonce(struct scram_server *s, const char *server_part);
int scram_client__set_nonce(struct scram_client *c, const char *client_nonce);
/* Test hook: make the client send the gs2 flag 'y' (it supports channel binding
 * but believes the server does not) instead of 'n'. Only for clients created without
 * a binding name. Returns 0 or YB_EINVAL. */
int scram_client__set_flag_y(struct scram_client *c);

#endif
