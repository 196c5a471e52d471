/* SPDX-License-Identifier: MIT
 *
 * db.c: the synchronous SQLite store behind struct db (DESIGN.md §7): connection
 * setup (WAL, synchronous=NORMAL, foreign keys, busy timeout), the versioned schema
 * and its migrations, nested transactions as savepoints, a cache of prepared
 * statements, and the account, key-value, map and archive operations.
 * One thread at a time: the storage worker, or yerbactl while the server is down.
 * Never logs stored values, only SQLite's messages. docs/internals/storage.md.
 */
#include "storage.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "error.h"
#include "internal.h"
#include "log.h"

/* Waits this long for a lock held by another connection (yerbactl) before failing. */
#define DB_BUSY_TIMEOUT_MS 5000
/* Repeats of the same SQLite error within this window are counted, not logged. */
#define DB_LOG_QUIET_MS 10000
/* PRAGMA application_id: "YERB". Refuses SQLite files written by something else. */
#define DB_APPLICATION_ID 0x59455242

/* Schema migrations: migrations[i] takes PRAGMA user_version from i to i + 1. All
 * pending ones run at open in one transaction. Append only; never edit a shipped one. */
static const char *const migrations[] = {
    /* 1: accounts, SCRAM credentials, kv, map and archive stores. */
    "CREATE TABLE accounts ("
    "  host TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  created INTEGER NOT NULL," /* Unix seconds */
    "  PRIMARY KEY (host, user)"
    ") WITHOUT ROWID;"
    "CREATE TABLE credentials ("
    "  host TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  mech TEXT NOT NULL,"
    "  iterations INTEGER NOT NULL,"
    "  salt BLOB NOT NULL,"
    "  stored_key BLOB NOT NULL,"
    "  server_key BLOB NOT NULL,"
    "  PRIMARY KEY (host, user, mech),"
    "  FOREIGN KEY (host, user) REFERENCES accounts (host, user) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE TABLE kv ("
    "  host TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  store TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value BLOB NOT NULL,"
    "  PRIMARY KEY (host, user, store, key)"
    ");"
    "CREATE TABLE map ("
    "  host TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  store TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value BLOB NOT NULL,"
    "  PRIMARY KEY (host, user, store, key)"
    ");"
    /* AUTOINCREMENT: ids are never reused, even after the newest item is deleted,
     * so "after_id" paging and delete_upto stay correct. */
    "CREATE TABLE archive ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  host TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  store TEXT NOT NULL,"
    "  when_us INTEGER NOT NULL,"
    "  with_jid TEXT NOT NULL,"
    "  data BLOB NOT NULL"
    ");"
    "CREATE INDEX archive_by_owner ON archive (host, user, store, id);",
};

#define DB_SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

enum stmt_id {
    ST_ACCOUNT_INSERT,
    ST_ACCOUNT_EXISTS,
    ST_ACCOUNT_DELETE,
    ST_ACCOUNT_LIST_HOST,
    ST_ACCOUNT_LIST_ALL,
    ST_ACCOUNT_COUNT_HOST,
    ST_ACCOUNT_COUNT_ALL,
    ST_CRED_INSERT,
    ST_CRED_GET,
    ST_CRED_DELETE_USER,
    ST_KV_GET,
    ST_KV_SET,
    ST_KV_DELETE,
    ST_KV_DELETE_USER,
    ST_MAP_GET,
    ST_MAP_SET,
    ST_MAP_DELETE,
    ST_MAP_LIST,
    ST_MAP_CLEAR,
    ST_MAP_DELETE_USER,
    ST_ARCHIVE_APPEND,
    ST_ARCHIVE_LIST,
    ST_ARCHIVE_COUNT,
    ST_ARCHIVE_DELETE_UPTO,
    ST_ARCHIVE_DELETE_USER,
    ST_COUNT
};

