/* SPDX-License-Identifier: MIT
 *
 * auth.c: account credentials. Only SCRAM keys are stored (DESIGN.md §7). Reads and
 * writes go through the storage worker; PBKDF2 (PLAIN logins, new passwords) runs on
 * libuv's thread pool, never on the core thread.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "server.h"

static void
keys_to_credential(const struct scram_keys *k, struct db_credential *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->mech, sizeof c->mech, "%s", scram_hash_mech(k->hash));
    c->iterations = k->iterations;
    c->salt_len = k->salt_len;
    memcpy(c->salt, k->salt, k->salt_len);
    c->key_len = k->key_len;
    memcpy(c->stored_key, k->stored_key, k->key_len);
    memcpy(c->server_key, k->server_key, k->key_len);
}

static void
credential_to_keys(const struct db_credential *c, enum scram_hash h, struct scram_keys *k)
{
    memset(k, 0, sizeof *k);
    k->hash = h;
    k->iterations = c->iterations;
    k->salt_len = c->salt_len < sizeof k->salt ? c->salt_len : sizeof k->salt;
    memcpy(k->salt, c->salt, k->salt_len);
    k->key_len = c->key_len < sizeof k->stored_key ? c->key_len : sizeof k->stored_key;
    memcpy(k->stored_key, c->stored_key, k->key_len);
    memcpy(k->server_key, c->server_key, k->key_len);
}

/* ---- reading keys ---- */

struct keys_req {
    struct storage_req req;
    char *domain, *node;
    enum scram_hash hash;
    struct db_credential cred;
    auth_keys_fn fn;
    void *ud;
};

static int
keys_work(struct db *db, struct storage_req *r)
{
    struct keys_req *kr = (struct keys_req *)r;
    return db_account_get_credential(db, kr->domain, kr->node, scram_hash_mech(kr->hash),
                                     &kr->cred);
}

static void
keys_done(struct storage_req *r)
{
    struct keys_req *kr = (struct keys_req *)r;
    struct scram_keys keys;
    credential_to_keys(&kr->cred, kr->hash, &keys);
    kr->fn(kr->ud, r->status, r->status == 0 ? &keys : NULL);
    memset(&keys, 0, sizeof keys);
    memset(&kr->cred, 0, sizeof kr->cred);
    yb_free(kr->domain);
    yb_free(kr->node);
    yb_free(kr);
}

void
auth_get_keys(const char *domain, const char *node, enum scram_hash h, auth_keys_fn fn, void *ud)
{
    struct keys_req *kr = yb_calloc(1, sizeof *kr);
    kr->req.work = keys_work;
    kr->req.done = keys_done;
    kr->domain = yb_strdup(domain);
    kr->node = yb_strdup(node);
    kr->hash = h;
    kr->fn = fn;
    kr->ud = ud;
    if (storage_submit(srv->storage, &kr->req) != 0) {
        kr->req.status = YB_EIO;
        keys_done(&kr->req);
    }
}

/* ---- PLAIN: fetch the SHA-256 keys, then derive on the thread pool ---- */

struct plain_op {
    uv_work_t work;
    char *password;
    struct scram_keys keys;
    bool ok;
    auth_check_fn fn;
    void *ud;
};

static void
plain_derive(uv_work_t *w)
{
    struct plain_op *op = w->data;
    op->ok = scram_keys_check_password(&op->keys, op->password);
}

static void
plain_op_free(struct plain_op *op)
{
    if (op->password != NULL) {
        memset(op->password, 0, strlen(op->password));
        yb_free(op->password);
    }
    memset(&op->keys, 0, sizeof op->keys);
    yb_free(op);
}

static void
plain_derived(uv_work_t *w, int status)
{
    struct plain_op *op = w->data;
    op->fn(op->ud, status == 0 && op->ok ? 0 : YB_EAUTH);
    plain_op_free(op);
}

static void
plain_keys(void *ud, int status, const struct scram_keys *keys)
{
    struct plain_op *op = ud;
    if (status != 0) {
        op->fn(op->ud, status == YB_ENOENT ? YB_EAUTH : status);
        plain_op_free(op);
        return;
    }
    op->keys = *keys;
    op->work.data = op;
    uv_queue_work(srv->loop, &op->work, plain_derive, plain_derived);
}

void
auth_check_plain(const char *domain, const char *node, const char *password, auth_check_fn fn,
                 void *ud)
{
    struct plain_op *op = yb_calloc(1, sizeof *op);
    op->password = yb_strdup(password);
    op->fn = fn;
    op->ud = ud;
    auth_get_keys(domain, node, SCRAM_SHA256, plain_keys, op);
}

