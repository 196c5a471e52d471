/* SPDX-License-Identifier: MIT
 *
 * storage.h: persistent data (DESIGN.md §7). Two faces:
 *
 *  - struct db: the synchronous store on one SQLite file (WAL, versioned schema,
 *    migrations at open). Used only by the storage worker thread, and by yerbactl
 *    while the server is down. Accounts, and three kinds of store addressed by
 *    (host, user, store): key-value, map (key -> value), and archive (append-only
 *    items with id, time and peer, paged by id).
 *
 *  - struct storage: the asynchronous front the core thread uses. A request carries
 *    a work function (run on the worker with the db) and a done function (run later
 *    on the loop thread). The worker runs each batch of queued requests inside one
 *    transaction (each request in its own savepoint), commits, then posts every done
 *    callback: group commit, and "done" means durable.
 */
#ifndef YB_STORAGE_H
#define YB_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "list.h"

struct db;

/* Opens (creating if needed) the database file and migrates the schema.
 * Returns 0, YB_EIO (with a log line giving SQLite's message), or YB_ENOMEM. */
int db_open(const char *path, struct db **out);
/* Accepts NULL. */
void db_close(struct db *db);
/* Current schema version (for tests). */
int db_schema_version(struct db *db);

/* Explicit transactions for batches of calls. They nest: inner levels are savepoints,
 * so db_rollback() undoes only the innermost open level. Return 0 or YB_EIO
 * (db_commit: also YB_EFULL when the disk fills at commit; a failed outermost commit
 * is rolled back). Functions below that change several rows are atomic on their own,
 * inside or outside a transaction. */
int db_begin(struct db *db);
int db_commit(struct db *db);
int db_rollback(struct db *db);

/* ---- accounts ---- */

#define DB_MAX_KEY  64
#define DB_MAX_SALT 64

/* One SCRAM credential (mech: "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"). */
struct db_credential {
    char mech[16];
    unsigned iterations;
    size_t salt_len;
    unsigned char salt[DB_MAX_SALT];
    size_t key_len;
    unsigned char stored_key[DB_MAX_KEY];
    unsigned char server_key[DB_MAX_KEY];
};

/* Creates an account with its credentials. Returns 0, YB_EEXIST, YB_EIO, or YB_EINVAL
 * (a credential with an empty or too long mech, lengths over DB_MAX_*, or the same
 * mech twice). */
int db_account_create(struct db *db, const char *host, const char *user,
                      const struct db_credential *creds, size_t n_creds);
/* Replaces all credentials of an existing account. Returns 0, YB_ENOENT, YB_EIO,
 * YB_EINVAL (as db_account_create). */
int db_account_set_credentials(struct db *db, const char *host, const char *user,
                               const struct db_credential *creds, size_t n_creds);
/* Fetches the credential for mech. Returns 0, YB_ENOENT (no account or no such
 * credential), YB_EIO. */
int db_account_get_credential(struct db *db, const char *host, const char *user, const char *mech,
                              struct db_credential *out);
/* True if the account exists (false on error too). */
bool db_account_exists(struct db *db, const char *host, const char *user);
/* Deletes the account and every item of every store of that user.
 * Returns 0, YB_ENOENT, YB_EIO. (Store items of a user without an account are
 * deleted too; the result is then YB_ENOENT.) */
int db_account_delete(struct db *db, const char *host, const char *user);
/* Calls fn for each account of host (all hosts when host is NULL), ordered by host
 * then user. fn returns nonzero to stop. Returns 0 or YB_EIO. */
typedef int (*db_account_fn)(void *ud, const char *host, const char *user);
int db_account_list(struct db *db, const char *host, db_account_fn fn, void *ud);
/* Number of accounts on host (all when NULL), or a negative error. */
long db_account_count(struct db *db, const char *host);

/* ---- key-value store: one value per (host, user, store, key) ---- */

/* Appends the value to out. Returns 0, YB_ENOENT, YB_EIO, YB_ENOMEM. */
int db_kv_get(struct db *db, const char *host, const char *user, const char *store, const char *key,
              struct buf *out);
