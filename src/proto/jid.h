/* SPDX-License-Identifier: MIT
 *
 * jid.h: XMPP addresses (RFC 7622 syntax; normalised with the RFC 3920 stringprep
 * profiles Nodeprep, Nameprep and Resourceprep, as Prosody and ejabberd do, via
 * libidn). Each part is limited to 1023 bytes; the domain must not be empty.
 */
#ifndef YB_PROTO_JID_H
#define YB_PROTO_JID_H

#include <stdbool.h>

struct jid {
    const char *node;     /* NULL when absent */
    const char *domain;   /* never NULL */
    const char *resource; /* NULL when absent */
    const char *bare;     /* node@domain, or domain */
    const char *full;     /* bare plus /resource when present */
};

/* Parses and normalises s. Returns: a new jid (jid_free; one allocation), or NULL
 * when s is not a valid JID (jid-malformed) or on OOM. */
struct jid *jid_new(const char *s);
/* Builds from parts (each normalised; node/resource may be NULL). NULL if invalid. */
struct jid *jid_from_parts(const char *node, const char *domain, const char *resource);
/* Copy. Returns: new jid, or NULL on OOM. */
struct jid *jid_dup(const struct jid *j);
/* Accepts NULL. */
void jid_free(struct jid *j);

/* Normalises a whole JID string. Returns: new string (yb_free) or NULL if invalid. */
char *jid_normalize(const char *s);
/* The bare form of a JID string, normalised. Returns: new string or NULL. */
char *jid_bare_of(const char *s);
/* Stringprep of one part. Returns: new string (yb_free) or NULL if invalid. */
char *jid_nodeprep(const char *s);
char *jid_nameprep(const char *s);
char *jid_resourceprep(const char *s);

/* True when both are the same JID after normalisation (NULLs compare equal). */
bool jid_equal(const struct jid *a, const struct jid *b);

#endif
