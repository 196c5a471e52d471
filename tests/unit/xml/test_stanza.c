/* SPDX-License-Identifier: MIT
 *
 * test_stanza.c: the stanza tree (src/xml/stanza.c): building, attributes, text,
 * removal, deep copies, refcounts, the arena, and allocation failures.
 */
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "stanza.h"
#include "test.h"

TEST(new_and_root)
{
    struct stanza *st = stanza_new("message", "jabber:client");
    ASSERT_NOT_NULL(st);
    ASSERT_STR_EQ(stanza_name(st), "message");
    ASSERT_STR_EQ(stanza_ns(st), "jabber:client");
    struct xml_node *root = stanza_root(st);
    ASSERT_EQ(root->kind, XML_ELEMENT);
    ASSERT_NULL(root->parent);
    ASSERT_NULL(root->first_child);
    ASSERT_TRUE(root->owner == st);
    ASSERT_FALSE(stanza_is_shared(st));
    ASSERT_TRUE(stanza_size(st) > 0);
    stanza_unref(st);

    st = stanza_new("x", NULL);
    ASSERT_NOT_NULL(st);
    ASSERT_STR_EQ(stanza_ns(st), "");
    stanza_unref(st);
    stanza_unref(NULL);
}

TEST(children_and_ns)
{
    struct stanza *st = stanza_new("iq", "jabber:client");
    struct xml_node *q = node_add_child(stanza_root(st), "query", "jabber:iq:roster");
    ASSERT_NOT_NULL(q);
    struct xml_node *item = node_add_child(q, "item", NULL);
    ASSERT_NOT_NULL(item);
    ASSERT_STR_EQ(item->ns, "jabber:iq:roster");
    ASSERT_TRUE(item->parent == q);
    struct xml_node *item2 = node_add_child(q, "item", NULL);
    struct xml_node *other = node_add_child(q, "other", "urn:x");
    ASSERT_TRUE(q->first_child == item);
    ASSERT_TRUE(q->last_child == other);
    ASSERT_TRUE(item->next == item2 && item2->prev == item && other->prev == item2);

    ASSERT_TRUE(stanza_child(st, "query", NULL) == q);
    ASSERT_TRUE(stanza_child(st, "query", "jabber:iq:roster") == q);
    ASSERT_NULL(stanza_child(st, "query", "jabber:client"));
    ASSERT_TRUE(node_child(q, NULL, "urn:x") == other);
    ASSERT_TRUE(node_child(q, "item", NULL) == item);
    ASSERT_NULL(node_child(q, "nothing", NULL));

    node_add_text(q, "ws", 2);
    ASSERT_TRUE(node_first_element(q) == item);
    ASSERT_TRUE(node_next_element(item) == item2);
    ASSERT_TRUE(node_next_element(item2) == other);
    ASSERT_NULL(node_next_element(other));
    stanza_unref(st);
}

TEST(attrs)
{
    struct stanza *st = stanza_new("message", "jabber:client");
    ASSERT_EQ(stanza_set_attr(st, "to", "a@b"), 0);
    ASSERT_EQ(stanza_set_attr(st, "type", "chat"), 0);
    ASSERT_EQ(stanza_set_attr(st, "id", "1"), 0);
    ASSERT_STR_EQ(stanza_attr(st, "to"), "a@b");
    ASSERT_STR_EQ(stanza_attr(st, "type"), "chat");
    ASSERT_NULL(stanza_attr(st, "from"));

    /* Replace keeps the position. */
    ASSERT_EQ(stanza_set_attr(st, "type", "normal"), 0);
    ASSERT_STR_EQ(stanza_attr(st, "type"), "normal");
    struct xml_attr *a = stanza_root(st)->attrs;
    ASSERT_STR_EQ(a->name, "to");
    ASSERT_STR_EQ(a->next->name, "type");
    ASSERT_STR_EQ(a->next->next->name, "id");
    ASSERT_NULL(a->next->next->next);

    /* Remove first, middle, last, and a missing one. */
    ASSERT_EQ(stanza_set_attr(st, "type", NULL), 0);
    ASSERT_NULL(stanza_attr(st, "type"));
    ASSERT_EQ(stanza_set_attr(st, "to", NULL), 0);
    ASSERT_EQ(stanza_set_attr(st, "nope", NULL), 0);
    ASSERT_STR_EQ(stanza_root(st)->attrs->name, "id");
    ASSERT_EQ(stanza_set_attr(st, "id", NULL), 0);
    ASSERT_NULL(stanza_root(st)->attrs);
    ASSERT_EQ(stanza_set_attr(st, "xml:lang", "en"), 0);
    ASSERT_STR_EQ(stanza_attr(st, "xml:lang"), "en");
    stanza_unref(st);
}