/* Returns 0, YB_EIO, YB_EFULL (disk or database full). */
int db_kv_set(struct db *db, const char *host, const char *user, const char *store, const char *key,
              const void *data, size_t len);
/* Returns 0 (also when absent) or YB_EIO. */
int db_kv_delete(struct db *db, const char *host, const char *user, const char *store,
                 const char *key);

/* ---- map store: many keys per (host, user, store) ---- */

typedef int (*db_map_fn)(void *ud, const char *key, const void *data, size_t len);
/* Same contracts as db_kv_*; map and kv live in separate tables. */
int db_map_get(struct db *db, const char *host, const char *user, const char *store,
               const char *key, struct buf *out);
int db_map_set(struct db *db, const char *host, const char *user, const char *store,
               const char *key, const void *data, size_t len);
int db_map_delete(struct db *db, const char *host, const char *user, const char *store,
                  const char *key);
/* Calls fn for every key, in key order; fn returns nonzero to stop.
 * Returns 0 or YB_EIO. */
int db_map_list(struct db *db, const char *host, const char *user, const char *store, db_map_fn fn,
                void *ud);
/* Deletes every key. Returns 0 or YB_EIO. */
int db_map_clear(struct db *db, const char *host, const char *user, const char *store);

/* ---- archive store: ordered items (offline messages, later MAM) ---- */

struct db_archive_item {
    int64_t id;       /* increasing per database */
    int64_t when_us;  /* Unix time in microseconds */
    const char *with; /* peer JID, or "" */
    const void *data;
    size_t len;
};
typedef int (*db_archive_fn)(void *ud, const struct db_archive_item *item);

/* Appends an item unless the (host, user, store) already holds max_items or more
 * (max_items 0: unlimited). Sets *id. Returns 0, YB_ELIMIT (quota), YB_EFULL
 * (database full), YB_EIO. */
int db_archive_append(struct db *db, const char *host, const char *user, const char *store,
                      int64_t when_us, const char *with, const void *data, size_t len,
                      size_t max_items, int64_t *id);
/* Items with id > after_id in id order, at most limit (0: all). Returns 0 or YB_EIO. */
int db_archive_list(struct db *db, const char *host, const char *user, const char *store,
                    int64_t after_id, size_t limit, db_archive_fn fn, void *ud);
/* Number of items, or a negative error. */
long db_archive_count(struct db *db, const char *host, const char *user, const char *store);
/* Deletes items with id <= up_to_id. Returns 0 or YB_EIO. */
int db_archive_delete_upto(struct db *db, const char *host, const char *user, const char *store,
                           int64_t up_to_id);

/* ---- asynchronous front ---- */

struct storage;
struct storage_req;

/* Runs on the worker thread: may use only db and the request's own memory. Its
 * return value becomes req->status. */
typedef int (*storage_work_fn)(struct db *db, struct storage_req *req);
/* Runs on the loop thread after the batch committed (or rolled back: then status
 * is YB_EIO unless work already failed). May free the request. */
typedef void (*storage_done_fn)(struct storage_req *req);

/* Embed in your own request struct; fill work and done, then storage_submit(). */
struct storage_req {
    storage_work_fn work;
    storage_done_fn done;
    int status;
    struct list_node link; /* internal */
};

/* Opens the database (db_open) and starts the worker thread; completions run on
 * loop. Returns 0 or an error from db_open. */
int storage_open(uv_loop_t *loop, const char *path, struct storage **out);
/* Queues a request. Returns 0, or YB_ECLOSED after storage_close() started (then
 * done is never called). */
int storage_submit(struct storage *s, struct storage_req *req);
/* Finishes every queued request (their done callbacks run inside this call), stops
 * the worker and closes the database. Must be called on the loop thread; may be
 * called from a done callback. Accepts NULL. The memory of s is released by the loop
 * once its uv_async_t has closed: run the loop (uv_run) before uv_loop_close(). */
void storage_close(struct storage *s);
/* Requests waiting or running (statistics). */
size_t storage_pending(const struct storage *s);

#endif