/* Parameters are numbered: ?1 host, ?2 user, ?3 store (or mech), then the rest. */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_ACCOUNT_INSERT] = "INSERT INTO accounts (host, user, created) VALUES (?1, ?2, ?3)",
    [ST_ACCOUNT_EXISTS] = "SELECT 1 FROM accounts WHERE host = ?1 AND user = ?2",
    [ST_ACCOUNT_DELETE] = "DELETE FROM accounts WHERE host = ?1 AND user = ?2",
    [ST_ACCOUNT_LIST_HOST] = "SELECT host, user FROM accounts WHERE host = ?1 ORDER BY host, user",
    [ST_ACCOUNT_LIST_ALL] = "SELECT host, user FROM accounts ORDER BY host, user",
    [ST_ACCOUNT_COUNT_HOST] = "SELECT count(*) FROM accounts WHERE host = ?1",
    [ST_ACCOUNT_COUNT_ALL] = "SELECT count(*) FROM accounts",
    [ST_CRED_INSERT] = "INSERT INTO credentials (host, user, mech, iterations, salt, stored_key,"
                       " server_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_CRED_GET] = "SELECT iterations, salt, stored_key, server_key FROM credentials"
                    " WHERE host = ?1 AND user = ?2 AND mech = ?3",
    [ST_CRED_DELETE_USER] = "DELETE FROM credentials WHERE host = ?1 AND user = ?2",
    [ST_KV_GET] = "SELECT value FROM kv WHERE host = ?1 AND user = ?2 AND store = ?3 AND key = ?4",
    [ST_KV_SET] = "INSERT INTO kv (host, user, store, key, value) VALUES (?1, ?2, ?3, ?4, ?5)"
                  " ON CONFLICT (host, user, store, key) DO UPDATE SET value = excluded.value",
    [ST_KV_DELETE] = "DELETE FROM kv WHERE host = ?1 AND user = ?2 AND store = ?3 AND key = ?4",
    [ST_KV_DELETE_USER] = "DELETE FROM kv WHERE host = ?1 AND user = ?2",
    [ST_MAP_GET] = "SELECT value FROM map WHERE host = ?1 AND user = ?2 AND store = ?3"
                   " AND key = ?4",
    [ST_MAP_SET] = "INSERT INTO map (host, user, store, key, value) VALUES (?1, ?2, ?3, ?4, ?5)"
                   " ON CONFLICT (host, user, store, key) DO UPDATE SET value = excluded.value",
    [ST_MAP_DELETE] = "DELETE FROM map WHERE host = ?1 AND user = ?2 AND store = ?3 AND key = ?4",
    [ST_MAP_LIST] = "SELECT key, value FROM map WHERE host = ?1 AND user = ?2 AND store = ?3"
                    " ORDER BY key",
    [ST_MAP_CLEAR] = "DELETE FROM map WHERE host = ?1 AND user = ?2 AND store = ?3",
    [ST_MAP_DELETE_USER] = "DELETE FROM map WHERE host = ?1 AND user = ?2",
    [ST_ARCHIVE_APPEND] = "INSERT INTO archive (host, user, store, when_us, with_jid, data)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_ARCHIVE_LIST] = "SELECT id, when_us, with_jid, data FROM archive"
                        " WHERE host = ?1 AND user = ?2 AND store = ?3 AND id > ?4"
                        " ORDER BY id LIMIT ?5",
    [ST_ARCHIVE_COUNT] = "SELECT count(*) FROM archive WHERE host = ?1 AND user = ?2"
                         " AND store = ?3",
    [ST_ARCHIVE_DELETE_UPTO] = "DELETE FROM archive WHERE host = ?1 AND user = ?2 AND store = ?3"
                               " AND id <= ?4",
    [ST_ARCHIVE_DELETE_USER] = "DELETE FROM archive WHERE host = ?1 AND user = ?2",
};

struct db {
    sqlite3 *sql;
    int depth; /* open db_begin() levels; level 1 is BEGIN, deeper ones savepoints */
    int version;
    sqlite3_stmt *stmts[ST_COUNT]; /* prepared on first use */
    /* Error log throttling: one line per burst of the same error. */
    int last_err;
    uint64_t last_log_ms;
    unsigned long n_suppressed;
};

/* SQLite binds a NULL pointer as SQL NULL; empty values point here instead. */
static const char empty_blob[1];

/* Maps a failed SQLite call to YB_EFULL or YB_EIO and logs SQLite's message (which
 * never contains bound values). Must run right after the failing call. */