TEST(text)
{
    struct stanza *st = stanza_new("message", "jabber:client");
    struct xml_node *root = stanza_root(st);
    ASSERT_STR_EQ(node_text(root), "");
    struct xml_node *body = node_add_text_child(root, "body", NULL, "hello");
    ASSERT_NOT_NULL(body);
    ASSERT_STR_EQ(node_text(body), "hello");
    ASSERT_STR_EQ(node_child_text(root, "body", NULL), "hello");
    ASSERT_NULL(node_child_text(root, "subject", NULL));

    /* Appends merge with the preceding text node. */
    ASSERT_EQ(node_add_text(body, " world", 6), 0);
    ASSERT_EQ(node_add_text(body, "", 0), 0);
    ASSERT_TRUE(body->first_child == body->last_child);
    ASSERT_EQ(body->first_child->kind, XML_TEXT);
    ASSERT_EQ(body->first_child->text_len, 11);
    ASSERT_STR_EQ(node_text(body), "hello world");

    /* Text split by an element is concatenated, cached, and the cache follows
     * changes. */
    struct xml_node *mixed = node_add_child(root, "mixed", NULL);
    node_add_text(mixed, "a", 1);
    node_add_child(mixed, "b", NULL);
    node_add_text(mixed, "c", 1);
    const char *t = node_text(mixed);
    ASSERT_STR_EQ(t, "ac");
    ASSERT_TRUE(node_text(mixed) == t);
    node_add_text(mixed, "d", 1);
    ASSERT_STR_EQ(node_text(mixed), "acd");
    node_remove(mixed->first_child);
    ASSERT_STR_EQ(node_text(mixed), "cd");
    node_remove_children(mixed);
    ASSERT_STR_EQ(node_text(mixed), "");
    ASSERT_NULL(mixed->first_child);

    /* Long text grows in place or moves; both keep the content. */
    struct xml_node *big = node_add_child(root, "big", NULL);
    char piece[100];
    memset(piece, 'x', sizeof piece);
    for (int i = 0; i < 1000; i++) {
        ASSERT_EQ(node_add_text(big, piece, sizeof piece), 0);
        if (i == 500)
            node_add_child(root, "interleaved", NULL);
    }
    ASSERT_EQ(strlen(node_text(big)), 100000);
    ASSERT_EQ(big->first_child->text_len, 100000);
    ASSERT_TRUE(stanza_size(st) < 1000000);
    stanza_unref(st);
}

TEST(remove)
{
    struct stanza *st = stanza_new("r", NULL);
    struct xml_node *root = stanza_root(st);
    struct xml_node *a = node_add_child(root, "a", NULL);
    struct xml_node *b = node_add_child(root, "b", NULL);
    struct xml_node *c = node_add_child(root, "c", NULL);
    node_remove(b);
    ASSERT_TRUE(a->next == c && c->prev == a);
    ASSERT_NULL(b->parent);
    node_remove(a);
    ASSERT_TRUE(root->first_child == c && c->prev == NULL);
    node_remove(c);
    ASSERT_NULL(root->first_child);
    ASSERT_NULL(root->last_child);
    node_remove(c);    /* already detached: nothing happens */
    node_remove(root); /* the root has no parent */
    ASSERT_TRUE(stanza_root(st) == root);
    /* A detached node can be re-added by copy. */
    ASSERT_NOT_NULL(node_append_copy(root, b));
    ASSERT_STR_EQ(root->first_child->name, "b");
    stanza_unref(st);
}

