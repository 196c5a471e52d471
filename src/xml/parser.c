/* SPDX-License-Identifier: MIT
 *
 * parser.c: the XMPP stream parser and stanza_parse(), on expat with namespace
 * processing. Enforces RFC 6120 §11.1 restricted XML (DTD, processing instructions,
 * comments and entity references other than the predefined ones are refused) and
 * the size, depth and attribute limits of parser.h. Keeps little memory per stream:
 * input is fed in small slices, and expat's buffers are dropped between stanzas once
 * they have grown. No sockets, no threads: callers feed bytes.
 */
#include "parser.h"

#include <assert.h>
#include <expat.h>
#include <limits.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "internal.h"

/* Separates URI, local name and prefix in expat's names; 0xFF never occurs in UTF-8. */
#define NS_SEP     '\xFF'
#define NS_SEP_STR "\xFF"
/* expat copies each input into its own buffer: small slices keep that buffer small. */
#define FEED_SLICE 4096
/* Between stanzas, an expat instance holding more than this is replaced by a fresh one. */
#define EXPAT_SHRINK_BYTES (24 * 1024)

/* What a parser is charged: the bytes expat holds and the region (below) that its
 * current instance carves from. */
struct mm_region;
struct mm_account {
    size_t bytes;
    struct mm_region *region; /* the current instance's region, or NULL */
    bool region_full;         /* the current instance's further blocks go to the heap */
};

enum pstate { PS_HEADER, PS_OPEN, PS_CLOSED, PS_FAILED };

struct parser {
    XML_Parser xp;
    struct mm_account mm; /* memory expat holds for xp, counted by the mm_* functions */
    struct parser_limits limits;
    struct parser_callbacks cb;
    void *ud;
    enum pstate state;
    bool single;           /* stanza_parse(): the document element is the stanza */
    bool in_parse;         /* inside XML_Parse / XML_ResumeParser */
    bool suspended;        /* parser_suspend() was called and parser_resume() was not */
    bool xp_suspended;     /* expat itself is suspended and holds unparsed bytes */
    bool replaying;        /* feeding the synthetic header to a fresh expat instance */
    unsigned depth;        /* open elements in the document (stream = 1, stanza root = 2) */
    unsigned n_decls;      /* namespace declarations of the start tag being reported */
    struct stanza *st;     /* the top-level element being built */
    struct xml_node *node; /* its innermost open element */
    struct stanza *result; /* stanza_parse(): the finished element */
    long long index_base;  /* stream offset of expat's byte 0 */
    uint64_t fed;          /* stream bytes given to expat */
    uint64_t mark;         /* end of the last complete top-level item */
    uint64_t stanza_start; /* stream offset of the current stanza's '<' */
    char *content_ns;      /* the header's default namespace, until stream_open */
    struct buf decls;      /* the header's namespace declarations, as XML */
    char *synth;           /* a start tag recreating the header's namespace context */
    size_t synth_len;
    char *held; /* bytes received while suspended, not yet given to expat */
    size_t held_len, held_off;
};

/* expat's memory goes through yb_malloc (so OOM injection reaches it) with a header
 * that records the size and the parser to charge, for xml__parser_expat_bytes().
 *
 * One instance's allocations are carved from blocks of EXPAT_REGION_BYTES (regions),
 * each freed with the last allocation in it. An instance is made at each stream
 * (re)start and dropped when the stream goes idle (parser_idle()); allocated one by
 * one, its dozens of small blocks would be scattered between the TLS and session
 * memory of other connections, and once freed they would stay as holes that the
 * allocator cannot give back to the system. A region leaves whole pages free. */
#define EXPAT_REGION_BYTES (12 * 1024) /* a fresh instance with a stream open: ~11 KiB */

struct mm_region {
    alignas(max_align_t) size_t used; /* bytes handed out, this header included */
    size_t live;                      /* allocations not yet freed */
};

struct mm_header {
    alignas(max_align_t) size_t size;
    struct mm_account *acct;
    struct mm_region *region; /* NULL: a block of its own */
};

static _Thread_local struct mm_account *mm_acct;

