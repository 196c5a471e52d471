/* SPDX-License-Identifier: MIT
 *
 * scram.c: SCRAM-SHA-1/256/512 (RFC 5802 §3, §5, §7; RFC 7677) with channel binding
 * (RFC 5802 §6, tls-exporter RFC 9266, tls-server-end-point RFC 5929), server and
 * client side, on OpenSSL 3. Owns the message grammar, the key schedule and the
 * fake challenge for unknown users; knows nothing of sockets, TLS or storage.
 * Passwords go through SASLprep as queries (unassigned code points allowed), so an
 * emoji password works the same on every client that prepares it or not.
 */
#include "scram.h"

#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "alloc.h"
#include "base64.h"
#include "buf.h"
#include "error.h"
#include "internal.h"
#include "jid.h"

#define SCRAM_MAX_MSG          8192     /* longer messages are malformed */
#define SCRAM_NONCE_BYTES      24       /* random bytes in our nonce parts */
#define SCRAM_SALT_BYTES       16       /* salt size for new keys and fake users */
#define SCRAM_CLIENT_MAX_ITERS 10000000 /* a hostile server must not stall a client */

static const char CB_TLS_EXPORTER[] = "tls-exporter";
static const char CB_TLS_SERVER_END_POINT[] = "tls-server-end-point";
static const char CB_TLS_UNIQUE[] = "tls-unique";

/* ---- primitives ---------------------------------------------------------------- */

static const EVP_MD *
hash_md(enum scram_hash h)
{
    switch (h) {
    case SCRAM_SHA1:
        return EVP_sha1();
    case SCRAM_SHA256:
        return EVP_sha256();
    case SCRAM_SHA512:
        return EVP_sha512();
    }
    return NULL;
}

const char *
scram_hash_mech(enum scram_hash h)
{
    switch (h) {
    case SCRAM_SHA1:
        return "SCRAM-SHA-1";
    case SCRAM_SHA256:
        return "SCRAM-SHA-256";
    case SCRAM_SHA512:
        return "SCRAM-SHA-512";
    }
    return NULL;
}

size_t
scram_hash_size(enum scram_hash h)
{
    switch (h) {
    case SCRAM_SHA1:
        return 20;
    case SCRAM_SHA256:
        return 32;
    case SCRAM_SHA512:
        return 64;
    }
    return 0;
}

static bool
hash_valid(enum scram_hash h)
{
    return h == SCRAM_SHA1 || h == SCRAM_SHA256 || h == SCRAM_SHA512;
}

static int
hmac(enum scram_hash h, const unsigned char *key, size_t key_len, const void *data, size_t len,
     unsigned char *out)
{
    unsigned out_len = 0;
    if (HMAC(hash_md(h), key, (int)key_len, data, len, out, &out_len) == NULL)
        return YB_ENOMEM;
    assert(out_len == scram_hash_size(h));
    return 0;
}

static int
digest(enum scram_hash h, const unsigned char *data, size_t len, unsigned char *out)
{
    unsigned out_len = 0;
    if (EVP_Digest(data, len, out, &out_len, hash_md(h), NULL) != 1)
        return YB_ENOMEM;
    assert(out_len == scram_hash_size(h));
    return 0;
}

/* RFC 5802 §3: SaltedPassword, ClientKey, StoredKey and ServerKey from a prepared
 * password. client_key may be NULL. */
static int
key_schedule(enum scram_hash h, const char *prepped, const unsigned char *salt, size_t salt_len,
             unsigned iterations, unsigned char *client_key, struct scram_keys *out)
{
    size_t n = scram_hash_size(h);
    unsigned char salted[SCRAM_MAX_KEY], ck[SCRAM_MAX_KEY];
    size_t pw_len = strlen(prepped);
    if (pw_len > INT_MAX || iterations > INT_MAX)
        return YB_EINVAL;
    int rc = YB_ENOMEM;
    if (PKCS5_PBKDF2_HMAC(prepped, (int)pw_len, salt, (int)salt_len, (int)iterations, hash_md(h),
                          (int)n, salted) != 1)
        goto done;
    if (hmac(h, salted, n, "Client Key", 10, ck) != 0 || digest(h, ck, n, out->stored_key) != 0 ||
        hmac(h, salted, n, "Server Key", 10, out->server_key) != 0)
        goto done;
    out->hash = h;
    out->iterations = iterations;
    out->salt_len = salt_len;
    memcpy(out->salt, salt, salt_len);
    out->key_len = n;
    if (client_key)
        memcpy(client_key, ck, n);
    rc = 0;
done:
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(ck, sizeof ck);
    return rc;
}

