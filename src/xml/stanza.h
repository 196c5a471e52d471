/* SPDX-License-Identifier: MIT
 *
 * stanza.h: the XML element tree used for every stanza. A stanza is a refcounted
 * root; all its nodes, names, attributes and text live in one arena owned by the
 * stanza, so building or freeing one costs few allocations. Node pointers are
 * borrowed and valid while the stanza lives. A stanza with more than one reference is
 * shared and must not be changed: change a stanza_copy().
 *
 * Namespaces: every element carries its namespace URI (ns, never NULL; "" for none).
 * Attributes have plain names; attributes in the XML namespace are named "xml:lang"
 * etc. Other namespaced attributes are named "{uri}local" and serialised with a
 * generated prefix.
 */
#ifndef YB_XML_STANZA_H
#define YB_XML_STANZA_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct stanza;

struct xml_attr {
    const char *name;
    const char *value;
    struct xml_attr *next;
};

enum xml_node_kind { XML_ELEMENT, XML_TEXT };

struct xml_node {
    enum xml_node_kind kind;
    const char *name; /* element name (local part); NULL for text */
    const char *ns;   /* namespace URI; NULL for text */
    const char *text; /* text nodes: the characters (not escaped), NUL-terminated;
                         elements: node_text()'s cache, read it through node_text() */
    size_t text_len;
    struct xml_attr *attrs;
    struct xml_node *parent, *first_child, *last_child, *next, *prev;
    struct stanza *owner;
};

/* Creates a stanza whose root element is name in namespace ns (NULL: "").
 * Returns: new reference, or NULL on OOM. */
struct stanza *stanza_new(const char *name, const char *ns);
/* Returns: st, with one more reference. */
struct stanza *stanza_ref(struct stanza *st);
/* Drops one reference; frees the stanza with the last one. Accepts NULL. */
void stanza_unref(struct stanza *st);
/* True when more than one reference exists (the stanza is then immutable). */
bool stanza_is_shared(const struct stanza *st);
/* Deep copy with a refcount of 1. Returns: new reference, or NULL on OOM. */
struct stanza *stanza_copy(const struct stanza *st);
/* Deep copy in an arena sized to the tree instead of the usual first block: for a
 * stanza kept long (a session's presence). Additions still work, in new chunks.
 * Returns: new reference, or NULL on OOM. */
struct stanza *stanza_copy_compact(const struct stanza *st);
/* New stanza whose root is a deep copy of node (from any stanza).
 * Returns: new reference, or NULL on OOM. */
struct stanza *stanza_from_node(const struct xml_node *node);
/* Borrowed: the root element. */
struct xml_node *stanza_root(const struct stanza *st);
/* Bytes of arena memory the stanza uses (for limits and statistics). */
size_t stanza_size(const struct stanza *st);

/* Shortcuts on the root element. */
const char *stanza_name(const struct stanza *st);
const char *stanza_ns(const struct stanza *st);
const char *stanza_attr(const struct stanza *st, const char *name);
int stanza_set_attr(struct stanza *st, const char *name, const char *value);
struct xml_node *stanza_child(const struct stanza *st, const char *name, const char *ns);

/* Adds a child element at the end of parent's children. ns NULL: the parent's
 * namespace. Returns: borrowed node, or NULL on OOM. */
struct xml_node *node_add_child(struct xml_node *parent, const char *name, const char *ns);
/* Adds a child element with the given text content (convenience for <body>x</body>).
 * Returns: borrowed node, or NULL on OOM. */
struct xml_node *node_add_text_child(struct xml_node *parent, const char *name, const char *ns,
                                     const char *text);
/* Appends len bytes of text (merged with a preceding text node). Returns 0 or
 * YB_ENOMEM. */
int node_add_text(struct xml_node *n, const char *text, size_t len);
/* Appends a deep copy of src (possibly from another stanza) as the last child of
 * parent. Returns: the copy, or NULL on OOM. */
struct xml_node *node_append_copy(struct xml_node *parent, const struct xml_node *src);
/* Unlinks n from its parent (its memory stays in the arena until the stanza dies). */
void node_remove(struct xml_node *n);
/* Removes all children of n. */
void node_remove_children(struct xml_node *n);

/* Sets an attribute (replacing an old value); value NULL removes it. Returns 0 or
 * YB_ENOMEM. */
int node_set_attr(struct xml_node *n, const char *name, const char *value);
/* Borrowed: the attribute's value, or NULL. */
const char *node_attr(const struct xml_node *n, const char *name);

/* The first child element matching name and ns (NULL matches any). Borrowed or NULL. */
struct xml_node *node_child(const struct xml_node *n, const char *name, const char *ns);
/* Element children iteration: first child element / next sibling element, or NULL. */
struct xml_node *node_first_element(const struct xml_node *n);
struct xml_node *node_next_element(const struct xml_node *n);
/* The concatenated text of n's direct text children, or "" if none. Borrowed (kept
 * in the arena). Returns NULL only on OOM. */
const char *node_text(const struct xml_node *n);
/* The text of the first child element matching name/ns, or NULL if there is none. */
const char *node_child_text(const struct xml_node *n, const char *name, const char *ns);

/* Serialisation. default_ns is the namespace in scope where the node is written
 * (e.g. "jabber:client" inside a client stream): a root whose ns equals it, or is
 * "jabber:client"/"jabber:server" when default_ns is one of those two, gets no
 * xmlns attribute. Children get xmlns only where their ns differs from their
 * parent's. Text and attribute values are escaped. Returns 0 or YB_ENOMEM. */
int node_serialize(const struct xml_node *n, const char *default_ns, struct buf *out);
int stanza_serialize(const struct stanza *st, const char *default_ns, struct buf *out);
/* Convenience for logs and tests: a new NUL-terminated string (yb_free), or NULL. */
char *stanza_to_string(const struct stanza *st);

/* Parses one complete XML element from a string (used for stored stanzas and tests).
 * Same restrictions as the stream parser (no DTD, PI, comments). Returns: new
 * reference, or NULL on malformed input or OOM. */
struct stanza *stanza_parse(const char *xml, size_t len);

#endif
