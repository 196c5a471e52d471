/* SPDX-License-Identifier: MIT
 *
 * jid.c: parsing (RFC 7622 §3.1) and normalisation of XMPP addresses with the RFC 3920
 * Nodeprep, Nameprep and Resourceprep profiles (libidn). JIDs in stanzas are queries
 * in the RFC 3454 §7 sense, so unassigned code points are let through, as Prosody and
 * ejabberd do; account names get the strict check through SASLprep at login.
 * A struct jid and all its strings are one allocation.
 */
#include "jid.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "internal.h"

#define JID_MAX_PART 1023 /* RFC 7622 §3.2-3.4, in bytes after preparation */
/* Longest input accepted for one part: mappings can shrink a part, but nothing
 * legitimate shrinks by a factor of four, and libidn's work grows with the input. */
#define JID_MAX_PART_INPUT (4 * (JID_MAX_PART + 1))
#define DNS_MAX_LABEL      63

static int
prep_part(const char *s, size_t len, const Stringprep_profile *profile, char **out)
{
    *out = NULL;
    if (len == 0 || len > JID_MAX_PART_INPUT)
        return YB_EINVAL;
    int rc = proto__stringprep(s, len, profile, true, JID_MAX_PART, out);
    if (rc == 0 && (*out)[0] == '\0') { /* everything mapped to nothing */
        yb_free(*out);
        *out = NULL;
        rc = YB_EINVAL;
    }
    return rc;
}

static char *
copy_lower(const char *s, size_t len)
{
    char *d = yb_strndup(s, len);
    if (d != NULL)
        for (size_t i = 0; i < len; i++)
            if (d[i] >= 'A' && d[i] <= 'Z')
                d[i] = (char)(d[i] - 'A' + 'a');
    return d;
}

/* RFC 7622 §3.2: IP-literal ("[" IPv6address "]"; IPvFuture is not supported). */
static int
prep_ip_literal(const char *s, size_t len, char **out)
{
    char tmp[64];
    unsigned char addr[16];
    if (len < 4 || s[len - 1] != ']' || len - 2 >= sizeof tmp)
        return YB_EINVAL;
    memcpy(tmp, s + 1, len - 2);
    tmp[len - 2] = '\0';
    if (inet_pton(AF_INET6, tmp, addr) != 1)
        return YB_EINVAL;
    /* Hex digits compare case-insensitively; the text is otherwise kept as sent. */
    *out = copy_lower(s, len);
    return *out ? 0 : YB_ENOMEM;
}

/* A host name after Nameprep: non-empty labels separated by single dots. ASCII
 * characters are limited to letters, digits and '-'; '_' is let through because
 * some deployments use it in component names (COMPAT). Non-ASCII labels are left to
 * Nameprep's prohibitions. */
static bool
hostname_valid(const char *s)
{
    size_t label = 0;
    bool ascii_label = true;
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.' || c == '\0') {
            if (label == 0 || (ascii_label && label > DNS_MAX_LABEL))
                return false;
            if (c == '\0')
                return true;
            label = 0;
            ascii_label = true;
            continue;
        }
        label++;
        if (c >= 0x80)
            ascii_label = false;
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
}

static int
prep_domain(const char *s, size_t len, char **out)
{
    *out = NULL;
    if (len > 0 && s[0] == '[')
        return prep_ip_literal(s, len, out);
    /* RFC 7622 §3.2: strip one final dot before any other canonicalisation. */
    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0 || len > JID_MAX_PART_INPUT)
        return YB_EINVAL;

    int rc = prep_part(s, len, stringprep_nameprep, out);
    if (rc != 0)
        return rc;
    /* Digits and dots only: an IPv4 address (dotted quad), never a host name. Checked
     * after Nameprep, which turns e.g. superscript digits into digits. */
    char *d = *out;
    if (d[strspn(d, "0123456789.")] == '\0') {
        unsigned char addr[4];
        if (inet_pton(AF_INET, d, addr) != 1)
            rc = YB_EINVAL;
    } else if (!hostname_valid(d)) {
        rc = YB_EINVAL;
    }
    if (rc != 0) {
        yb_free(d);
        *out = NULL;
    }
    return rc;
}

/* One allocation: the struct, then node, domain, resource, bare and full. Parts are
 * already prepared; node and resource may be NULL. */