static int
db_fail(struct db *db, int src, const char *what)
{
    int prim = src & 0xff;
    int err = prim == SQLITE_FULL || prim == SQLITE_TOOBIG ? YB_EFULL : YB_EIO;
    uint64_t now = clock_mono_ms();
    if (src == db->last_err && now - db->last_log_ms < DB_LOG_QUIET_MS) {
        db->n_suppressed++;
        return err;
    }
    if (db->n_suppressed > 0)
        log_error("storage", "%s: %s (sqlite %d; %lu similar errors not logged)", what,
                  sqlite3_errmsg(db->sql), src, db->n_suppressed);
    else
        log_error("storage", "%s: %s (sqlite %d)", what, sqlite3_errmsg(db->sql), src);
    db->last_err = src;
    db->last_log_ms = now;
    db->n_suppressed = 0;
    return err;
}

int
db__depth(const struct db *db)
{
    return db->depth;
}

bool
db__txn_lost(const struct db *db)
{
    return db->depth > 0 && sqlite3_get_autocommit(db->sql);
}

sqlite3 *
db__handle(struct db *db)
{
    return db->sql;
}

/* Runs SQL without results (transaction control, pragmas, migrations). */
static int
db_exec(struct db *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db->sql, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(db, rc, what);
}

/* Hands out the cached statement for id, or a temporary copy when the cached one is
 * in use further up the stack (a list callback calling back into the db). */
static int
stmt_get(struct db *db, enum stmt_id id, sqlite3_stmt **out)
{
    /* Statements after a lost transaction would run in autocommit mode and persist
     * half of a request. */
    if (db__txn_lost(db))
        return YB_EIO;
    sqlite3_stmt *st = db->stmts[id];
    if (st != NULL && !sqlite3_stmt_busy(st)) {
        *out = st;
        return 0;
    }
    unsigned flags = st == NULL ? SQLITE_PREPARE_PERSISTENT : 0;
    int rc = sqlite3_prepare_v3(db->sql, stmt_sql[id], -1, flags, &st, NULL);
    if (rc != SQLITE_OK)
        return db_fail(db, rc, "prepare");
    if (db->stmts[id] == NULL)
        db->stmts[id] = st;
    *out = st;
    return 0;
}

static void
stmt_put(struct db *db, enum stmt_id id, sqlite3_stmt *st)
{
    if (st == db->stmts[id]) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
}

static int
bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static int
bind_blob(sqlite3_stmt *st, int i, const void *data, size_t len)
{
    return sqlite3_bind_blob64(st, i, len > 0 ? data : empty_blob, len, SQLITE_STATIC);
}

/* Binds ?1 host, ?2 user and, when store is not NULL, ?3 store. */
static int
bind_owner(sqlite3_stmt *st, const char *host, const char *user, const char *store)
{
    int rc = bind_text(st, 1, host);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, user);
    if (rc == SQLITE_OK && store != NULL)
        rc = bind_text(st, 3, store);
    return rc;
}

/* Steps a statement that returns no rows. */
static int
stmt_run(struct db *db, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : db_fail(db, rc, what);
}

/* Runs a single-value "SELECT count(*)" after binding. Returns the count or an error. */
static long
stmt_count(struct db *db, sqlite3_stmt *st, int bind_rc, const char *what)
{
    if (bind_rc != SQLITE_OK)
        return db_fail(db, bind_rc, what);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return db_fail(db, rc, what);
    sqlite3_int64 n = sqlite3_column_int64(st, 0);
    return n > LONG_MAX ? LONG_MAX : (long)n;
}

/* ---- transactions ---- */

int
db_begin(struct db *db)
{
    if (db__txn_lost(db))
        return YB_EIO;
    int rc;
    if (db->depth == 0) {
        /* IMMEDIATE takes the write lock now, under busy_timeout: a deferred
         * transaction that reads first can fail with SQLITE_BUSY at its first write
         * without waiting, when yerbactl wrote in between. */
        rc = db_exec(db, "BEGIN IMMEDIATE", "begin");
    } else {
        char sql[32];
        snprintf(sql, sizeof sql, "SAVEPOINT yb%d", db->depth + 1);
        rc = db_exec(db, sql, "savepoint");
    }
    if (rc == 0)
        db->depth++;
    return rc;
}