static size_t
mm_round(size_t n)
{
    return (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
}

/* Room for total bytes in the instance's region, made at its first allocation; NULL
 * (the region is full, or no parser is charged) sends the allocation to the heap on
 * its own. One region per instance: a second, mostly empty one would cost more than
 * the few blocks past the first region. */
static struct mm_header *
mm_carve(struct mm_account *a, size_t total)
{
#ifdef __SANITIZE_ADDRESS__
    /* Under AddressSanitizer every block stays its own, so that an overrun between
     * expat's blocks is caught. */
    (void)a;
    (void)total;
    return NULL;
#endif
    if (a == NULL || a->region_full)
        return NULL;
    struct mm_region *r = a->region;
    if (r != NULL && r->used + total > EXPAT_REGION_BYTES) {
        a->region_full = true;
        return NULL;
    }
    if (r == NULL) {
        r = yb_malloc(EXPAT_REGION_BYTES);
        if (r == NULL)
            return NULL;
        r->used = sizeof *r;
        r->live = 0;
        a->region = r;
    }
    struct mm_header *h = (struct mm_header *)((char *)r + r->used);
    r->used += total;
    r->live++;
    h->region = r;
    return h;
}

static void
mm_release(struct mm_header *h)
{
    struct mm_region *r = h->region;
    if (r == NULL) {
        yb_free(h);
        return;
    }
    if (--r->live > 0)
        return;
    if (h->acct != NULL && h->acct->region == r)
        h->acct->region = NULL;
    yb_free(r);
}

static void *
mm_malloc(size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t total = sizeof(struct mm_header) + mm_round(size);
    struct mm_header *h = mm_carve(mm_acct, total);
    if (h == NULL) {
        h = yb_malloc(total);
        if (h == NULL)
            return NULL;
        h->region = NULL;
    }
    h->size = size;
    h->acct = mm_acct;
    if (h->acct != NULL)
        h->acct->bytes += size;
    return h + 1;
}

static void *
mm_realloc(void *ptr, size_t size)
{
    if (ptr == NULL)
        return mm_malloc(size);
    if (size > SIZE_MAX / 2)
        return NULL;
    struct mm_header *h = (struct mm_header *)ptr - 1;
    size_t old = h->size;
    struct mm_region *r = h->region;
    if (r == NULL) {
        h = yb_realloc(h, sizeof *h + size);
        if (h == NULL)
            return NULL;
    } else {
        /* The region's last allocation grows in place while there is room. */
        size_t start = (size_t)((char *)h - (char *)r);
        size_t end = start + sizeof *h + mm_round(old);
        size_t want = start + sizeof *h + mm_round(size);
        if (end != r->used || want > EXPAT_REGION_BYTES) {
            void *n = mm_malloc(size);
            if (n == NULL)
                return NULL;
            memcpy(n, ptr, old < size ? old : size);
            if (h->acct != NULL)
                h->acct->bytes -= old;
            mm_release(h);
            return n;
        }
        r->used = want;
    }
    h->size = size;
    if (h->acct != NULL)
        h->acct->bytes = h->acct->bytes - old + size;
    return h + 1;
}

static void
mm_free(void *ptr)
{
    if (ptr == NULL)
        return;
    struct mm_header *h = (struct mm_header *)ptr - 1;
    if (h->acct != NULL)
        h->acct->bytes -= h->size;
    mm_release(h);
}

static const XML_Memory_Handling_Suite mm_suite = {mm_malloc, mm_realloc, mm_free};

/* Expanded names from expat: "local", "uri<SEP>local" or "uri<SEP>local<SEP>prefix". */
struct qname {
    const char *uri, *local, *prefix;
    size_t uri_len, local_len, prefix_len;
};

static void
qname_split(const char *name, struct qname *q)
{
    const char *sep = strchr(name, NS_SEP);
    if (sep == NULL) {
        q->uri = "";
        q->uri_len = 0;
        q->local = name;
        q->local_len = strlen(name);
        q->prefix = "";
        q->prefix_len = 0;
        return;
    }
    q->uri = name;
    q->uri_len = (size_t)(sep - name);
    q->local = sep + 1;
    sep = strchr(q->local, NS_SEP);
    if (sep == NULL) {
        q->local_len = strlen(q->local);
        q->prefix = "";
        q->prefix_len = 0;
    } else {
        q->local_len = (size_t)(sep - q->local);
        q->prefix = sep + 1;
        q->prefix_len = strlen(q->prefix);
    }
}

static uint64_t
cur_index(const struct parser *p)
{
    return (uint64_t)(XML_GetCurrentByteIndex(p->xp) + p->index_base);
}

static uint64_t
cur_end(const struct parser *p)
{
    return cur_index(p) + (uint64_t)XML_GetCurrentByteCount(p->xp);
}

static bool
done(const struct parser *p)
{
    return p->state == PS_FAILED || p->state == PS_CLOSED;
}

/* Reports err once; the stream is dead until parser_reset(). */
static void
fail(struct parser *p, enum parser_error err, const char *detail)
{
    if (p->state == PS_FAILED)
        return;
    p->state = PS_FAILED;
    stanza_unref(p->st);
    p->st = NULL;
    p->node = NULL;
    if (p->in_parse)
        XML_StopParser(p->xp, XML_FALSE);
    if (p->cb.error != NULL)
        p->cb.error(p->ud, err, detail);
}

static bool
stanza_too_big(struct parser *p, uint64_t end)
{
    if (p->single || end - p->stanza_start <= p->limits.max_stanza_bytes)
        return false;
    fail(p, PARSER_E_POLICY, "stanza too large");
    return true;
}

/* "xml:lang" for the XML namespace, "{uri}local" for others, "local" without one. */
static const char *
attr_name(struct stanza *st, const char *name)
{
    struct qname q;
    qname_split(name, &q);
    if (q.uri_len == 0)
        return xml__strndup(st, q.local, q.local_len);
    bool is_xml = q.uri_len == sizeof XML_NS_XML - 1 && memcmp(q.uri, XML_NS_XML, q.uri_len) == 0;
    size_t len = is_xml ? 4 + q.local_len : q.uri_len + q.local_len + 2;
    char *s = xml__alloc(st, len + 1);
    if (s == NULL)
        return NULL;
    if (is_xml) {
        memcpy(s, "xml:", 4);
        memcpy(s + 4, q.local, q.local_len);
    } else {
        s[0] = '{';
        memcpy(s + 1, q.uri, q.uri_len);
        s[1 + q.uri_len] = '}';
        memcpy(s + 2 + q.uri_len, q.local, q.local_len);
    }
    s[len] = '\0';
    return s;
}

static int
add_attrs(struct xml_node *n, const XML_Char **atts)
{
    for (size_t i = 0; atts[i] != NULL; i += 2) {
        const char *name = attr_name(n->owner, atts[i]);
        if (name == NULL || xml__append_attr(n, name, atts[i + 1], strlen(atts[i + 1])) != 0)
            return YB_ENOMEM;
    }
    return 0;
}

static int
put_escaped(struct buf *b, const char *s)
{
    return buf_put_xml_escaped(b, s, strlen(s));
}

/* The stream header: report it, and remember how to recreate its namespace context. */
static void
open_stream(struct parser *p, const char *name, const XML_Char **atts)
{
    struct qname q;
    qname_split(name, &q);
    struct stanza *hdr = xml__stanza_new(q.local, q.local_len, q.uri, q.uri_len, 0);
    struct buf synth = BUF_INIT;
    if (hdr == NULL || add_attrs(stanza_root(hdr), atts) != 0 || buf_putc(&synth, '<') != 0 ||
        (q.prefix_len > 0 &&
         (buf_append(&synth, q.prefix, q.prefix_len) != 0 || buf_putc(&synth, ':') != 0)) ||
        buf_append(&synth, q.local, q.local_len) != 0 ||
        buf_append(&synth, p->decls.data ? p->decls.data : "", p->decls.len) != 0 ||
        buf_putc(&synth, '>') != 0) {
        stanza_unref(hdr);
        buf_fini(&synth);
        fail(p, PARSER_E_NOMEM, "out of memory");
        return;
    }
    buf_fini(&p->decls);
    yb_free(p->synth);
    p->synth_len = synth.len;
    p->synth = buf_steal(&synth);
    p->state = PS_OPEN;
    p->depth = 1;
    p->mark = cur_end(p);
    if (p->cb.stream_open != NULL)
        p->cb.stream_open(p->ud, stanza_root(hdr), p->content_ns ? p->content_ns : "");
    stanza_unref(hdr);
    yb_free(p->content_ns);
    p->content_ns = NULL;
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct parser *p = ud;
    if (p->replaying) {
        p->n_decls = 0;
        return;
    }
    if (done(p))
        return;
    unsigned n_attrs = p->n_decls;
    p->n_decls = 0;
    for (size_t i = 0; atts[i] != NULL; i += 2)
        n_attrs++;
    if (n_attrs > p->limits.max_attrs) {
        fail(p, PARSER_E_POLICY, "too many attributes");
        return;
    }
    if (!p->single && p->state == PS_HEADER) {
        if (cur_end(p) > p->limits.max_header_bytes) {
            fail(p, PARSER_E_POLICY, "stream header too large");
            return;
        }
        open_stream(p, name, atts);
        return;
    }

    struct qname q;
    qname_split(name, &q);
    struct xml_node *n;
    if (p->st == NULL) {
        p->stanza_start = cur_index(p);
        if (stanza_too_big(p, cur_end(p)))
            return;
        p->st = xml__stanza_new(q.local, q.local_len, q.uri, q.uri_len, 0);
        n = p->st ? stanza_root(p->st) : NULL;
    } else {
        /* The stanza root has depth 1 (parser.h). */
        unsigned depth = p->single ? p->depth + 1 : p->depth;
        if (depth > p->limits.max_depth) {
            fail(p, PARSER_E_POLICY, "stanza nested too deeply");
            return;
        }
        if (stanza_too_big(p, cur_end(p)))
            return;
        const char *local = xml__strndup(p->st, q.local, q.local_len);
        const char *ns = xml__intern_ns(p->st, q.uri, q.uri_len, p->node->ns);
        n = local && ns ? xml__add_child_raw(p->st, p->node, local, ns) : NULL;
    }
    if (n == NULL || add_attrs(n, atts) != 0) {
        fail(p, PARSER_E_NOMEM, "out of memory");
        return;
    }
    p->node = n;
    p->depth++;
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
    struct parser *p = ud;
    (void)name;
    if (p->replaying || done(p))
        return;
    if (p->st == NULL) {
        /* The stream element itself (expat has matched it with its start tag). */
        p->depth = 0;
        p->state = PS_CLOSED;
        if (p->cb.stream_close != NULL)
            p->cb.stream_close(p->ud);
        return;
    }
    uint64_t end = cur_end(p);
    if (stanza_too_big(p, end))
        return;
    p->depth--;
    if (p->node->parent != NULL) {
        p->node = p->node->parent;
        return;
    }
    struct stanza *st = p->st;
    p->st = NULL;
    p->node = NULL;
    p->mark = end;
    if (p->single) {
        p->result = st;
        p->state = PS_CLOSED;
    } else if (p->cb.stanza != NULL) {
        p->cb.stanza(p->ud, st);
    } else {
        stanza_unref(st);
    }
}

static bool
is_xml_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    }
    return true;
}