/* ---- setting passwords, creating and deleting accounts ---- */

static int
derive_all(const char *password, unsigned iterations, struct db_credential creds[SCRAM_N_HASHES])
{
    static const enum scram_hash hashes[] = {SCRAM_SHA1, SCRAM_SHA256, SCRAM_SHA512};
    for (int i = 0; i < SCRAM_N_HASHES; i++) {
        struct scram_keys k;
        int rc = scram_keys_generate(hashes[i], password, iterations, &k);
        if (rc != 0)
            return rc;
        keys_to_credential(&k, &creds[i]);
        memset(&k, 0, sizeof k);
    }
    return 0;
}

int
auth_set_password_sync(struct db *db, const char *domain, const char *node, const char *password,
                       unsigned iterations, bool create)
{
    struct db_credential creds[SCRAM_N_HASHES];
    int rc = derive_all(password, iterations, creds);
    if (rc == 0)
        rc = create ? db_account_create(db, domain, node, creds, SCRAM_N_HASHES)
                    : db_account_set_credentials(db, domain, node, creds, SCRAM_N_HASHES);
    memset(creds, 0, sizeof creds);
    return rc;
}

struct set_op {
    uv_work_t work;
    struct storage_req req;
    char *domain, *node, *password;
    unsigned iterations;
    bool create;
    int status;
    struct db_credential creds[SCRAM_N_HASHES];
    auth_check_fn fn;
    void *ud;
};

static void
set_op_free(struct set_op *op)
{
    memset(op->password, 0, strlen(op->password));
    yb_free(op->password);
    yb_free(op->domain);
    yb_free(op->node);
    memset(op->creds, 0, sizeof op->creds);
    yb_free(op);
}

static int
set_work(struct db *db, struct storage_req *r)
{
    struct set_op *op = (struct set_op *)((char *)r - offsetof(struct set_op, req));
    return op->create
               ? db_account_create(db, op->domain, op->node, op->creds, SCRAM_N_HASHES)
               : db_account_set_credentials(db, op->domain, op->node, op->creds, SCRAM_N_HASHES);
}

static void
set_stored(struct storage_req *r)
{
    struct set_op *op = (struct set_op *)((char *)r - offsetof(struct set_op, req));
    op->fn(op->ud, r->status);
    set_op_free(op);
}

static void
set_derive(uv_work_t *w)
{
    struct set_op *op = w->data;
    op->status = derive_all(op->password, op->iterations, op->creds);
}

static void
set_derived(uv_work_t *w, int status)
{
    struct set_op *op = w->data;
    if (status != 0 || op->status != 0) {
        op->fn(op->ud, op->status ? op->status : YB_EIO);
        set_op_free(op);
        return;
    }
    op->req.work = set_work;
    op->req.done = set_stored;
    if (storage_submit(srv->storage, &op->req) != 0) {
        op->req.status = YB_ECLOSED;
        set_stored(&op->req);
    }
}

void
auth_set_password(const char *domain, const char *node, const char *password, bool create,
                  auth_check_fn fn, void *ud)
{
    struct set_op *op = yb_calloc(1, sizeof *op);
    op->domain = yb_strdup(domain);
    op->node = yb_strdup(node);
    op->password = yb_strdup(password);
    op->iterations = srv->cfg->scram_iterations;
    op->create = create;
    op->fn = fn;
    op->ud = ud;
    op->work.data = op;
    uv_queue_work(srv->loop, &op->work, set_derive, set_derived);
}

struct del_op {
    struct storage_req req;
    char *domain, *node;
    auth_check_fn fn;
    void *ud;
};

static int
del_work(struct db *db, struct storage_req *r)
{
    struct del_op *op = (struct del_op *)r;
    return db_account_delete(db, op->domain, op->node);
}

static void
del_done(struct storage_req *r)
{
    struct del_op *op = (struct del_op *)r;
    op->fn(op->ud, r->status);
    yb_free(op->domain);
    yb_free(op->node);
    yb_free(op);
}

void
auth_delete_user(const char *domain, const char *node, auth_check_fn fn, void *ud)
{
    struct del_op *op = yb_calloc(1, sizeof *op);
    op->req.work = del_work;
    op->req.done = del_done;
    op->domain = yb_strdup(domain);
    op->node = yb_strdup(node);
    op->fn = fn;
    op->ud = ud;
    if (storage_submit(srv->storage, &op->req) != 0) {
        op->req.status = YB_ECLOSED;
        del_done(&op->req);
    }
}