int
db_commit(struct db *db)
{
    if (db->depth == 0)
        return YB_EIO;
    if (db__txn_lost(db)) {
        db->depth--;
        return YB_EIO;
    }
    int rc;
    if (db->depth == 1) {
        rc = db_exec(db, "COMMIT", "commit");
        /* A failed COMMIT (SQLITE_BUSY, SQLITE_FULL) may leave the transaction
         * open; roll it back so the connection is clean for the next batch. */
        if (rc != 0 && !sqlite3_get_autocommit(db->sql))
            sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
    } else {
        char sql[32];
        snprintf(sql, sizeof sql, "RELEASE yb%d", db->depth);
        rc = db_exec(db, sql, "release");
    }
    db->depth--;
    return rc;
}

int
db_rollback(struct db *db)
{
    if (db->depth == 0)
        return 0;
    int rc = 0;
    if (db__txn_lost(db)) {
        /* SQLite already rolled everything back. */
    } else if (db->depth == 1) {
        rc = db_exec(db, "ROLLBACK", "rollback");
    } else {
        /* ROLLBACK TO keeps the savepoint on the stack; RELEASE pops it. */
        char sql[64];
        snprintf(sql, sizeof sql, "ROLLBACK TO yb%d; RELEASE yb%d", db->depth, db->depth);
        rc = db_exec(db, sql, "rollback to savepoint");
    }
    db->depth--;
    return rc;
}

/* Ends a level opened by db_begin(): commits when rc is 0, else rolls back and keeps
 * rc. */
static int
db_end(struct db *db, int rc)
{
    if (rc == 0)
        return db_commit(db);
    db_rollback(db);
    return rc;
}

/* ---- open, migrate, close ---- */

static int
db_pragma_int(struct db *db, const char *sql, int *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_fail(db, rc, sql);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    else
        rc = db_fail(db, rc, sql);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : rc;
}

static int
db_set_wal(struct db *db, const char *path)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db->sql, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_fail(db, rc, path);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        if (mode == NULL || strcmp(mode, "wal") != 0)
            log_warn("storage", "%s: WAL mode unavailable, using journal mode %s", path,
                     mode ? mode : "?");
        rc = 0;
    } else {
        rc = db_fail(db, rc, path);
    }
    sqlite3_finalize(st);
    return rc;
}

static int
db_migrate(struct db *db, const char *path)
{
    int version = 0, app_id = 0;
    int rc = db_begin(db);
    if (rc == 0)
        rc = db_pragma_int(db, "PRAGMA user_version", &version);
    if (rc == 0)
        rc = db_pragma_int(db, "PRAGMA application_id", &app_id);
    if (rc != 0)
        goto fail;
    if (app_id != 0 && app_id != DB_APPLICATION_ID) {
        log_error("storage", "%s: not a Yerba database (application_id %d)", path, app_id);
        rc = YB_EIO;
        goto fail;
    }
    if (version > DB_SCHEMA_VERSION) {
        log_error("storage",
                  "%s: schema version %d is newer than this build knows (%d);"
                  " refusing to open it",
                  path, version, DB_SCHEMA_VERSION);
        rc = YB_EIO;
        goto fail;
    }
    if (version < DB_SCHEMA_VERSION) {
        for (int v = version; v < DB_SCHEMA_VERSION && rc == 0; v++)
            rc = db_exec(db, migrations[v], "migration");
        char sql[96];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d",
                 DB_SCHEMA_VERSION, DB_APPLICATION_ID);
        if (rc == 0)
            rc = db_exec(db, sql, "migration");
        if (rc != 0)
            goto fail;
    }
    rc = db_commit(db);
    if (rc != 0)
        return rc;
    if (version < DB_SCHEMA_VERSION)
        log_info("storage", "%s: schema migrated from version %d to %d", path, version,
                 DB_SCHEMA_VERSION);
    db->version = DB_SCHEMA_VERSION;
    return 0;
fail:
    db_rollback(db);
    return rc;
}