static void XMLCALL
on_text(void *ud, const XML_Char *s, int len)
{
    struct parser *p = ud;
    if (p->replaying || done(p) || len <= 0)
        return;
    if (p->st == NULL) {
        /* Between stanzas only whitespace (keepalives, RFC 6120 §4.6.1) may appear.
         * parser.h classes other text at stream level as bad-format. */
        if (!is_xml_space(s, (size_t)len)) {
            fail(p, PARSER_E_BAD_FORMAT, "text at stream level");
            return;
        }
        p->mark = cur_end(p);
        return;
    }
    if (stanza_too_big(p, cur_end(p)))
        return;
    if (node_add_text(p->node, s, (size_t)len) != 0)
        fail(p, PARSER_E_NOMEM, "out of memory");
}

static void XMLCALL
on_ns_start(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct parser *p = ud;
    if (p->replaying || done(p))
        return;
    if (++p->n_decls > p->limits.max_attrs) {
        fail(p, PARSER_E_POLICY, "too many attributes");
        return;
    }
    if (p->single || p->state != PS_HEADER)
        return;
    if (uri == NULL)
        uri = "";
    int rc;
    if (prefix == NULL) {
        yb_free(p->content_ns);
        p->content_ns = yb_strdup(uri);
        rc = p->content_ns == NULL ? YB_ENOMEM : buf_puts(&p->decls, " xmlns='");
    } else {
        rc = buf_puts(&p->decls, " xmlns:");
        if (rc == 0)
            rc = buf_puts(&p->decls, prefix);
        if (rc == 0)
            rc = buf_puts(&p->decls, "='");
    }
    if (rc == 0)
        rc = put_escaped(&p->decls, uri);
    if (rc == 0)
        rc = buf_putc(&p->decls, '\'');
    if (rc != 0)
        fail(p, PARSER_E_NOMEM, "out of memory");
}