int
scram_keys_derive(enum scram_hash h, const char *password, const unsigned char *salt,
                  size_t salt_len, unsigned iterations, struct scram_keys *out)
{
    memset(out, 0, sizeof *out);
    if (!hash_valid(h) || password == NULL || salt == NULL || salt_len == 0 ||
        salt_len > SCRAM_MAX_SALT || iterations == 0)
        return YB_EINVAL;
    char *prepped;
    int rc = proto__saslprep(password, true, &prepped);
    if (rc != 0)
        return rc;
    if (prepped[0] == '\0')
        rc = YB_EINVAL;
    else
        rc = key_schedule(h, prepped, salt, salt_len, iterations, NULL, out);
    OPENSSL_cleanse(prepped, strlen(prepped));
    yb_free(prepped);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

int
scram_keys_generate(enum scram_hash h, const char *password, unsigned iterations,
                    struct scram_keys *out)
{
    unsigned char salt[SCRAM_SALT_BYTES];
    if (RAND_bytes(salt, sizeof salt) != 1) {
        memset(out, 0, sizeof *out);
        return YB_EIO;
    }
    return scram_keys_derive(h, password, salt, sizeof salt, iterations, out);
}

bool
scram_keys_check_password(const struct scram_keys *keys, const char *password)
{
    struct scram_keys k;
    if (keys->key_len != scram_hash_size(keys->hash))
        return false;
    if (scram_keys_derive(keys->hash, password, keys->salt, keys->salt_len, keys->iterations, &k) !=
        0)
        return false;
    /* Both keys: a record whose ServerKey does not belong to the StoredKey is broken. */
    bool ok = (CRYPTO_memcmp(k.stored_key, keys->stored_key, k.key_len) |
               CRYPTO_memcmp(k.server_key, keys->server_key, k.key_len)) == 0;
    OPENSSL_cleanse(&k, sizeof k);
    return ok;
}

/* ---- message grammar (RFC 5802 §7) ----------------------------------------------- */

/* Validates a received message and returns a NUL-terminated copy (yb_free).
 * *rc is YB_EINVAL or YB_ENOMEM when NULL is returned. */
static char *
msg_copy(const char *msg, size_t len, int *rc)
{
    *rc = YB_EINVAL;
    if (msg == NULL || len == 0 || len > SCRAM_MAX_MSG || !proto__utf8_valid(msg, len))
        return NULL;
    char *s = yb_strndup(msg, len);
    if (s == NULL)
        *rc = YB_ENOMEM;
    return s;
}

/* One attribute "x=value" (value non-empty, no ','). On success *p is past the
 * attribute and its ',' (if any). */
struct attr {
    char name;
    const char *val;
    size_t len;
};

static bool
next_attr(const char **p, struct attr *a)
{
    const char *s = *p;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) || s[1] != '=')
        return false;
    a->name = s[0];
    a->val = s + 2;
    a->len = strcspn(a->val, ",");
    if (a->len == 0)
        return false;
    s = a->val + a->len;
    if (*s == ',') {
        s++;
        if (*s == '\0') /* a trailing comma */
            return false;
    }
    *p = s;
    return true;
}

/* Skips "," attr-val ... to the end (unknown extensions are ignored, RFC 5802 §7). */
static bool
skip_extensions(const char *p)
{
    struct attr a;
    while (*p != '\0')
        if (!next_attr(&p, &a))
            return false;
    return true;
}

/* printable = %x21-2B / %x2D-7E */
static bool
nonce_valid(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7E || s[i] == ',')
            return false;
    return true;
}

/* saslname: "=2C" is ',' and "=3D" is '='; any other '=' is malformed. */
static char *
saslname_decode(const char *s, size_t len, int *rc)
{
    *rc = YB_EINVAL;
    char *out = yb_malloc(len + 1);
    if (out == NULL) {
        *rc = YB_ENOMEM;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '=') {
            out[o++] = s[i];
        } else if (len - i >= 3 && s[i + 1] == '2' && s[i + 2] == 'C') {
            out[o++] = ',';
            i += 2;
        } else if (len - i >= 3 && s[i + 1] == '3' && s[i + 2] == 'D') {
            out[o++] = '=';
            i += 2;
        } else {
            yb_free(out);
            return NULL;
        }
    }
    out[o] = '\0';
    return out;
}