int
db_open(const char *path, struct db **out)
{
    *out = NULL;
    struct db *db = yb_calloc(1, sizeof *db);
    if (db == NULL)
        return YB_ENOMEM;
    /* NOMUTEX: one thread at a time uses a connection (the worker, after the loop
     * thread opened it), so SQLite's per-call mutex is not needed. */
    int rc = sqlite3_open_v2(
        path, &db->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (db->sql == NULL) {
            yb_free(db);
            return YB_ENOMEM;
        }
        rc = db_fail(db, rc, path);
        goto fail;
    }
    sqlite3_extended_result_codes(db->sql, 1);
    sqlite3_busy_timeout(db->sql, DB_BUSY_TIMEOUT_MS);
    /* WAL + synchronous=NORMAL: a commit is durable against a process crash
     * (kill -9); only a power loss can undo the last commits, never corrupt. */
    rc = db_set_wal(db, path);
    if (rc == 0)
        rc = db_exec(db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", path);
    if (rc == 0)
        rc = db_migrate(db, path);
    if (rc != 0)
        goto fail;
    *out = db;
    return 0;
fail:
    db_close(db);
    return rc;
}

void
db_close(struct db *db)
{
    if (db == NULL)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(db->stmts[i]);
    if (db->sql != NULL && db->version > 0)
        sqlite3_exec(db->sql, "PRAGMA optimize", NULL, NULL, NULL);
    /* An open transaction (a caller that forgot to commit) is rolled back here. */
    sqlite3_close_v2(db->sql);
    yb_free(db);
}

int
db_schema_version(struct db *db)
{
    return db->version;
}

/* ---- accounts ---- */

static bool
credential_valid(const struct db_credential *c)
{
    size_t n = strnlen(c->mech, sizeof c->mech);
    return n > 0 && n < sizeof c->mech && c->salt_len <= DB_MAX_SALT && c->key_len <= DB_MAX_KEY;
}

static int
credentials_insert(struct db *db, const char *host, const char *user,
                   const struct db_credential *creds, size_t n_creds)
{
    for (size_t i = 0; i < n_creds; i++) {
        const struct db_credential *c = &creds[i];
        sqlite3_stmt *st;
        int rc = stmt_get(db, ST_CRED_INSERT, &st);
        if (rc != 0)
            return rc;
        int src = bind_owner(st, host, user, c->mech);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(st, 4, c->iterations);
        if (src == SQLITE_OK)
            src = bind_blob(st, 5, c->salt, c->salt_len);
        if (src == SQLITE_OK)
            src = bind_blob(st, 6, c->stored_key, c->key_len);
        if (src == SQLITE_OK)
            src = bind_blob(st, 7, c->server_key, c->key_len);
        if (src == SQLITE_OK)
            src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            rc = 0;
        else if (src == SQLITE_CONSTRAINT_PRIMARYKEY)
            rc = YB_EINVAL; /* the same mech twice in creds */
        else
            rc = db_fail(db, src, "credential insert");
        stmt_put(db, ST_CRED_INSERT, st);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
creds_check(const struct db_credential *creds, size_t n_creds)
{
    for (size_t i = 0; i < n_creds; i++) {
        if (!credential_valid(&creds[i]))
            return YB_EINVAL;
    }
    return 0;
}

int
db_account_create(struct db *db, const char *host, const char *user,
                  const struct db_credential *creds, size_t n_creds)
{
    int rc = creds_check(creds, n_creds);
    if (rc != 0)
        return rc;
    rc = db_begin(db);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st;
    rc = stmt_get(db, ST_ACCOUNT_INSERT, &st);
    if (rc != 0)
        return db_end(db, rc);
    int src = bind_owner(st, host, user, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, clock_wall_us() / 1000000);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_DONE)
        rc = 0;
    else if (src == SQLITE_CONSTRAINT_PRIMARYKEY)
        rc = YB_EEXIST;
    else
        rc = db_fail(db, src, "account create");
    stmt_put(db, ST_ACCOUNT_INSERT, st);
    if (rc == 0)
        rc = credentials_insert(db, host, user, creds, n_creds);
    return db_end(db, rc);
}

/* Runs a statement bound with (host, user[, store[, key]]) that returns no rows.
 * Sets *n_changed (when not NULL) to the number of rows it changed. */
static int
run_owner(struct db *db, enum stmt_id id, const char *host, const char *user, const char *store,
          const char *key, int *n_changed, const char *what)
{
    sqlite3_stmt *st;
    int rc = stmt_get(db, id, &st);
    if (rc != 0)
        return rc;
    int src = bind_owner(st, host, user, store);
    if (src == SQLITE_OK && key != NULL)
        src = bind_text(st, 4, key);
    rc = src == SQLITE_OK ? stmt_run(db, st, what) : db_fail(db, src, what);
    if (rc == 0 && n_changed != NULL)
        *n_changed = sqlite3_changes(db->sql);
    stmt_put(db, id, st);
    return rc;
}

int
db_account_set_credentials(struct db *db, const char *host, const char *user,
                           const struct db_credential *creds, size_t n_creds)
{
    int rc = creds_check(creds, n_creds);
    if (rc != 0)
        return rc;
    rc = db_begin(db);
    if (rc != 0)
        return rc;
    /* Inside the transaction, so a concurrent delete cannot slip in between. */
    if (!db_account_exists(db, host, user))
        rc = db__txn_lost(db) ? YB_EIO : YB_ENOENT;
    if (rc == 0)
        rc = run_owner(db, ST_CRED_DELETE_USER, host, user, NULL, NULL, NULL, "credential delete");
    if (rc == 0)
        rc = credentials_insert(db, host, user, creds, n_creds);
    return db_end(db, rc);
}

int
db_account_get_credential(struct db *db, const char *host, const char *user, const char *mech,
                          struct db_credential *out)
{
    if (strlen(mech) >= sizeof out->mech)
        return YB_ENOENT;
    sqlite3_stmt *st;
    int rc = stmt_get(db, ST_CRED_GET, &st);
    if (rc != 0)
        return rc;
    int src = bind_owner(st, host, user, mech);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        sqlite3_int64 iterations = sqlite3_column_int64(st, 0);
        const void *salt = sqlite3_column_blob(st, 1);
        size_t salt_len = (size_t)sqlite3_column_bytes(st, 1);
        const void *stored = sqlite3_column_blob(st, 2);
        size_t stored_len = (size_t)sqlite3_column_bytes(st, 2);
        const void *server = sqlite3_column_blob(st, 3);
        size_t server_len = (size_t)sqlite3_column_bytes(st, 3);
        if (iterations < 0 || iterations > UINT_MAX || salt_len > DB_MAX_SALT ||
            stored_len > DB_MAX_KEY || stored_len != server_len) {
            log_error("storage", "corrupt credential row (%s on %s)", mech, host);
            rc = YB_EIO;
        } else {
            memset(out, 0, sizeof *out);
            memcpy(out->mech, mech, strlen(mech));
            out->iterations = (unsigned)iterations;
            out->salt_len = salt_len;
            if (salt_len > 0)
                memcpy(out->salt, salt, salt_len);
            out->key_len = stored_len;
            if (stored_len > 0) {
                memcpy(out->stored_key, stored, stored_len);
                memcpy(out->server_key, server, server_len);
            }
        }
    } else if (src == SQLITE_DONE) {
        rc = YB_ENOENT;
    } else {
        rc = db_fail(db, src, "credential get");
    }
    stmt_put(db, ST_CRED_GET, st);
    return rc;
}

bool
db_account_exists(struct db *db, const char *host, const char *user)
{
    sqlite3_stmt *st;
    if (stmt_get(db, ST_ACCOUNT_EXISTS, &st) != 0)
        return false;
    int src = bind_owner(st, host, user, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        db_fail(db, src, "account exists");
    stmt_put(db, ST_ACCOUNT_EXISTS, st);
    return src == SQLITE_ROW;
}

int
db_account_delete(struct db *db, const char *host, const char *user)
{
    static const enum stmt_id user_rows[] = {ST_CRED_DELETE_USER, ST_KV_DELETE_USER,
                                             ST_MAP_DELETE_USER, ST_ARCHIVE_DELETE_USER};
    int n_accounts = 0;
    int rc = db_begin(db);
    if (rc != 0)
        return rc;
    rc = run_owner(db, ST_ACCOUNT_DELETE, host, user, NULL, NULL, &n_accounts, "account delete");
    /* Credentials also go by ON DELETE CASCADE; deleting them here too keeps the
     * result right if foreign keys were ever off. Store rows left behind without an
     * account (say, offline messages to a deleted user) go as well. */
    for (size_t i = 0; rc == 0 && i < sizeof user_rows / sizeof user_rows[0]; i++)
        rc = run_owner(db, user_rows[i], host, user, NULL, NULL, NULL, "account delete");
    rc = db_end(db, rc);
    if (rc == 0 && n_accounts == 0)
        rc = YB_ENOENT;
    return rc;
}

int
db_account_list(struct db *db, const char *host, db_account_fn fn, void *ud)
{
    enum stmt_id id = host != NULL ? ST_ACCOUNT_LIST_HOST : ST_ACCOUNT_LIST_ALL;
    sqlite3_stmt *st;
    int rc = stmt_get(db, id, &st);
    if (rc != 0)
        return rc;
    int src = host != NULL ? bind_text(st, 1, host) : SQLITE_OK;
    while (src == SQLITE_OK || src == SQLITE_ROW) {
        src = sqlite3_step(st);
        if (src != SQLITE_ROW)
            break;
        const char *h = (const char *)sqlite3_column_text(st, 0);
        const char *u = (const char *)sqlite3_column_text(st, 1);
        if (fn(ud, h ? h : "", u ? u : "") != 0) {
            src = SQLITE_DONE;
            break;
        }
    }
    rc = src == SQLITE_DONE ? 0 : db_fail(db, src, "account list");
    stmt_put(db, id, st);
    return rc;
}

long
db_account_count(struct db *db, const char *host)
{
    enum stmt_id id = host != NULL ? ST_ACCOUNT_COUNT_HOST : ST_ACCOUNT_COUNT_ALL;
    sqlite3_stmt *st;
    int rc = stmt_get(db, id, &st);
    if (rc != 0)
        return rc;
    long n = stmt_count(db, st, host != NULL ? bind_text(st, 1, host) : SQLITE_OK, "account count");
    stmt_put(db, id, st);
    return n;
}

/* ---- key-value and map stores (same shape, separate tables) ---- */

static int
value_get(struct db *db, enum stmt_id id, const char *host, const char *user, const char *store,
          const char *key, struct buf *out)
{
    sqlite3_stmt *st;
    int rc = stmt_get(db, id, &st);
    if (rc != 0)
        return rc;
    int src = bind_owner(st, host, user, store);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, key);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const void *data = sqlite3_column_blob(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        /* column_blob returns NULL for an empty value, or on out-of-memory. */
        if (data == NULL && len > 0)
            rc = YB_ENOMEM;
        else
            rc = buf_append(out, data, len);
    } else if (src == SQLITE_DONE) {
        rc = YB_ENOENT;
    } else {
        rc = db_fail(db, src, "get");
    }
    stmt_put(db, id, st);
    return rc;
}

static int
value_set(struct db *db, enum stmt_id id, const char *host, const char *user, const char *store,
          const char *key, const void *data, size_t len)
{
    sqlite3_stmt *st;
    int rc = stmt_get(db, id, &st);
    if (rc != 0)
        return rc;
    int src = bind_owner(st, host, user, store);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, key);
    if (src == SQLITE_OK)
        src = bind_blob(st, 5, data, len);
    rc = src == SQLITE_OK ? stmt_run(db, st, "set") : db_fail(db, src, "set");
    stmt_put(db, id, st);
    return rc;
}