static struct jid *
jid_build(const char *node, const char *domain, const char *resource)
{
    size_t nl = node ? strlen(node) : 0;
    size_t dl = strlen(domain);
    size_t rl = resource ? strlen(resource) : 0;
    size_t bare_len = (node ? nl + 1 : 0) + dl;
    size_t full_len = bare_len + (resource ? rl + 1 : 0);
    size_t size = sizeof(struct jid) + (node ? nl + 1 : 0) + dl + 1 + (resource ? rl + 1 : 0) +
                  full_len + 1 + (resource ? bare_len + 1 : 0);
    struct jid *j = yb_malloc(size);
    if (j == NULL)
        return NULL;
    char *p = (char *)(j + 1);

    j->node = NULL;
    if (node) {
        memcpy(p, node, nl + 1);
        j->node = p;
        p += nl + 1;
    }
    memcpy(p, domain, dl + 1);
    j->domain = p;
    p += dl + 1;
    j->resource = NULL;
    if (resource) {
        memcpy(p, resource, rl + 1);
        j->resource = p;
        p += rl + 1;
    }

    char *full = p;
    if (node) {
        memcpy(p, node, nl);
        p += nl;
        *p++ = '@';
    }
    memcpy(p, domain, dl);
    p += dl;
    if (resource) {
        *p++ = '/';
        memcpy(p, resource, rl);
        p += rl;
    }
    *p++ = '\0';
    j->full = full;
    if (resource) {
        memcpy(p, full, bare_len);
        p[bare_len] = '\0';
        j->bare = p;
        p += bare_len + 1;
    } else {
        j->bare = full;
    }
    assert((size_t)(p - (char *)j) == size);
    return j;
}

/* Prepares the three parts and builds the jid. Returns NULL when invalid or on OOM. */
static struct jid *
jid_prep_build(const char *node, size_t node_len, const char *domain, size_t domain_len,
               const char *resource, size_t resource_len)
{
    char *n = NULL, *d = NULL, *r = NULL;
    struct jid *j = NULL;
    if (node && prep_part(node, node_len, stringprep_xmpp_nodeprep, &n) != 0)
        goto done;
    if (prep_domain(domain, domain_len, &d) != 0)
        goto done;
    if (resource && prep_part(resource, resource_len, stringprep_xmpp_resourceprep, &r) != 0)
        goto done;
    j = jid_build(n, d, r);
done:
    yb_free(r);
    yb_free(d);
    yb_free(n);
    return j;
}

struct jid *
jid_new(const char *s)
{
    if (s == NULL)
        return NULL;
    /* RFC 7622 §3.1: the resource starts after the first '/', the node ends at the
     * first '@' before that. A separator with nothing on its side is an error. */
    size_t len = strlen(s);
    const char *slash = strchr(s, '/');
    size_t head_len = slash ? (size_t)(slash - s) : len;
    const char *at = memchr(s, '@', head_len);
    const char *node = NULL, *resource = NULL;
    size_t node_len = 0, resource_len = 0;
    const char *domain = s;
    size_t domain_len = head_len;
    if (at) {
        node = s;
        node_len = (size_t)(at - s);
        domain = at + 1;
        domain_len = head_len - node_len - 1;
    }
    if (slash) {
        resource = slash + 1;
        resource_len = len - head_len - 1;
    }
    return jid_prep_build(node, node_len, domain, domain_len, resource, resource_len);
}

struct jid *
jid_from_parts(const char *node, const char *domain, const char *resource)
{
    if (domain == NULL)
        return NULL;
    /* An empty node or resource is invalid here too (prep_part rejects it); the
     * domain check rejects '@' and '/', so the parts cannot bleed into each other. */
    return jid_prep_build(node, node ? strlen(node) : 0, domain, strlen(domain), resource,
                          resource ? strlen(resource) : 0);
}

struct jid *
jid_dup(const struct jid *j)
{
    if (j == NULL)
        return NULL;
    return jid_build(j->node, j->domain, j->resource);
}

void
jid_free(struct jid *j)
{
    yb_free(j);
}

char *
jid_normalize(const char *s)
{
    struct jid *j = jid_new(s);
    if (j == NULL)
        return NULL;
    char *out = yb_strdup(j->full);
    jid_free(j);
    return out;
}

char *
jid_bare_of(const char *s)
{
    struct jid *j = jid_new(s);
    if (j == NULL)
        return NULL;
    char *out = yb_strdup(j->bare);
    jid_free(j);
    return out;
}

char *
jid_nodeprep(const char *s)
{
    char *out = NULL;
    if (s != NULL)
        prep_part(s, strlen(s), stringprep_xmpp_nodeprep, &out);
    return out;
}

char *
jid_nameprep(const char *s)
{
    char *out = NULL;
    if (s != NULL)
        prep_domain(s, strlen(s), &out);
    return out;
}

char *
jid_resourceprep(const char *s)
{
    char *out = NULL;
    if (s != NULL)
        prep_part(s, strlen(s), stringprep_xmpp_resourceprep, &out);
    return out;
}

bool
jid_equal(const struct jid *a, const struct jid *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a->full, b->full) == 0;
}
