/* SPDX-License-Identifier: MIT
 *
 * mod_compress.c: XEP-0138 Stream Compression, the discoverable part: the protocol
 * namespace in disco#info when c2s.compression is on. The negotiation itself is
 * stream-level and lives in server/c2s.c (the <compression/> feature after
 * authentication, <compress/> → <compressed/> or <failure/>); the zlib streams are
 * net's (conn_start_compression, docs/internals/net.md).
 */
#include "module_api.h"

#define NS_COMPRESS "http://jabber.org/protocol/compress"

static int
compress_load(struct module *m)
{
    /* Off by default: compression inside TLS leaks secrets (docs/config.md). */
    if (!server_config()->compression)
        return 0;
    return module_add_feature(m, NS_COMPRESS);
}

MODULE_DEFINE(compress, .summary = "XEP-0138: Stream Compression (zlib)", .xeps = "0138@2.1",
              .notes = "off unless c2s.compression is true; offered only after authentication "
                       "and before resource binding; zlib only",
              .load = compress_load);