static void
restricted(void *ud, const char *what)
{
    struct parser *p = ud;
    /* stanza_parse() also refuses them after its element. */
    if (!p->replaying && (p->single ? p->state != PS_FAILED : !done(p)))
        fail(p, PARSER_E_RESTRICTED_XML, what);
}

/* RFC 6120 §11.1: refusing the DTD at its start means no declaration is ever read, so
 * no entity can be defined or expanded (no billion laughs, no external entities). */
static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
           int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    restricted(ud, "DTD");
}

static void XMLCALL
on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target, (void)data;
    restricted(ud, "processing instruction");
}

static void XMLCALL
on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    restricted(ud, "comment");
}

static void XMLCALL
on_entity_decl(void *ud, const XML_Char *name, int is_pe, const XML_Char *value, int value_len,
               const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
               const XML_Char *notation)
{
    (void)name, (void)is_pe, (void)value, (void)value_len, (void)base, (void)sysid, (void)pubid,
        (void)notation;
    restricted(ud, "entity declaration");
}

static void XMLCALL
on_skipped_entity(void *ud, const XML_Char *name, int is_pe)
{
    (void)name, (void)is_pe;
    restricted(ud, "entity reference");
}

static void XMLCALL
on_notation_decl(void *ud, const XML_Char *name, const XML_Char *base, const XML_Char *sysid,
                 const XML_Char *pubid)
{
    (void)name, (void)base, (void)sysid, (void)pubid;
    restricted(ud, "notation declaration");
}