int
db_kv_get(struct db *db, const char *host, const char *user, const char *store, const char *key,
          struct buf *out)
{
    return value_get(db, ST_KV_GET, host, user, store, key, out);
}

int
db_kv_set(struct db *db, const char *host, const char *user, const char *store, const char *key,
          const void *data, size_t len)
{
    return value_set(db, ST_KV_SET, host, user, store, key, data, len);
}

int
db_kv_delete(struct db *db, const char *host, const char *user, const char *store, const char *key)
{
    return run_owner(db, ST_KV_DELETE, host, user, store, key, NULL, "kv delete");
}

int
db_map_get(struct db *db, const char *host, const char *user, const char *store, const char *key,
           struct buf *out)
{
    return value_get(db, ST_MAP_GET, host, user, store, key, out);
}

int
db_map_set(struct db *db, const char *host, const char *user, const char *store, const char *key,
           const void *data, size_t len)
{
    return value_set(db, ST_MAP_SET, host, user, store, key, data, len);
}

int
db_map_delete(struct db *db, const char *host, const char *user, const char *store, const char *key)
{
    return run_owner(db, ST_MAP_DELETE, host, user, store, key, NULL, "map delete");
}

int
db_map_list(struct db *db, const char *host, const char *user, const char *store, db_map_fn fn,
            void *ud)
{
    sqlite3_stmt *st;
    int rc = stmt_get(db, ST_MAP_LIST, &st);
    if (rc != 0)
        return rc;
    int src = bind_owner(st, host, user, store);
    while (src == SQLITE_OK || src == SQLITE_ROW) {
        src = sqlite3_step(st);
        if (src != SQLITE_ROW)
            break;
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const void *data = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        if (fn(ud, key ? key : "", data ? data : empty_blob, len) != 0) {
            src = SQLITE_DONE;
            break;
        }
    }
    rc = src == SQLITE_DONE ? 0 : db_fail(db, src, "map list");
    stmt_put(db, ST_MAP_LIST, st);
    return rc;
}

