/* SPDX-License-Identifier: MIT
 *
 * buf.h: a growable byte buffer, used for serialisation, socket output and
 * string building. The bytes are always followed by a NUL that is not counted.
 */
#ifndef YB_BASE_BUF_H
#define YB_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void buf_init(struct buf *b);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_fini(struct buf *b);
/* Makes room for n more bytes. Returns 0 or YB_ENOMEM. */
int buf_reserve(struct buf *b, size_t n);
/* Appends bytes. Return 0 or YB_ENOMEM (the buffer is then unchanged). */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends s escaped for an XML attribute value in either quote (also safe as text).
 * Returns 0 or YB_ENOMEM. */
int buf_put_xml_escaped(struct buf *b, const char *s, size_t len);
/* Appends s escaped for XML character data ('&', '<', '>', CR). */
int buf_put_xml_text(struct buf *b, const char *s, size_t len);
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Sets len to 0 and keeps the storage. */
void buf_clear(struct buf *b);
/* Hands the storage to the caller (to yb_free) and leaves the buffer empty. */
char *buf_steal(struct buf *b);

#endif