/* RFC 6120 §11.6: UTF-8 only. A declaration naming another encoding is refused
 * (the bytes are read as UTF-8 whatever it says). */
static void XMLCALL
on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding, int standalone)
{
    (void)version, (void)standalone;
    struct parser *p = ud;
    if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0 && p->state != PS_FAILED)
        fail(p, PARSER_E_UNSUPPORTED_ENCODING, "encoding other than UTF-8");
}

/* expat salts its hash tables against collision floods with fresh randomness for
 * every instance it starts: a getrandom(2) per stream (re)start, three per login. One
 * random salt for the process protects the same way without the system calls; if
 * none can be had, 0 leaves expat to draw its own. */
static unsigned long
hash_salt(void)
{
    static atomic_ulong salt;
    unsigned long s = atomic_load_explicit(&salt, memory_order_relaxed);
    if (s != 0)
        return s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        return 0;
    s |= 1; /* 0 would mean "draw one" */
    atomic_store_explicit(&salt, s, memory_order_relaxed);
    return s;
}

/* A fresh expat instance with our handlers; NULL on OOM. Charges p's counter. */
static XML_Parser
expat_new(struct parser *p)
{
    /* A new instance starts its own region: an instance replacing another (a shrink)
     * must not keep the old one's region alive. */
    p->mm.region = NULL;
    p->mm.region_full = false;
    struct mm_account *saved = mm_acct;
    mm_acct = &p->mm;
    XML_Parser xp = XML_ParserCreate_MM("UTF-8", &mm_suite, NS_SEP_STR);
    mm_acct = saved;
    if (xp == NULL)
        return NULL;
    XML_SetUserData(xp, p);
    XML_SetHashSalt(xp, hash_salt());
    XML_SetReturnNSTriplet(xp, XML_TRUE);
    XML_SetElementHandler(xp, on_start, on_end);
    XML_SetCharacterDataHandler(xp, on_text);
    XML_SetStartNamespaceDeclHandler(xp, on_ns_start);
    XML_SetStartDoctypeDeclHandler(xp, on_doctype);
    XML_SetProcessingInstructionHandler(xp, on_pi);
    XML_SetCommentHandler(xp, on_comment);
    XML_SetEntityDeclHandler(xp, on_entity_decl);
    XML_SetSkippedEntityHandler(xp, on_skipped_entity);
    XML_SetNotationDeclHandler(xp, on_notation_decl);
    XML_SetXmlDeclHandler(xp, on_xml_decl);
    XML_SetParamEntityParsing(xp, XML_PARAM_ENTITY_PARSING_NEVER);
    /* Deferral waits for more input before retrying an incomplete token: a stanza
     * whose last bytes arrive alone would not be reported until the peer sends more. */
    XML_SetReparseDeferralEnabled(xp, XML_FALSE);
    return xp;
}