int
db_map_clear(struct db *db, const char *host, const char *user, const char *store)
{
    return run_owner(db, ST_MAP_CLEAR, host, user, store, NULL, NULL, "map clear");
}

/* ---- archive store ---- */

int
db_archive_append(struct db *db, const char *host, const char *user, const char *store,
                  int64_t when_us, const char *with, const void *data, size_t len, size_t max_items,
                  int64_t *id)
{
    int rc = db_begin(db);
    if (rc != 0)
        return rc;
    if (max_items > 0) {
        long n = db_archive_count(db, host, user, store);
        if (n < 0)
            rc = (int)n;
        else if ((size_t)n >= max_items)
            rc = YB_ELIMIT;
    }
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = stmt_get(db, ST_ARCHIVE_APPEND, &st);
    if (rc == 0) {
        int src = bind_owner(st, host, user, store);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(st, 4, when_us);
        if (src == SQLITE_OK)
            src = bind_text(st, 5, with != NULL ? with : "");
        if (src == SQLITE_OK)
            src = bind_blob(st, 6, data, len);
        rc = src == SQLITE_OK ? stmt_run(db, st, "archive append")
                              : db_fail(db, src, "archive append");
        if (rc == 0 && id != NULL)
            *id = sqlite3_last_insert_rowid(db->sql);
        stmt_put(db, ST_ARCHIVE_APPEND, st);
    }
    return db_end(db, rc);
}