static struct stanza *
sample(void)
{
    struct stanza *st = stanza_new("message", "jabber:client");
    stanza_set_attr(st, "to", "juliet@example.com");
    stanza_set_attr(st, "xml:lang", "en");
    struct xml_node *root = stanza_root(st);
    node_add_text_child(root, "body", NULL, "Wherefore art thou?");
    struct xml_node *x = node_add_child(root, "x", "urn:example:x");
    node_set_attr(x, "a", "1");
    node_set_attr(x, "{urn:example:attr}b", "2");
    node_add_text(x, "pre", 3);
    node_add_child(x, "y", NULL);
    node_add_text(x, "post", 4);
    node_add_child(root, "active", "http://jabber.org/protocol/chatstates");
    return st;
}

static void
assert_same_tree(const struct xml_node *a, const struct xml_node *b, int *ok)
{
    if (a->kind != b->kind) {
        *ok = 0;
        return;
    }
    if (a->kind == XML_TEXT) {
        if (a->text_len != b->text_len || memcmp(a->text, b->text, a->text_len) != 0)
            *ok = 0;
        return;
    }
    if (strcmp(a->name, b->name) != 0 || strcmp(a->ns, b->ns) != 0)
        *ok = 0;
    const struct xml_attr *x = a->attrs, *y = b->attrs;
    for (; x != NULL && y != NULL; x = x->next, y = y->next) {
        if (strcmp(x->name, y->name) != 0 || strcmp(x->value, y->value) != 0)
            *ok = 0;
    }
    if (x != NULL || y != NULL)
        *ok = 0;
    const struct xml_node *c = a->first_child, *d = b->first_child;
    for (; c != NULL && d != NULL; c = c->next, d = d->next) {
        if (c->parent != a || d->parent != b)
            *ok = 0;
        assert_same_tree(c, d, ok);
    }
    if (c != NULL || d != NULL)
        *ok = 0;
}

TEST(copy)
{
    struct stanza *st = sample();
    struct stanza *cp = stanza_copy(st);
    ASSERT_NOT_NULL(cp);
    int ok = 1;
    assert_same_tree(stanza_root(st), stanza_root(cp), &ok);
    ASSERT_TRUE(ok);
    ASSERT_TRUE(stanza_root(cp)->owner == cp);
    ASSERT_TRUE(stanza_root(cp)->first_child->owner == cp);
    /* A copy is independent and needs one allocation for its arena. */
    stanza_set_attr(cp, "to", "romeo@example.net");
    ASSERT_STR_EQ(stanza_attr(st, "to"), "juliet@example.com");
    stanza_unref(st);
    ASSERT_STR_EQ(node_child_text(stanza_root(cp), "body", NULL), "Wherefore art thou?");

    struct xml_node *x = stanza_child(cp, "x", NULL);
    struct stanza *sub = stanza_from_node(x);
    ASSERT_NOT_NULL(sub);
    ASSERT_STR_EQ(stanza_name(sub), "x");
    ASSERT_STR_EQ(stanza_ns(sub), "urn:example:x");
    ASSERT_STR_EQ(node_text(stanza_root(sub)), "prepost");
    ASSERT_NULL(stanza_from_node(x->first_child)); /* a text node is no root */

    /* Append a copy into another stanza, then into itself (its own subtree). */
    struct stanza *dst = stanza_new("wrap", "urn:wrap");
    struct xml_node *n = node_append_copy(stanza_root(dst), stanza_root(cp));
    ASSERT_NOT_NULL(n);
    ok = 1;
    assert_same_tree(stanza_root(cp), n, &ok);
    ASSERT_TRUE(ok);
    ASSERT_TRUE(n->owner == dst && n->parent == stanza_root(dst));
    n = node_append_copy(stanza_child(sub, "y", NULL), stanza_root(sub));
    ASSERT_NOT_NULL(n);
    ASSERT_STR_EQ(n->name, "x");
    ASSERT_STR_EQ(n->parent->name, "y");
    ASSERT_NULL(n->first_child->next->first_child); /* the copy is of the old tree */
    stanza_unref(cp);
    stanza_unref(dst);
    stanza_unref(sub);
}