static void
expat_free(struct parser *p, XML_Parser xp)
{
    struct mm_account *saved = mm_acct;
    mm_acct = &p->mm;
    XML_ParserFree(xp);
    mm_acct = saved;
}

static enum parser_error
map_expat_error(enum XML_Error e)
{
    switch (e) {
    case XML_ERROR_NO_MEMORY:
        return PARSER_E_NOMEM;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_ENTITY_DECLARED_IN_PE:
    case XML_ERROR_NOT_STANDALONE:
        return PARSER_E_RESTRICTED_XML;
    default:
        return PARSER_E_NOT_WELL_FORMED;
    }
}

/* After a parse call: turn expat's status and the pending-bytes limits into ours. */
static enum parser_status
after_parse(struct parser *p, enum XML_Status xs)
{
    if (p->state == PS_FAILED)
        return PARSER_FAILED;
    if (p->state == PS_CLOSED && !p->single)
        return PARSER_OK; /* bytes after the stream end are of no interest */
    if (xs == XML_STATUS_ERROR) {
        enum XML_Error e = XML_GetErrorCode(p->xp);
        fail(p, map_expat_error(e), XML_ErrorString(e));
        return PARSER_FAILED;
    }
    if (xs == XML_STATUS_SUSPENDED) {
        p->xp_suspended = true;
        return PARSER_SUSPENDED;
    }
    /* Bytes expat holds for an unfinished item count against the limits now, so that
     * an endless start tag or stanza is cut off as it arrives. */
    if (p->single)
        return PARSER_OK;
    if (p->state == PS_HEADER) {
        if (p->fed > p->limits.max_header_bytes)
            fail(p, PARSER_E_POLICY, "stream header too large");
    } else if (p->st != NULL) {
        if (p->fed - p->stanza_start > p->limits.max_stanza_bytes)
            fail(p, PARSER_E_POLICY, "stanza too large");
    } else if (p->fed - p->mark > p->limits.max_stanza_bytes) {
        fail(p, PARSER_E_POLICY, "stanza too large");
    }
    return p->state == PS_FAILED ? PARSER_FAILED : PARSER_OK;
}

static XML_Parser expat_replayed(struct parser *p);

static enum parser_status
feed_expat(struct parser *p, const char *data, size_t len, bool is_final)
{
    if (p->xp == NULL && (p->xp = expat_replayed(p)) == NULL) {
        fail(p, PARSER_E_NOMEM, "out of memory");
        return PARSER_FAILED;
    }
    struct mm_account *saved = mm_acct;
    mm_acct = &p->mm;
    p->in_parse = true;
    enum XML_Status xs = XML_Parse(p->xp, data, (int)len, is_final);
    p->in_parse = false;
    mm_acct = saved;
    p->fed += len;
    return after_parse(p, xs);
}

/* Whether the stream sits between stanzas with nothing held: the only state in which
 * expat can be replaced by a fresh instance given the synthetic header. */
static bool
between_stanzas(const struct parser *p)
{
    return !p->single && p->state == PS_OPEN && !p->suspended && !p->xp_suspended &&
           p->st == NULL && p->fed == p->mark && p->synth != NULL && p->held_off >= p->held_len;
}

