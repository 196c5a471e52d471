/* SPDX-License-Identifier: MIT
 *
 * parser.h: the XMPP stream parser (expat with namespace processing). It takes
 * bytes and yields the stream header, one stanza per top-level child element, and
 * the stream end. It enforces RFC 6120 §11.1 restricted XML (no DTD, no processing
 * instructions, no entity declarations or references beyond the predefined ones,
 * no comments) and size/depth/attribute limits. It has no sockets: net/ feeds it and
 * fuzz/ drives it directly.
 */
#ifndef YB_XML_PARSER_H
#define YB_XML_PARSER_H

#include <stddef.h>

#include "stanza.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"

struct parser;

enum parser_error {
    PARSER_E_NOT_WELL_FORMED,      /* stream error not-well-formed */
    PARSER_E_RESTRICTED_XML,       /* stream error restricted-xml */
    PARSER_E_POLICY,               /* a limit was exceeded: stream error policy-violation */
    PARSER_E_BAD_FORMAT,           /* e.g. text or a non-stream element at the top level */
    PARSER_E_NOMEM,                /* allocation failed: internal-server-error */
    PARSER_E_UNSUPPORTED_ENCODING, /* an XML declaration names another encoding */
};

struct parser_limits {
    size_t max_stanza_bytes; /* bytes of one top-level element, as received */
    size_t max_header_bytes; /* bytes of the stream header */
    unsigned max_depth;      /* element depth inside a stanza (root = 1) */
    unsigned max_attrs;      /* attributes per element */
};

/* Defaults: 256 KiB stanza, 8 KiB header, depth 64, 64 attributes. */
void parser_limits_default(struct parser_limits *l);

struct parser_callbacks {
    /* The stream header element (name/ns as received, attributes, namespace
     * declarations are not attributes). content_ns: the default namespace the header
     * declared ("" if none). header is borrowed for the call. */
    void (*stream_open)(void *ud, const struct xml_node *header, const char *content_ns);
    /* One complete top-level element. Consumes: st. */
    void (*stanza)(void *ud, struct stanza *st);
    /* The peer closed the stream (</stream:stream>). */
    void (*stream_close)(void *ud);
    /* A fatal error; no callback follows until parser_reset(). */
    void (*error)(void *ud, enum parser_error err, const char *detail);
};

enum parser_status {
    PARSER_OK = 0,        /* every byte was consumed */
    PARSER_SUSPENDED = 1, /* a callback called parser_suspend(); the rest is held */
    PARSER_FAILED = -1,   /* error() was called */
};

/* Returns: a new parser or NULL on OOM. cb and limits are copied. */
struct parser *parser_new(const struct parser_limits *limits, const struct parser_callbacks *cb,
                          void *ud);
/* Accepts NULL. Must not be called from inside a callback. */
void parser_free(struct parser *p);
/* Feeds bytes. Calls the callbacks synchronously. */
enum parser_status parser_feed(struct parser *p, const char *data, size_t len);
/* From inside a callback: stop after the current event; unparsed bytes are kept
 * inside the parser until parser_resume() or parser_reset(). */
void parser_suspend(struct parser *p);
/* Continues with the held bytes. */
enum parser_status parser_resume(struct parser *p);
/* For idle streams: between stanzas, with nothing held, frees the expat instance
 * (about 10 KiB once it has parsed a few stanzas); the next parser_feed() rebuilds it
 * from the stream header's namespace context, at the cost of parsing that header
 * again. Returns true if it freed it. Must not be called from inside a callback. */
bool parser_idle(struct parser *p);
/* Starts a new stream (after STARTTLS or SASL success); held bytes are dropped.
 * Must not be called from inside a callback. Returns 0 or YB_ENOMEM. */
int parser_reset(struct parser *p);

#endif