static int
saslname_encode(const char *s, struct buf *out)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        if (*s == ',')
            rc = buf_puts(out, "=2C");
        else if (*s == '=')
            rc = buf_puts(out, "=3D");
        else
            rc = buf_putc(out, *s);
    }
    return rc;
}

static bool
cb_name_valid(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* The value of c=: the gs2 header followed by the channel-binding data. */
static char *
cbind_input_b64(const char *gs2, size_t gs2_len, const unsigned char *cb, size_t cb_len)
{
    unsigned char *in = yb_malloc(gs2_len + cb_len);
    if (in == NULL)
        return NULL;
    memcpy(in, gs2, gs2_len);
    if (cb_len)
        memcpy(in + gs2_len, cb, cb_len);
    char *out = base64_encode(in, gs2_len + cb_len);
    yb_free(in);
    return out;
}

/* Decodes a base64 attribute value into out (exactly want bytes). */
static int
b64_exact(const char *s, size_t len, unsigned char *out, size_t want)
{
    size_t n = 0;
    unsigned char *d = base64_decode(s, len, &n);
    if (d == NULL)
        return YB_EINVAL; /* OOM is indistinguishable here; both fail the exchange */
    int rc = n == want ? 0 : YB_EINVAL;
    if (rc == 0)
        memcpy(out, d, want);
    yb_free(d);
    return rc;
}

static int
random_b64(size_t n_bytes, char **out)
{
    unsigned char r[SCRAM_NONCE_BYTES];
    assert(n_bytes <= sizeof r);
    if (RAND_bytes(r, (int)n_bytes) != 1)
        return YB_EIO;
    *out = base64_encode(r, n_bytes);
    return *out ? 0 : YB_ENOMEM;
}

/* ---- server ---------------------------------------------------------------------- */

enum scram_server_state { SS_START, SS_GOT_FIRST, SS_CHALLENGED, SS_DONE };

struct scram_server {
    enum scram_hash hash;
    bool plus;
    enum scram_server_state state;
    char *gs2_header; /* "n,," etc., as received */
    size_t gs2_len;
    unsigned char *cb_data; /* the binding bytes for 'p', NULL otherwise */
    size_t cb_len;
    char *username; /* decoded and SASLprep-normalised */
    char *authzid;  /* decoded, NULL if absent */
    char *client_first_bare;
    char *client_nonce;
    char *fixed_nonce; /* test hook */
    char *nonce;       /* client nonce + server part */
    char *server_first;
    struct scram_keys keys;
    bool user_known;
};

struct scram_server *
scram_server_new(enum scram_hash h, bool plus)
{
    if (!hash_valid(h))
        return NULL;
    struct scram_server *s = yb_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->hash = h;
    s->plus = plus;
    s->state = SS_START;
    return s;
}

void
scram_server_free(struct scram_server *s)
{
    if (s == NULL)
        return;
    yb_free(s->gs2_header);
    yb_free(s->cb_data);
    yb_free(s->username);
    yb_free(s->authzid);
    yb_free(s->client_first_bare);
    yb_free(s->client_nonce);
    yb_free(s->fixed_nonce);
    yb_free(s->nonce);
    yb_free(s->server_first);
    OPENSSL_cleanse(&s->keys, sizeof s->keys);
    yb_free(s);
}

int
scram_server__set_nonce(struct scram_server *s, const char *server_part)
{
    if (!nonce_valid(server_part, strlen(server_part)))
        return YB_EINVAL;
    char *copy = yb_strdup(server_part);
    if (copy == NULL)
        return YB_ENOMEM;
    yb_free(s->fixed_nonce);
    s->fixed_nonce = copy;
    return 0;
}

/* RFC 5802 §6 and the -PLUS rules: decides whether the gs2 flag is acceptable and,
 * for 'p', keeps a copy of the binding data it names. */
static int
server_check_binding(struct scram_server *s, char flag, const char *cb_name, size_t cb_name_len,
                     const struct scram_cb *cb)
{
    bool server_plus = cb != NULL && cb->server_supports_plus;
    if (flag == 'n')
        return s->plus ? YB_EAUTH : 0;
    if (flag == 'y') /* the client could bind but thought we could not: a downgrade */
        return s->plus || server_plus ? YB_EAUTH : 0;
    if (!s->plus || cb == NULL)
        return YB_EAUTH;
    const unsigned char *data = NULL;
    size_t len = 0;
    if (cb_name_len == sizeof CB_TLS_EXPORTER - 1 &&
        memcmp(cb_name, CB_TLS_EXPORTER, cb_name_len) == 0) {
        data = cb->tls_exporter;
        len = cb->tls_exporter_len;
    } else if (cb_name_len == sizeof CB_TLS_SERVER_END_POINT - 1 &&
               memcmp(cb_name, CB_TLS_SERVER_END_POINT, cb_name_len) == 0) {
        data = cb->tls_server_end_point;
        len = cb->tls_server_end_point_len;
    } else if (cb_name_len == sizeof CB_TLS_UNIQUE - 1 &&
               memcmp(cb_name, CB_TLS_UNIQUE, cb_name_len) == 0) {
        data = cb->tls_unique;
        len = cb->tls_unique_len;
    }
    if (data == NULL || len == 0)
        return YB_EAUTH; /* unknown binding type, or not available on this connection */
    s->cb_data = yb_malloc(len);
    if (s->cb_data == NULL)
        return YB_ENOMEM;
    memcpy(s->cb_data, data, len);
    s->cb_len = len;
    return 0;
}

static int
server_parse_first(struct scram_server *s, const char *m, const struct scram_cb *cb)
{
    /* gs2-header = gs2-cbind-flag "," [ authzid ] "," */
    const char *p = m;
    char flag = *p;
    const char *cb_name = NULL;
    size_t cb_name_len = 0;
    if ((flag == 'n' || flag == 'y') && p[1] == ',') {
        p += 2;
    } else if (flag == 'p' && p[1] == '=') {
        cb_name = p + 2;
        cb_name_len = strcspn(cb_name, ",");
        if (!cb_name_valid(cb_name, cb_name_len) || cb_name[cb_name_len] != ',')
            return YB_EINVAL;
        p = cb_name + cb_name_len + 1;
    } else {
        return YB_EINVAL;
    }
    int rc;
    if (p[0] == 'a' && p[1] == '=') {
        size_t n = strcspn(p + 2, ",");
        if (n == 0 || p[2 + n] != ',')
            return YB_EINVAL;
        s->authzid = saslname_decode(p + 2, n, &rc);
        if (s->authzid == NULL)
            return rc;
        p += 2 + n;
    }
    if (*p != ',')
        return YB_EINVAL;
    p++;
    s->gs2_len = (size_t)(p - m);
    s->gs2_header = yb_strndup(m, s->gs2_len);
    if (s->gs2_header == NULL)
        return YB_ENOMEM;

    /* client-first-message-bare = [reserved-mext ","] username "," nonce ["," ext] */
    s->client_first_bare = yb_strdup(p);
    if (s->client_first_bare == NULL)
        return YB_ENOMEM;
    struct attr a;
    if (!next_attr(&p, &a))
        return YB_EINVAL;
    if (a.name == 'm') /* a mandatory extension we do not know: RFC 5802 §5.1 */
        return YB_EINVAL;
    if (a.name != 'n')
        return YB_EINVAL;
    char *user = saslname_decode(a.val, a.len, &rc);
    if (user == NULL)
        return rc;
    if (!next_attr(&p, &a) || a.name != 'r' || !nonce_valid(a.val, a.len) || !skip_extensions(p)) {
        yb_free(user);
        return YB_EINVAL;
    }
    s->client_nonce = yb_strndup(a.val, a.len);
    if (s->client_nonce == NULL) {
        yb_free(user);
        return YB_ENOMEM;
    }

    rc = server_check_binding(s, flag, cb_name, cb_name_len, cb);
    if (rc == 0) {
        /* RFC 5802 §5.1: the server prepares the user name or fails. */
        rc = proto__saslprep(user, true, &s->username);
        if (rc == 0 && s->username[0] == '\0')
            rc = YB_EINVAL;
    }
    yb_free(user);
    return rc;
}

int
scram_server_client_first(struct scram_server *s, const char *msg, size_t len,
                          const struct scram_cb *cb, const char **username, const char **authzid)
{
    *username = NULL;
    *authzid = NULL;
    if (s->state != SS_START)
        return YB_EINVAL;
    s->state = SS_DONE; /* unless everything below succeeds */
    int rc;
    char *m = msg_copy(msg, len, &rc);
    if (m == NULL)
        return rc;
    rc = server_parse_first(s, m, cb);
    yb_free(m);
    if (rc != 0)
        return rc;
    s->state = SS_GOT_FIRST;
    *username = s->username;
    *authzid = s->authzid;
    return 0;
}

/* The per-process secret behind fake salts: random, so they cannot be predicted,
 * and stable, so asking twice for the same unknown user gives the same salt. */
static unsigned char fake_secret[32];
static bool fake_secret_ok;
static pthread_once_t fake_secret_once = PTHREAD_ONCE_INIT;

static void
fake_secret_init(void)
{
    fake_secret_ok = RAND_bytes(fake_secret, sizeof fake_secret) == 1;
}

/* The iteration count of the last real account seen, per hash, so that a fake
 * challenge carries the count the server's accounts use (a fixed 4096 would give
 * unknown users away once the operator configures another count). */
static _Atomic unsigned last_iterations[SCRAM_N_HASHES] = {SCRAM_ITERATIONS, SCRAM_ITERATIONS,
                                                           SCRAM_ITERATIONS};

static int
server_fake_keys(struct scram_server *s)
{
    pthread_once(&fake_secret_once, fake_secret_init);
    if (!fake_secret_ok)
        return YB_EIO;
    /* The server looks accounts up by the Nodeprep form of the name, so "Ghost" and
     * "ghost" are one account: the fake salt must not tell them apart either. */
    char *key = jid_nodeprep(s->username);
    struct buf in = BUF_INIT;
    unsigned char mac[32];
    int rc = buf_printf(&in, "salt:%s:%s", scram_hash_mech(s->hash), key ? key : s->username);
    yb_free(key);
    if (rc == 0)
        rc = hmac(SCRAM_SHA256, fake_secret, sizeof fake_secret, in.data, in.len, mac);
    buf_fini(&in);
    if (rc != 0)
        return rc;
    struct scram_keys *k = &s->keys;
    memset(k, 0, sizeof *k);
    k->hash = s->hash;
    k->iterations = last_iterations[s->hash];
    k->salt_len = SCRAM_SALT_BYTES;
    memcpy(k->salt, mac, SCRAM_SALT_BYTES);
    k->key_len = scram_hash_size(s->hash);
    /* Keys only so that the final step does the same work; it fails regardless. */
    memset(k->stored_key, 0x5a, k->key_len);
    memset(k->server_key, 0xa5, k->key_len);
    s->user_known = false;
    return 0;
}

char *
scram_server_first(struct scram_server *s, const struct scram_keys *keys)
{
    assert(s->state == SS_GOT_FIRST);
    if (s->state != SS_GOT_FIRST)
        return NULL;
    s->state = SS_DONE;
    char *server_part = NULL, *salt = NULL, *out = NULL;
    struct buf b = BUF_INIT;
    int rc;
    if (keys != NULL && keys->hash == s->hash && keys->key_len == scram_hash_size(s->hash) &&
        keys->salt_len > 0 && keys->salt_len <= SCRAM_MAX_SALT && keys->iterations > 0) {
        s->keys = *keys;
        s->user_known = true;
        last_iterations[s->hash] = keys->iterations;
    } else {
        /* No such user (or a record for another hash, which we treat alike). */
        rc = server_fake_keys(s);
        if (rc != 0)
            goto done;
    }

    if (s->fixed_nonce) {
        server_part = yb_strdup(s->fixed_nonce);
        rc = server_part ? 0 : YB_ENOMEM;
    } else {
        rc = random_b64(SCRAM_NONCE_BYTES, &server_part);
    }
    if (rc != 0)
        goto done;
    salt = base64_encode(s->keys.salt, s->keys.salt_len);
    if (salt == NULL)
        goto done;
    if (buf_printf(&b, "%s%s", s->client_nonce, server_part) != 0)
        goto done;
    s->nonce = buf_steal(&b);
    if (buf_printf(&b, "r=%s,s=%s,i=%u", s->nonce, salt, s->keys.iterations) != 0)
        goto done;
    s->server_first = buf_steal(&b);
    out = yb_strdup(s->server_first);
    if (out != NULL)
        s->state = SS_CHALLENGED;
done:
    buf_fini(&b);
    yb_free(salt);
    yb_free(server_part);
    return out;
}

/* Splits client-final-message into its parts. Returns 0 or YB_EINVAL. */
struct client_final {
    size_t without_proof_len;
    struct attr c, r, p;
};

static int
parse_client_final(const char *m, struct client_final *f)
{
    /* client-final-message-without-proof "," proof; base64 has no ',', so the proof
     * is the last attribute. */
    const char *last = strrchr(m, ',');
    if (last == NULL || last[1] != 'p' || last[2] != '=')
        return YB_EINVAL;
    f->without_proof_len = (size_t)(last - m);
    const char *p = last + 1;
    if (!next_attr(&p, &f->p) || *p != '\0')
        return YB_EINVAL;

    /* channel-binding "," nonce ["," extensions] */
    char *wp = yb_strndup(m, f->without_proof_len);
    if (wp == NULL)
        return YB_ENOMEM;
    int rc = YB_EINVAL;
    p = wp;
    if (!next_attr(&p, &f->c) || f->c.name != 'c' || !next_attr(&p, &f->r) || f->r.name != 'r' ||
        !skip_extensions(p))
        goto done;
    /* Point into m, not into the temporary copy. */
    f->c.val = m + (f->c.val - wp);
    f->r.val = m + (f->r.val - wp);
    rc = 0;
done:
    yb_free(wp);
    return rc;
}

static int
server_check_final(struct scram_server *s, const char *m, char **server_final)
{
    struct client_final f;
    int rc = parse_client_final(m, &f);
    if (rc != 0)
        return rc;
    size_t n = s->keys.key_len;
    unsigned char proof[SCRAM_MAX_KEY], sig[SCRAM_MAX_KEY], client_key[SCRAM_MAX_KEY];
    unsigned char stored[SCRAM_MAX_KEY];
    if (b64_exact(f.p.val, f.p.len, proof, n) != 0)
        return YB_EINVAL;
    size_t cb_in_len = 0;
    unsigned char *cb_in = base64_decode(f.c.val, f.c.len, &cb_in_len);
    if (cb_in == NULL)
        return YB_EINVAL;

    /* RFC 5802 §6: c= must be exactly our gs2 header plus the binding data. */
    bool binding_ok =
        cb_in_len == s->gs2_len + s->cb_len && memcmp(cb_in, s->gs2_header, s->gs2_len) == 0 &&
        (s->cb_len == 0 || CRYPTO_memcmp(cb_in + s->gs2_len, s->cb_data, s->cb_len) == 0);
    yb_free(cb_in);
    bool nonce_ok = f.r.len == strlen(s->nonce) && memcmp(f.r.val, s->nonce, f.r.len) == 0;
    if (!binding_ok || !nonce_ok)
        return YB_EAUTH;

    /* AuthMessage = client-first-message-bare "," server-first-message ","
     *               client-final-message-without-proof */
    struct buf am = BUF_INIT;
    rc = buf_printf(&am, "%s,%s,%.*s", s->client_first_bare, s->server_first,
                    (int)f.without_proof_len, m);
    if (rc != 0)
        goto done;
    rc = hmac(s->hash, s->keys.stored_key, n, am.data, am.len, sig);
    if (rc != 0)
        goto done;
    for (size_t i = 0; i < n; i++)
        client_key[i] = proof[i] ^ sig[i];
    rc = digest(s->hash, client_key, n, stored);
    if (rc != 0)
        goto done;
    bool ok = CRYPTO_memcmp(stored, s->keys.stored_key, n) == 0;
    if (!ok || !s->user_known) {
        rc = YB_EAUTH;
        goto done;
    }
    rc = hmac(s->hash, s->keys.server_key, n, am.data, am.len, sig);
    if (rc != 0)
        goto done;
    char *v = base64_encode(sig, n);
    struct buf out = BUF_INIT;
    if (v == NULL || buf_printf(&out, "v=%s", v) != 0) {
        rc = YB_ENOMEM;
    } else {
        *server_final = buf_steal(&out);
    }
    yb_free(v);
done:
    buf_fini(&am);
    OPENSSL_cleanse(client_key, sizeof client_key);
    OPENSSL_cleanse(proof, sizeof proof);
    return rc;
}

int
scram_server_client_final(struct scram_server *s, const char *msg, size_t len, char **server_final)
{
    *server_final = NULL;
    if (s->state != SS_CHALLENGED)
        return YB_EINVAL;
    s->state = SS_DONE; /* one attempt per exchange */
    int rc;
    char *m = msg_copy(msg, len, &rc);
    if (m == NULL)
        return rc;
    rc = server_check_final(s, m, server_final);
    yb_free(m);
    return rc;
}

/* ---- client ---------------------------------------------------------------------- */

enum scram_client_state { SC_START, SC_SENT_FIRST, SC_SENT_FINAL, SC_DONE };

struct scram_client {
    enum scram_hash hash;
    enum scram_client_state state;
    char *user;     /* prepared and escaped */
    char *password; /* prepared */
    char flag;      /* 'n', 'y' or 'p' */
    char *cb_name;
    unsigned char *cb_data;
    size_t cb_len;
    char *nonce; /* our part */
    char *gs2_header;
    char *first_bare;
    unsigned char server_signature[SCRAM_MAX_KEY];
};

struct scram_client *
scram_client_new(enum scram_hash h, const char *user, const char *password, const char *cb_name,
                 const unsigned char *cb_data, size_t cb_len)
{
    if (!hash_valid(h) || user == NULL || password == NULL)
        return NULL;
    if (cb_name != NULL && !cb_name_valid(cb_name, strlen(cb_name)))
        return NULL;
    if (cb_len > 0 && cb_data == NULL)
        return NULL;
    struct scram_client *c = yb_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->hash = h;
    c->state = SC_START;
    c->flag = cb_name ? 'p' : 'n';
    char *prepped = NULL;
    struct buf b = BUF_INIT;
    if (proto__saslprep(user, true, &prepped) != 0 || prepped[0] == '\0' ||
        saslname_encode(prepped, &b) != 0)
        goto fail;
    c->user = buf_steal(&b);
    if (c->user == NULL || proto__saslprep(password, true, &c->password) != 0 ||
        c->password[0] == '\0')
        goto fail;
    if (cb_name) {
        c->cb_name = yb_strdup(cb_name);
        c->cb_data = yb_malloc(cb_len);
        if (c->cb_name == NULL || c->cb_data == NULL)
            goto fail;
        if (cb_len)
            memcpy(c->cb_data, cb_data, cb_len);
        c->cb_len = cb_len;
    }
    yb_free(prepped);
    return c;
fail:
    buf_fini(&b);
    yb_free(prepped);
    scram_client_free(c);
    return NULL;
}

void
scram_client_free(struct scram_client *c)
{
    if (c == NULL)
        return;
    yb_free(c->user);
    if (c->password) {
        OPENSSL_cleanse(c->password, strlen(c->password));
        yb_free(c->password);
    }
    yb_free(c->cb_name);
    yb_free(c->cb_data);
    yb_free(c->nonce);
    yb_free(c->gs2_header);
    yb_free(c->first_bare);
    OPENSSL_cleanse(c->server_signature, sizeof c->server_signature);
    yb_free(c);
}

int
scram_client__set_nonce(struct scram_client *c, const char *client_nonce)
{
    if (c->state != SC_START || !nonce_valid(client_nonce, strlen(client_nonce)))
        return YB_EINVAL;
    char *copy = yb_strdup(client_nonce);
    if (copy == NULL)
        return YB_ENOMEM;
    yb_free(c->nonce);
    c->nonce = copy;
    return 0;
}

int
scram_client__set_flag_y(struct scram_client *c)
{
    if (c->state != SC_START || c->flag != 'n')
        return YB_EINVAL;
    c->flag = 'y';
    return 0;
}

char *
scram_client_first(struct scram_client *c)
{
    if (c->state != SC_START)
        return NULL;
    c->state = SC_DONE; /* unless everything below succeeds */
    if (c->nonce == NULL && random_b64(SCRAM_NONCE_BYTES, &c->nonce) != 0)
        return NULL;
    /* gs2-header = gs2-cbind-flag "," [ authzid ] ","; we never send an authzid. */
    struct buf b = BUF_INIT;
    int rc =
        c->flag == 'p' ? buf_printf(&b, "p=%s,,", c->cb_name) : buf_printf(&b, "%c,,", c->flag);
    if (rc != 0)
        return NULL;
    c->gs2_header = buf_steal(&b);
    if (buf_printf(&b, "n=%s,r=%s", c->user, c->nonce) != 0)
        return NULL;
    c->first_bare = buf_steal(&b);
    if (buf_printf(&b, "%s%s", c->gs2_header, c->first_bare) != 0)
        return NULL;
    c->state = SC_SENT_FIRST;
    return buf_steal(&b);
}

/* i= value: decimal without sign or leading zero. */
static bool
parse_iterations(const char *s, size_t len, unsigned *out)
{
    if (len == 0 || len > 9 || s[0] == '0')
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

static char *
client_build_final(struct scram_client *c, const char *m)
{
    /* server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
     *                        ["," extensions] */
    const char *p = m;
    struct attr r, s, i;
    size_t our_len = strlen(c->nonce);
    unsigned iterations;
    if (!next_attr(&p, &r) || r.name != 'r' || r.len <= our_len ||
        memcmp(r.val, c->nonce, our_len) != 0 || !nonce_valid(r.val, r.len))
        return NULL;
    if (!next_attr(&p, &s) || s.name != 's' || !next_attr(&p, &i) || i.name != 'i' ||
        !parse_iterations(i.val, i.len, &iterations) || iterations > SCRAM_CLIENT_MAX_ITERS ||
        !skip_extensions(p))
        return NULL;
    size_t salt_len = 0;
    unsigned char *salt = base64_decode(s.val, s.len, &salt_len);
    if (salt == NULL)
        return NULL;

    size_t n = scram_hash_size(c->hash);
    unsigned char client_key[SCRAM_MAX_KEY], sig[SCRAM_MAX_KEY];
    struct scram_keys keys;
    struct buf am = BUF_INIT, out = BUF_INIT;
    char *cbind = NULL, *proof = NULL, *result = NULL;
    if (salt_len == 0 || salt_len > SCRAM_MAX_SALT ||
        key_schedule(c->hash, c->password, salt, salt_len, iterations, client_key, &keys) != 0)
        goto done;
    cbind = cbind_input_b64(c->gs2_header, strlen(c->gs2_header), c->cb_data, c->cb_len);
    if (cbind == NULL)
        goto done;
    if (buf_printf(&out, "c=%s,r=%.*s", cbind, (int)r.len, r.val) != 0 ||
        buf_printf(&am, "%s,%s,%s", c->first_bare, m, out.data) != 0)
        goto done;
    if (hmac(c->hash, keys.stored_key, n, am.data, am.len, sig) != 0)
        goto done;
    for (size_t k = 0; k < n; k++)
        sig[k] ^= client_key[k];
    proof = base64_encode(sig, n);
    if (proof == NULL ||
        hmac(c->hash, keys.server_key, n, am.data, am.len, c->server_signature) != 0)
        goto done;
    if (buf_printf(&out, ",p=%s", proof) != 0)
        goto done;
    result = buf_steal(&out);
done:
    OPENSSL_cleanse(client_key, sizeof client_key);
    OPENSSL_cleanse(&keys, sizeof keys);
    yb_free(salt);
    yb_free(cbind);
    yb_free(proof);
    buf_fini(&am);
    buf_fini(&out);
    return result;
}

char *
scram_client_final(struct scram_client *c, const char *server_first, size_t len)
{
    if (c->state != SC_SENT_FIRST)
        return NULL;
    c->state = SC_DONE;
    int rc;
    char *m = msg_copy(server_first, len, &rc);
    if (m == NULL)
        return NULL;
    char *out = client_build_final(c, m);
    yb_free(m);
    if (out != NULL)
        c->state = SC_SENT_FINAL;
    return out;
}

int
scram_client_verify(struct scram_client *c, const char *server_final, size_t len)
{
    if (c->state != SC_SENT_FINAL)
        return YB_EINVAL;
    c->state = SC_DONE;
    int rc;
    char *m = msg_copy(server_final, len, &rc);
    if (m == NULL)
        return rc;
    /* server-final-message = (server-error / verifier) ["," extensions] */
    const char *p = m;
    struct attr v;
    size_t n = scram_hash_size(c->hash);
    unsigned char sig[SCRAM_MAX_KEY];
    if (!next_attr(&p, &v) || !skip_extensions(p))
        rc = YB_EINVAL;
    else if (v.name == 'e')
        rc = YB_EAUTH;
    else if (v.name != 'v' || b64_exact(v.val, v.len, sig, n) != 0)
        rc = YB_EINVAL;
    else
        rc = CRYPTO_memcmp(sig, c->server_signature, n) == 0 ? 0 : YB_EAUTH;
    yb_free(m);
    return rc;
}
