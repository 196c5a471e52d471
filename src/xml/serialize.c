/* SPDX-License-Identifier: MIT
 *
 * serialize.c: writes a stanza tree as XML bytes (stanza.h's serialisation rules).
 * Elements are written unprefixed with a default-namespace declaration wherever the
 * namespace changes; "{uri}local" attributes get a generated prefix declared on the
 * same element. Walks the tree iteratively, so depth costs no stack. Safe to run on a
 * shared stanza from several threads at once: it only reads.
 */
#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "internal.h"
#include "stanza.h"

static bool
is_stream_content_ns(const char *ns)
{
    return ns != NULL && (strcmp(ns, "jabber:client") == 0 || strcmp(ns, "jabber:server") == 0 ||
                          strcmp(ns, "jabber:component:accept") == 0);
}

/* Appends up to three strings (NULL ends the list early); the hot path avoids printf. */
static int
put3(struct buf *out, const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0, lc = c ? strlen(c) : 0;
    if (buf_reserve(out, la + lb + lc) != 0)
        return YB_ENOMEM;
    memcpy(out->data + out->len, a, la);
    memcpy(out->data + out->len + la, b ? b : "", lb);
    memcpy(out->data + out->len + la + lb, c ? c : "", lc);
    out->len += la + lb + lc;
    out->data[out->len] = '\0';
    return 0;
}

/* "{uri}local": sets *uri / *uri_len / *local and returns true. */
static bool
split_ns_attr(const char *name, const char **uri, size_t *uri_len, const char **local)
{
    if (name[0] != '{')
        return false;
    const char *close = strrchr(name + 1, '}'); /* URIs may hold '}', local names not */
    if (close == NULL || close[1] == '\0')
        return false;
    *uri = name + 1;
    *uri_len = (size_t)(close - name - 1);
    *local = close + 1;
    return true;
}

static int
put_attrs(struct buf *out, const struct xml_node *n)
{
    int rc = 0;
    unsigned n_prefixes = 0;
    for (const struct xml_attr *a = n->attrs; a != NULL && rc == 0; a = a->next) {
        const char *uri, *local;
        size_t uri_len;
        /* The element's namespace is its ns field: a namespace declaration set as an
         * attribute would contradict it or be written twice. */
        if (strcmp(a->name, "xmlns") == 0 || strncmp(a->name, "xmlns:", 6) == 0)
            continue;
        if (!split_ns_attr(a->name, &uri, &uri_len, &local)) {
            rc = put3(out, " ", a->name, "='");
        } else if (uri_len == sizeof XML_NS_XML - 1 && memcmp(uri, XML_NS_XML, uri_len) == 0) {
            rc = put3(out, " xml:", local, "='");
        } else {
            /* A prefix of its own for each namespaced attribute: binding two prefixes
             * to one URI is legal, and names are unique, so no two attributes can
             * collide. */
            unsigned prefix = n_prefixes++;
            rc = buf_printf(out, " xmlns:ns%u='", prefix);
            if (rc == 0)
                rc = buf_put_xml_escaped(out, uri, uri_len);
            if (rc == 0)
                rc = buf_printf(out, "' ns%u:%s='", prefix, local);
        }
        if (rc == 0)
            rc = buf_put_xml_escaped(out, a->value, strlen(a->value));
        if (rc == 0)
            rc = buf_putc(out, '\'');
    }
    return rc;
}

/* How the walk writes element names: the serialisation root may carry the stream:
 * prefix; elements in the XML namespace must carry xml: (it cannot be declared as a
 * default namespace); everything else is unprefixed. */
struct walk {
    const struct xml_node *root;
    const char *root_prefix;
    const char *default_ns; /* in scope outside the root */
};

static const char *
elem_prefix(const struct walk *w, const struct xml_node *e)
{
    if (e == w->root)
        return w->root_prefix;
    return strcmp(e->ns, XML_NS_XML) == 0 ? "xml:" : "";
}

/* The default namespace in scope for e's children. A prefixed element declares none,
 * so its children see the one around it. */
static const char *
scope_inside(const struct walk *w, const struct xml_node *e)
{
    for (;;) {
        if (elem_prefix(w, e)[0] == '\0')
            return e->ns;
        if (e == w->root)
            return w->default_ns;
        e = e->parent;
    }
}

/* Writes e's start tag; scope_ns is the default namespace in scope around it. */
static int
put_start(struct buf *out, const struct walk *w, const struct xml_node *e, const char *scope_ns)
{
    const char *prefix = elem_prefix(w, e);
    int rc = put3(out, "<", prefix, e->name);
    if (rc == 0 && prefix[0] == '\0' && strcmp(e->ns, scope_ns) != 0) {
        rc = buf_puts(out, " xmlns='");
        if (rc == 0)
            rc = buf_put_xml_escaped(out, e->ns, strlen(e->ns));
        if (rc == 0)
            rc = buf_putc(out, '\'');
    }
    if (rc == 0)
        rc = put_attrs(out, e);
    if (rc == 0)
        rc = e->first_child != NULL ? buf_putc(out, '>') : buf_puts(out, "/>");
    return rc;
}

int
node_serialize(const struct xml_node *n, const char *default_ns, struct buf *out)
{
    size_t undo = out->len;
    if (default_ns == NULL)
        default_ns = "";
    if (n->kind == XML_TEXT)
        return buf_put_xml_text(out, n->text, n->text_len);

    /* The root: no xmlns if it is in the namespace in scope, and jabber:client,
     * jabber:server and jabber:component:accept stand for each other (a stanza
     * routed between c2s, s2s and a component keeps its meaning). Stream-namespace
     * elements written inside a stream (features, error) use the stream: prefix every
     * XMPP stream header declares (RFC 6120 §4.8.5), as other servers do, so their
     * children still see default_ns. */
    struct walk w = {n, "", default_ns};
    const char *root_scope = default_ns;
    if (is_stream_content_ns(default_ns) && is_stream_content_ns(n->ns))
        root_scope = n->ns;
    else if (is_stream_content_ns(default_ns) &&
             strcmp(n->ns, "http://etherx.jabber.org/streams") == 0)
        w.root_prefix = "stream:";
    else if (strcmp(n->ns, XML_NS_XML) == 0)
        w.root_prefix = "xml:";
    int rc = put_start(out, &w, n, root_scope);

    const struct xml_node *cur = n;
    while (rc == 0) {
        if (cur->kind == XML_ELEMENT && cur->first_child != NULL) {
            cur = cur->first_child;
        } else {
            /* Close finished elements up to the first one with a next sibling. */
            while (rc == 0 && cur != n && cur->next == NULL) {
                cur = cur->parent;
                rc = put3(out, "</", elem_prefix(&w, cur), cur->name);
                if (rc == 0)
                    rc = buf_putc(out, '>');
            }
            if (rc != 0 || cur == n)
                break;
            cur = cur->next;
        }
        if (cur->kind == XML_TEXT)
            rc = buf_put_xml_text(out, cur->text, cur->text_len);
        else
            rc = put_start(out, &w, cur, scope_inside(&w, cur->parent));
    }
    if (rc != 0) {
        out->len = undo;
        if (out->data != NULL)
            out->data[undo] = '\0';
    }
    return rc;
}

int
stanza_serialize(const struct stanza *st, const char *default_ns, struct buf *out)
{
    return node_serialize(stanza_root(st), default_ns, out);
}

char *
stanza_to_string(const struct stanza *st)
{
    struct buf b = BUF_INIT;
    if (stanza_serialize(st, NULL, &b) != 0) {
        buf_fini(&b);
        return NULL;
    }
    return buf_steal(&b);
}
