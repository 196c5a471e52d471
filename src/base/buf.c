/* SPDX-License-Identifier: MIT
 *
 * buf.c: growable byte buffer.
 */
#include "buf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

void
buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
buf_fini(struct buf *b)
{
    yb_free(b->data);
    buf_init(b);
}

int
buf_reserve(struct buf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = yb_realloc(b->data, cap);
    if (p == NULL)
        return YB_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
    if (buf_reserve(b, len) != 0)
        return YB_ENOMEM;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int
buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return YB_EINVAL;
    if (buf_reserve(b, (size_t)n) != 0)
        return YB_ENOMEM;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* One escaper for text and attribute values. Text needs '&', '<', '>' (because of
 * "]]>") and CR (end-of-line handling would turn it into LF, XML 1.0 §2.11);
 * attribute values in either quote also need the quotes, and TAB/LF/CR as character
 * references so that attribute-value normalisation (§3.3.3) gives them back. */
static int
put_escaped(struct buf *b, const char *s, size_t len, bool attr)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '\r':
            rep = "&#13;";
            break;
        case '"':
            rep = attr ? "&quot;" : NULL;
            break;
        case '\'':
            rep = attr ? "&apos;" : NULL;
            break;
        case '\t':
            rep = attr ? "&#9;" : NULL;
            break;
        case '\n':
            rep = attr ? "&#10;" : NULL;
            break;
        default:
            rep = NULL;
            break;
        }
        if (rep == NULL)
            continue;
        if (buf_append(b, s + start, i - start) != 0 || buf_puts(b, rep) != 0)
            return YB_ENOMEM;
        start = i + 1;
    }
    return buf_append(b, s + start, len - start);
}

int
buf_put_xml_escaped(struct buf *b, const char *s, size_t len)
{
    return put_escaped(b, s, len, true);
}

int
buf_put_xml_text(struct buf *b, const char *s, size_t len)
{
    return put_escaped(b, s, len, false);
}

void
buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data != NULL)
        b->data[b->len] = '\0';
}

void
buf_clear(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

char *
buf_steal(struct buf *b)
{
    char *p = b->data;
    buf_init(b);
    return p;
}
