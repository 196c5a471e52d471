/* SPDX-License-Identifier: MIT
 *
 * compress.c: one connection's zlib state for XEP-0138 stream compression: a deflate
 * stream for output (one Z_SYNC_FLUSH per flushed batch, XEP-0138 §6.1) and an
 * inflate stream for input, with their memory counted. It knows nothing of sockets,
 * TLS or the parser; conn.c decides when to call it and bounds what inflate yields.
 */
#include <assert.h>
#include <limits.h>
#include <stdalign.h>
#include <stddef.h>

#include <zlib.h>

#include "alloc.h"
#include "error.h"
#include "internal.h"

struct net__zlib {
    z_stream def;
    z_stream inf;
    size_t mem_bytes;  /* what zlib holds now, through zalloc */
    size_t read_bytes; /* inflated since net__zlib_new_read() */
    bool inf_ended;    /* the peer finished its zlib stream (Z_STREAM_END) */
};

/* Each block remembers its size so that zfree can keep the count. */
struct zblock {
    size_t size;
    alignas(max_align_t) unsigned char data[];
};

static voidpf
zlib_alloc(voidpf opaque, uInt items, uInt size)
{
    struct net__zlib *z = opaque;
    if (size != 0 && items > (SIZE_MAX - sizeof(struct zblock)) / size)
        return Z_NULL;
    size_t n = (size_t)items * size;
    struct zblock *b = yb_malloc(sizeof *b + n);
    if (b == NULL)
        return Z_NULL;
    b->size = n;
    z->mem_bytes += n;
    return b->data;
}

static void
zlib_free(voidpf opaque, voidpf p)
{
    struct net__zlib *z = opaque;
    if (p == NULL)
        return;
    struct zblock *b = (struct zblock *)((unsigned char *)p - offsetof(struct zblock, data));
    assert(z->mem_bytes >= b->size);
    z->mem_bytes -= b->size;
    yb_free(b);
}

struct net__zlib *
net__zlib_new(void)
{
    struct net__zlib *z = yb_calloc(1, sizeof *z);
    if (z == NULL)
        return NULL;
    z->def.zalloc = z->inf.zalloc = zlib_alloc;
    z->def.zfree = z->inf.zfree = zlib_free;
    z->def.opaque = z->inf.opaque = z;
    /* Output: a 4 KiB window and memLevel 5 cost 2^(12+2) + 2^(5+9) = 32 KiB instead
     * of zlib's default 256 KiB; stanzas are small and mostly repeat within a few
     * KiB (namespaces, JIDs), so the ratio barely suffers. */
    if (deflateInit2(&z->def, Z_DEFAULT_COMPRESSION, Z_DEFLATED, NET_ZLIB_DEFLATE_WINDOW_BITS,
                     NET_ZLIB_DEFLATE_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
        yb_free(z);
        return NULL;
    }
    /* Input: the peer chooses its window (RFC 1950 header) and clients use 32 KiB, so
     * inflate must accept 15 bits; the 32 KiB window is allocated at the first data. */
    if (inflateInit2(&z->inf, 15) != Z_OK) {
        deflateEnd(&z->def);
        yb_free(z);
        return NULL;
    }
    return z;
}

void
net__zlib_free(struct net__zlib *z)
{
    if (z == NULL)
        return;
    deflateEnd(&z->def);
    inflateEnd(&z->inf);
    assert(z->mem_bytes == 0);
    yb_free(z);
}

size_t
net__zlib_mem(const struct net__zlib *z)
{
    return z != NULL ? sizeof *z + z->mem_bytes : 0;
}

int
net__zlib_deflate(struct net__zlib *z, struct buf *out)
{
    if (out->len == 0)
        return 0;
    struct buf res = BUF_INIT;
    const char *in = out->data;
    size_t left = out->len;
    int rc = 0;
    /* deflateBound does not cover the sync flush marker; 16 more bytes do. */
    size_t guess = deflateBound(&z->def, left > ULONG_MAX ? ULONG_MAX : (uLong)left) + 16;
    if (buf_reserve(&res, guess) != 0)
        return YB_ENOMEM;
    for (;;) {
        uInt chunk = left > UINT_MAX ? UINT_MAX : (uInt)left;
        z->def.next_in = (Bytef *)(uintptr_t)in;
        z->def.avail_in = chunk;
        int flush = chunk == left ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        do {
            if (res.cap - res.len < 64 && buf_reserve(&res, res.cap) != 0) {
                rc = YB_ENOMEM;
                goto out;
            }
            /* buf keeps one byte for its NUL. */
            size_t room = res.cap - res.len - 1;
            uInt avail = room > UINT_MAX ? UINT_MAX : (uInt)room;
            z->def.next_out = (Bytef *)res.data + res.len;
            z->def.avail_out = avail;
            int zr = deflate(&z->def, flush);
            if (zr != Z_OK && zr != Z_BUF_ERROR) {
                rc = YB_EIO;
                goto out;
            }
            res.len += avail - z->def.avail_out;
            /* Done with this chunk when deflate left output room unused. */
            if (z->def.avail_out != 0)
                break;
        } while (1);
        in += chunk;
        left -= chunk;
        if (left == 0)
            break;
    }
    res.data[res.len] = '\0';
    buf_fini(out);
    *out = res;
    return 0;
out:
    buf_fini(&res);
    return rc;
}

void
net__zlib_new_read(struct net__zlib *z)
{
    z->read_bytes = 0;
}

int
net__zlib_inflate(struct net__zlib *z, const char **data, size_t *len, char *out, size_t cap,
                  size_t *got, size_t read_limit)
{
    *got = 0;
    if (*len == 0)
        return 0;
    if (z->inf_ended)
        return YB_EPROTO; /* bytes after the end of the peer's zlib stream */
    uInt chunk = *len > UINT_MAX ? UINT_MAX : (uInt)*len;
    z->inf.next_in = (Bytef *)(uintptr_t)*data;
    z->inf.avail_in = chunk;
    z->inf.next_out = (Bytef *)out;
    z->inf.avail_out = cap > UINT_MAX ? UINT_MAX : (uInt)cap;
    uInt avail_out = z->inf.avail_out;
    int zr = inflate(&z->inf, Z_SYNC_FLUSH);
    size_t used = chunk - z->inf.avail_in;
    *data += used;
    *len -= used;
    *got = avail_out - z->inf.avail_out;
    z->read_bytes += *got;
    if (z->read_bytes > read_limit)
        return YB_ELIMIT;
    switch (zr) {
    case Z_OK:
    case Z_BUF_ERROR: /* no progress possible: needs more input */
        return 0;
    case Z_STREAM_END:
        z->inf_ended = true;
        return *len == 0 ? 0 : YB_EPROTO;
    case Z_MEM_ERROR:
        return YB_ENOMEM;
    default: /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
        return YB_EPROTO;
    }
}