TEST(deep_copy_no_recursion)
{
    struct stanza *st = stanza_new("d", NULL);
    struct xml_node *n = stanza_root(st);
    for (int i = 0; i < 100000; i++)
        n = node_add_child(n, "d", NULL);
    ASSERT_NOT_NULL(n);
    struct stanza *cp = stanza_copy(st);
    ASSERT_NOT_NULL(cp);
    int depth = 0;
    for (n = stanza_root(cp); n != NULL; n = n->first_child)
        depth++;
    ASSERT_EQ(depth, 100001);
    stanza_unref(cp);
    stanza_unref(st);
}

TEST(refcount)
{
    struct stanza *st = stanza_new("presence", "jabber:client");
    ASSERT_TRUE(stanza_ref(st) == st);
    ASSERT_TRUE(stanza_is_shared(st));
    stanza_unref(st);
    ASSERT_FALSE(stanza_is_shared(st));
    stanza_unref(st);
}

TEST(small_stanza_is_one_allocation)
{
    /* Every allocation after the first fails: a small stanza must still build. */
    yb_alloc_fail_after(1);
    struct stanza *st = stanza_new("message", "jabber:client");
    int ok = st != NULL && stanza_set_attr(st, "to", "a@example.com") == 0 &&
             stanza_set_attr(st, "id", "abc") == 0 &&
             node_add_text_child(stanza_root(st), "body", NULL, "hi") != NULL;
    yb_alloc_fail_after(-1);
    ASSERT_TRUE(ok);
    /* Copies too. */
    yb_alloc_fail_after(1);
    struct stanza *cp = stanza_copy(st);
    yb_alloc_fail_after(-1);
    ASSERT_NOT_NULL(cp);
    stanza_unref(cp);
    stanza_unref(st);
}

/* Runs build() with every allocation count until it succeeds; nothing may crash or
 * leak (LeakSanitizer checks at exit). */
static int
build_big(void)
{
    struct stanza *st = stanza_new("message", "jabber:client");
    if (st == NULL)
        return YB_ENOMEM;
    int rc = YB_ENOMEM;
    struct xml_node *root = stanza_root(st);
    char text[3000];
    memset(text, 'z', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    for (int i = 0; i < 20; i++) {
        struct xml_node *c = node_add_text_child(root, "body", "urn:x", text);
        if (c == NULL || node_set_attr(c, "{urn:a}b", text) != 0 || node_add_text(c, text, 10) != 0)
            goto out;
    }
    struct stanza *cp = stanza_copy(st);
    if (cp == NULL)
        goto out;
    struct xml_node *n = node_append_copy(root, stanza_root(cp));
    stanza_unref(cp);
    if (n == NULL || node_text(root) == NULL)
        goto out;
    rc = 0;
out:
    stanza_unref(st);
    return rc;
}

TEST(oom)
{
    int rc = YB_ENOMEM;
    long n;
    for (n = 0; n < 10000 && rc != 0; n++) {
        yb_alloc_fail_after(n);
        rc = build_big();
        yb_alloc_fail_after(-1);
    }
    ASSERT_EQ(rc, 0);
    ASSERT_TRUE(n > 5);
}

TEST_MAIN(TEST_CASE(new_and_root), TEST_CASE(children_and_ns), TEST_CASE(attrs), TEST_CASE(text),
          TEST_CASE(remove), TEST_CASE(copy), TEST_CASE(deep_copy_no_recursion),
          TEST_CASE(refcount), TEST_CASE(small_stanza_is_one_allocation), TEST_CASE(oom))
