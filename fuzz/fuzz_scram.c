/* SPDX-License-Identifier: MIT
 *
 * fuzz_scram.c: libFuzzer target for the SCRAM message parsers (src/proto/scram.c),
 * both sides. Input: one option byte, then up to four messages separated by NUL
 * bytes: client-first and client-final for a server, server-first and server-final
 * for a client. Option bits: hash (value % 3), -PLUS mechanism (0x04), server offers
 * -PLUS (0x08), known user (0x10), tls-exporter available (0x20). The known user is
 * "user" / "pencil" with the RFC 5802 salt; the server nonce part is fixed
 * ("3rfcNHYJY1ZVvWVs7j") and so is the client's ("fyko+d2lbbFgONRv9qkxdawL"), so the
 * RFC 5802 §5 example replays as a seed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/proto/internal.h"
#include "alloc.h"
#include "base64.h"
#include "scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct scram_keys keys[SCRAM_N_HASHES];
static bool keys_ready;

static const unsigned char exporter[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char end_point[32] = "fedcba9876543210fedcba9876543210";

static void
init_keys(void)
{
    size_t salt_len;
    unsigned char *salt = base64_decode("QSXCR+Q6sek8bf92", 16, &salt_len);
    for (int h = 0; h < SCRAM_N_HASHES; h++)
        if (salt == NULL ||
            scram_keys_derive((enum scram_hash)h, "pencil", salt, salt_len, 4096, &keys[h]) != 0)
            abort();
    yb_free(salt);
    keys_ready = true;
}

static void
run_server(enum scram_hash h, unsigned opt, const char *m1, size_t l1, const char *m2, size_t l2)
{
    struct scram_cb cb = {
        .tls_exporter = (opt & 0x20) ? exporter : NULL,
        .tls_exporter_len = (opt & 0x20) ? 32 : 0,
        .tls_server_end_point = end_point,
        .tls_server_end_point_len = 32,
        .tls_unique = (opt & 0x40) ? end_point : NULL,
        .tls_unique_len = (opt & 0x40) ? 12 : 0,
        .server_supports_plus = (opt & 0x08) != 0,
    };
    struct scram_server *s = scram_server_new(h, (opt & 0x04) != 0);
    if (s == NULL || scram_server__set_nonce(s, "3rfcNHYJY1ZVvWVs7j") != 0)
        abort();
    const char *user, *authzid;
    if (scram_server_client_first(s, m1, l1, &cb, &user, &authzid) == 0) {
        if (user == NULL || user[0] == '\0')
            abort();
        char *sf = scram_server_first(s, (opt & 0x10) ? &keys[h] : NULL);
        if (sf == NULL)
            abort();
        yb_free(sf);
        char *fin = NULL;
        int rc = scram_server_client_final(s, m2, l2, &fin);
        if ((rc == 0) != (fin != NULL) || (rc == 0 && !(opt & 0x10)))
            abort();
        yb_free(fin);
    }
    scram_server_free(s);
}

/* PBKDF2 runs with the iteration count the "server" sends: keep it small. */
static bool
iterations_small(const char *m)
{
    const char *i = strstr(m, "i=");
    while (i != NULL) {
        if (strspn(i + 2, "0123456789") > 4)
            return false;
        i = strstr(i + 2, "i=");
    }
    return true;
}

static void
run_client(enum scram_hash h, const char *m3, size_t l3, const char *m4, size_t l4)
{
    if (!iterations_small(m3))
        return;
    struct scram_client *c = scram_client_new(h, "user", "pencil", NULL, NULL, 0);
    if (c == NULL || scram_client__set_nonce(c, "fyko+d2lbbFgONRv9qkxdawL") != 0)
        abort();
    char *first = scram_client_first(c);
    if (first == NULL)
        abort();
    yb_free(first);
    char *fin = scram_client_final(c, m3, l3);
    if (fin != NULL)
        scram_client_verify(c, m4, l4);
    yb_free(fin);
    scram_client_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!keys_ready)
        init_keys();
    if (size == 0)
        return 0;
    unsigned opt = data[0];
    enum scram_hash h = (enum scram_hash)(opt % 3);
    /* A NUL-terminated copy, so that every message ends in a NUL even if the input
     * ends without one; the parsers get (pointer, length) and must not read past. */
    char *buf = malloc(size);
    if (buf == NULL)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    const char *msg[4] = {"", "", "", ""};
    size_t len[4] = {0, 0, 0, 0};
    char *p = buf, *end = buf + size - 1;
    for (int i = 0; i < 4 && p <= end; i++) {
        msg[i] = p;
        len[i] = strlen(p);
        p += len[i] + 1;
    }
    run_server(h, opt, msg[0], len[0], msg[1], len[1]);
    run_client(h, msg[2], len[2], msg[3], len[3]);
    free(buf);
    return 0;
}
