/* SPDX-License-Identifier: MIT
 *
 * internal.h: helpers shared by the files of src/xml and nothing else: the stanza
 * arena, attribute appending without the duplicate scan (the parser knows names are
 * unique), namespace interning, and test hooks. Not for other layers.
 */
#ifndef YB_XML_INTERNAL_H
#define YB_XML_INTERNAL_H

#include <stddef.h>

#include "parser.h"
#include "stanza.h"

#define XML_NS_XML "http://www.w3.org/XML/1998/namespace"

/* Creates a stanza whose root is name/ns (lengths given, no NUL needed) and whose first
 * arena chunk (allocated with the stanza) holds at least arena_hint bytes.
 * Returns: new reference, or NULL on OOM. */
struct stanza *xml__stanza_new(const char *name, size_t name_len, const char *ns, size_t ns_len,
                               size_t arena_hint);
/* size bytes (no alignment) in st's arena. Returns: borrowed, or NULL on OOM. */
char *xml__alloc(struct stanza *st, size_t size);
/* Copies len bytes plus a NUL into st's arena. Returns: borrowed, or NULL on OOM. */
char *xml__strndup(struct stanza *st, const char *s, size_t len);
/* A stable pointer for namespace ns: parent_ns when equal, a static string for
 * well-known namespaces, else a copy in st's arena. Returns NULL only on OOM. */
const char *xml__intern_ns(struct stanza *st, const char *ns, size_t len, const char *parent_ns);
/* Appends an attribute without looking for an existing one. name must already live in
 * n's arena (or be static); value is copied. Returns 0 or YB_ENOMEM. */
int xml__append_attr(struct xml_node *n, const char *name, const char *value, size_t value_len);
/* Adds a child element whose name and ns are already stable pointers (arena or static).
 * Returns: borrowed node, or NULL on OOM. */
struct xml_node *xml__add_child_raw(struct stanza *st, struct xml_node *parent, const char *name,
                                    const char *ns);

/* Tests and statistics: bytes that expat currently holds for p (its buffers, tag stack
 * and bindings), as seen through our allocator. */
size_t xml__parser_expat_bytes(const struct parser *p);

#endif