/* A fresh expat instance that has read the synthetic header, or NULL on OOM. */
static XML_Parser
expat_replayed(struct parser *p)
{
    XML_Parser xp = expat_new(p);
    if (xp == NULL)
        return NULL;
    struct mm_account *saved = mm_acct;
    mm_acct = &p->mm;
    p->replaying = true;
    enum XML_Status xs = XML_Parse(xp, p->synth, (int)p->synth_len, XML_FALSE);
    p->replaying = false;
    mm_acct = saved;
    if (xs != XML_STATUS_OK) {
        expat_free(p, xp);
        return NULL;
    }
    p->index_base = (long long)p->fed - (long long)p->synth_len;
    return xp;
}

/* Between stanzas, replaces a grown expat instance by a fresh one that is given the
 * synthetic header, so an idle stream keeps only a small parser. Best effort: on
 * failure the old instance carries on. */
static void
maybe_shrink(struct parser *p)
{
    if (p->xp == NULL || !between_stanzas(p) || p->mm.bytes <= EXPAT_SHRINK_BYTES)
        return;
    long long base = p->index_base;
    XML_Parser xp = expat_replayed(p);
    if (xp == NULL) {
        p->index_base = base;
        return;
    }
    expat_free(p, p->xp);
    p->xp = xp;
}

bool
parser_idle(struct parser *p)
{
    if (p->xp == NULL || !between_stanzas(p))
        return false;
    expat_free(p, p->xp);
    p->xp = NULL;
    return true;
}

static int
hold(struct parser *p, const char *data, size_t len)
{
    if (len == 0)
        return 0;
    size_t keep = p->held_len - p->held_off;
    if (p->held_off > 0) {
        memmove(p->held, p->held + p->held_off, keep);
        p->held_off = 0;
        p->held_len = keep;
    }
    if (len > SIZE_MAX - keep)
        return YB_ENOMEM;
    char *h = yb_realloc(p->held, keep + len);
    if (h == NULL)
        return YB_ENOMEM;
    memcpy(h + keep, data, len);
    p->held = h;
    p->held_len = keep + len;
    return 0;
}

static void
drop_held(struct parser *p)
{
    yb_free(p->held);
    p->held = NULL;
    p->held_len = p->held_off = 0;
}

void
parser_limits_default(struct parser_limits *l)
{
    l->max_stanza_bytes = 256 * 1024;
    l->max_header_bytes = 8 * 1024;
    l->max_depth = 64;
    l->max_attrs = 64;
}

struct parser *
parser_new(const struct parser_limits *limits, const struct parser_callbacks *cb, void *ud)
{
    struct parser *p = yb_calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    if (limits != NULL)
        p->limits = *limits;
    else
        parser_limits_default(&p->limits);
    if (cb != NULL)
        p->cb = *cb;
    p->ud = ud;
    buf_init(&p->decls);
    p->xp = expat_new(p);
    if (p->xp == NULL) {
        yb_free(p);
        return NULL;
    }
    return p;
}

static void
clear_stream(struct parser *p)
{
    stanza_unref(p->st);
    p->st = NULL;
    p->node = NULL;
    stanza_unref(p->result);
    p->result = NULL;
    drop_held(p);
    yb_free(p->content_ns);
    p->content_ns = NULL;
    buf_fini(&p->decls);
    yb_free(p->synth);
    p->synth = NULL;
    p->synth_len = 0;
}

void
parser_free(struct parser *p)
{
    if (p == NULL)
        return;
    assert(!p->in_parse);
    clear_stream(p);
    if (p->xp != NULL)
        expat_free(p, p->xp);
    yb_free(p);
}

/* Feeds data in slices; on suspension the rest is held for parser_resume(). */
static enum parser_status
feed_slices(struct parser *p, const char *data, size_t len)
{
    while (len > 0) {
        size_t n = len < FEED_SLICE ? len : FEED_SLICE;
        enum parser_status s = feed_expat(p, data, n, false);
        data += n;
        len -= n;
        if (s == PARSER_FAILED || p->state == PS_CLOSED)
            return s;
        if (s == PARSER_SUSPENDED) {
            if (hold(p, data, len) != 0) {
                fail(p, PARSER_E_NOMEM, "out of memory");
                return PARSER_FAILED;
            }
            return s;
        }
    }
    maybe_shrink(p);
    return PARSER_OK;
}

