/* SPDX-License-Identifier: MIT
 *
 * scram.h: SCRAM (RFC 5802, RFC 7677) for the server side, with SHA-1, SHA-256 and
 * SHA-512, and channel binding (tls-exporter RFC 9266, tls-server-end-point and tls-unique RFC
 * 5929) for the -PLUS variants. Key derivation (PBKDF2) is slow on purpose: never call
 * scram_keys_derive() or scram_keys_generate() on the core thread.
 * No sockets and no TLS objects here: channel-binding bytes are passed in.
 */
#ifndef YB_PROTO_SCRAM_H
#define YB_PROTO_SCRAM_H

#include <stdbool.h>
#include <stddef.h>

enum scram_hash { SCRAM_SHA1, SCRAM_SHA256, SCRAM_SHA512 };
#define SCRAM_N_HASHES   3
#define SCRAM_MAX_KEY    64
#define SCRAM_MAX_SALT   64
#define SCRAM_ITERATIONS 4096

/* What is stored per account and hash: never the password. */
struct scram_keys {
    enum scram_hash hash;
    unsigned iterations;
    size_t salt_len;
    unsigned char salt[SCRAM_MAX_SALT];
    size_t key_len; /* the hash's output size */
    unsigned char stored_key[SCRAM_MAX_KEY];
    unsigned char server_key[SCRAM_MAX_KEY];
};

/* "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512". */
const char *scram_hash_mech(enum scram_hash h);
/* Digest size in bytes. */
size_t scram_hash_size(enum scram_hash h);

/* Derives keys from a password (SASLprep applied here) and a given salt.
 * Returns 0, YB_EINVAL (password fails SASLprep) or YB_ENOMEM. */
int scram_keys_derive(enum scram_hash h, const char *password, const unsigned char *salt,
                      size_t salt_len, unsigned iterations, struct scram_keys *out);
/* As above with a fresh random 16-byte salt. */
int scram_keys_generate(enum scram_hash h, const char *password, unsigned iterations,
                        struct scram_keys *out);
/* True when password matches keys (derives and compares in constant time). */
bool scram_keys_check_password(const struct scram_keys *keys, const char *password);

/* Channel-binding data the connection can offer. */
struct scram_cb {
    const unsigned char *tls_exporter; /* 32 bytes, or NULL (not TLS 1.3) */
    size_t tls_exporter_len;
    const unsigned char *tls_server_end_point; /* certificate hash, or NULL */
    size_t tls_server_end_point_len;
    /* RFC 5929 tls-unique, or NULL. COMPAT: slixmpp 1.8 asks for it on TLS 1.3 too. */
    const unsigned char *tls_unique;
    size_t tls_unique_len;
    bool server_supports_plus; /* the server advertised -PLUS mechanisms */
};

struct scram_server;

/* plus: the client chose the -PLUS mechanism. Returns NULL on OOM. */
struct scram_server *scram_server_new(enum scram_hash h, bool plus);
void scram_server_free(struct scram_server *s);

/* Step 1: parses client-first-message (gs2 header + bare). On success sets
 * *username (SASLprep-normalised, borrowed from s) and *authzid (borrowed, NULL if
 * none). Checks the gs2 channel-binding flag against cb (RFC 5802 §6: 'y' while the
 * server supports -PLUS means a downgrade; 'p' needs a -PLUS mechanism and a known
 * binding type). Returns 0, YB_EINVAL (malformed: SASL malformed-request), or YB_EAUTH
 * (channel-binding mismatch: not-authorized). */
int scram_server_client_first(struct scram_server *s, const char *msg, size_t len,
                              const struct scram_cb *cb, const char **username,
                              const char **authzid);
/* Step 2: with the user's keys (NULL when the user does not exist: a fake but
 * plausible challenge is built so that existence does not leak), returns the
 * server-first-message (new string, yb_free) or NULL on OOM. */
char *scram_server_first(struct scram_server *s, const struct scram_keys *keys);
/* Step 3: checks client-final-message (nonce, channel binding, proof). On success
 * returns 0 and *server_final is the server-final-message (new string, yb_free).
 * Returns YB_EINVAL (malformed) or YB_EAUTH (wrong proof, unknown user, bad binding). */
int scram_server_client_final(struct scram_server *s, const char *msg, size_t len,
                              char **server_final);

/* Client side, for tests and the future client library: builds the three client
 * messages. Returns 0 or an error; strings are new (yb_free). */
struct scram_client;
struct scram_client *scram_client_new(enum scram_hash h, const char *user, const char *password,
                                      const char *cb_name, const unsigned char *cb_data,
                                      size_t cb_len);
void scram_client_free(struct scram_client *c);
char *scram_client_first(struct scram_client *c);
char *scram_client_final(struct scram_client *c, const char *server_first, size_t len);
int scram_client_verify(struct scram_client *c, const char *server_final, size_t len);

#endif