int
db_archive_list(struct db *db, const char *host, const char *user, const char *store,
                int64_t after_id, size_t limit, db_archive_fn fn, void *ud)
{
    sqlite3_stmt *st;
    int rc = stmt_get(db, ST_ARCHIVE_LIST, &st);
    if (rc != 0)
        return rc;
    /* LIMIT -1: no limit. */
    sqlite3_int64 lim = limit == 0 || limit > INT64_MAX ? -1 : (sqlite3_int64)limit;
    int src = bind_owner(st, host, user, store);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 4, after_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 5, lim);
    while (src == SQLITE_OK || src == SQLITE_ROW) {
        src = sqlite3_step(st);
        if (src != SQLITE_ROW)
            break;
        struct db_archive_item item;
        item.id = sqlite3_column_int64(st, 0);
        item.when_us = sqlite3_column_int64(st, 1);
        item.with = (const char *)sqlite3_column_text(st, 2);
        if (item.with == NULL)
            item.with = "";
        item.data = sqlite3_column_blob(st, 3);
        item.len = (size_t)sqlite3_column_bytes(st, 3);
        if (item.data == NULL)
            item.data = empty_blob;
        if (fn(ud, &item) != 0) {
            src = SQLITE_DONE;
            break;
        }
    }
    rc = src == SQLITE_DONE ? 0 : db_fail(db, src, "archive list");
    stmt_put(db, ST_ARCHIVE_LIST, st);
    return rc;
}

long
db_archive_count(struct db *db, const char *host, const char *user, const char *store)
{
    sqlite3_stmt *st;
    int rc = stmt_get(db, ST_ARCHIVE_COUNT, &st);
    if (rc != 0)
        return rc;
    long n = stmt_count(db, st, bind_owner(st, host, user, store), "archive count");
    stmt_put(db, ST_ARCHIVE_COUNT, st);
    return n;
}

int
db_archive_delete_upto(struct db *db, const char *host, const char *user, const char *store,
                       int64_t up_to_id)
{
    sqlite3_stmt *st;
    int rc = stmt_get(db, ST_ARCHIVE_DELETE_UPTO, &st);
    if (rc != 0)
        return rc;
    int src = bind_owner(st, host, user, store);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 4, up_to_id);
    rc = src == SQLITE_OK ? stmt_run(db, st, "archive delete") : db_fail(db, src, "archive delete");
    stmt_put(db, ST_ARCHIVE_DELETE_UPTO, st);
    return rc;
}