enum parser_status
parser_feed(struct parser *p, const char *data, size_t len)
{
    assert(!p->in_parse);
    if (p->state == PS_FAILED)
        return PARSER_FAILED;
    if (p->state == PS_CLOSED)
        return PARSER_OK;
    if (p->suspended) {
        if (hold(p, data, len) != 0) {
            fail(p, PARSER_E_NOMEM, "out of memory");
            return PARSER_FAILED;
        }
        return PARSER_SUSPENDED;
    }
    return feed_slices(p, data, len);
}

void
parser_suspend(struct parser *p)
{
    if (done(p) || p->suspended)
        return;
    p->suspended = true;
    if (p->in_parse)
        XML_StopParser(p->xp, XML_TRUE);
}

enum parser_status
parser_resume(struct parser *p)
{
    assert(!p->in_parse);
    if (p->state == PS_FAILED)
        return PARSER_FAILED;
    p->suspended = false;
    if (p->state == PS_CLOSED) {
        drop_held(p);
        return PARSER_OK;
    }
    if (p->xp_suspended) {
        p->xp_suspended = false;
        struct mm_account *saved = mm_acct;
        mm_acct = &p->mm;
        p->in_parse = true;
        enum XML_Status xs = XML_ResumeParser(p->xp);
        p->in_parse = false;
        mm_acct = saved;
        enum parser_status s = after_parse(p, xs);
        if (s != PARSER_OK || p->state == PS_CLOSED) {
            if (s == PARSER_FAILED || p->state == PS_CLOSED)
                drop_held(p);
            return s;
        }
    }
    while (p->held_off < p->held_len) {
        size_t n = p->held_len - p->held_off;
        if (n > FEED_SLICE)
            n = FEED_SLICE;
        const char *d = p->held + p->held_off;
        p->held_off += n;
        enum parser_status s = feed_expat(p, d, n, false);
        if (s == PARSER_SUSPENDED)
            return s;
        if (s == PARSER_FAILED || p->state == PS_CLOSED) {
            drop_held(p);
            return s;
        }
    }
    drop_held(p);
    maybe_shrink(p);
    return PARSER_OK;
}

int
parser_reset(struct parser *p)
{
    assert(!p->in_parse);
    clear_stream(p);
    /* A fresh instance rather than XML_ParserReset(): it also returns expat's grown
     * buffers, and XML_ParserReset() cannot report failing to copy the forced
     * encoding name. */
    XML_Parser xp = expat_new(p);
    if (p->xp != NULL)
        expat_free(p, p->xp);
    p->xp = xp;
    p->state = xp == NULL ? PS_FAILED : PS_HEADER;
    p->suspended = p->xp_suspended = p->replaying = false;
    p->depth = p->n_decls = 0;
    p->index_base = 0;
    p->fed = p->mark = p->stanza_start = 0;
    return xp == NULL ? YB_ENOMEM : 0;
}

size_t
xml__parser_expat_bytes(const struct parser *p)
{
    return p->mm.bytes;
}

struct stanza *
stanza_parse(const char *xml, size_t len)
{
    if (len > INT_MAX)
        return NULL;
    struct parser p;
    memset(&p, 0, sizeof p);
    p.single = true;
    p.limits.max_stanza_bytes = SIZE_MAX;
    p.limits.max_header_bytes = SIZE_MAX;
    p.limits.max_depth = UINT_MAX;
    p.limits.max_attrs = UINT_MAX;
    buf_init(&p.decls);
    p.xp = expat_new(&p);
    if (p.xp == NULL)
        return NULL;
    enum parser_status s = feed_expat(&p, xml, len, true);
    struct stanza *st = NULL;
    if (s == PARSER_OK && p.result != NULL) {
        st = p.result;
        p.result = NULL;
    }
    clear_stream(&p);
    expat_free(&p, p.xp);
    return st;
}
