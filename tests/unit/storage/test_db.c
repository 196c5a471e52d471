/* SPDX-License-Identifier: MIT
 *
 * test_db.c: the synchronous SQLite store (src/storage/db.c): schema and migrations,
 * accounts, kv, map, archive, nested transactions, persistence across reopen, and
 * failures (database full, failed commit, lost transaction, locked database).
 * Each test uses a fresh file in a mkdtemp() directory.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../../src/storage/internal.h"
#include "error.h"
#include "log.h"
#include "storage.h"
#include "test.h"

struct tmpdb {
    char dir[64];
    char path[96];
};

static bool
tmpdb_init(struct tmpdb *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/yb-test-db-XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        return false;
    snprintf(t->path, sizeof t->path, "%s/yerba.db", t->dir);
    return true;
}

static void
tmpdb_fini(struct tmpdb *t)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[128];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(p, sizeof p, "%s%s", t->path, suffixes[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

static struct db_credential
make_cred(const char *mech, unsigned iterations, unsigned char fill)
{
    struct db_credential c;
    memset(&c, 0, sizeof c);
    snprintf(c.mech, sizeof c.mech, "%s", mech);
    c.iterations = iterations;
    c.salt_len = 16;
    memset(c.salt, fill, c.salt_len);
    c.key_len = 32;
    memset(c.stored_key, fill + 1, c.key_len);
    memset(c.server_key, fill + 2, c.key_len);
    return c;
}

/* Runs a one-integer query on the raw connection; -1 on error. */
static long long
query_int(struct db *db, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(db__handle(db), sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Reads an integer with a string-valued result (PRAGMA journal_mode) into out. */
static void
query_text(struct db *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db__handle(db), sql, -1, &st, NULL) != SQLITE_OK)
        return;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static bool
kv_is(struct db *db, const char *user, const char *key, const char *want)
{
    struct buf b = BUF_INIT;
    int rc = db_kv_get(db, "example.org", user, "s", key, &b);
    bool ok = want == NULL ? rc == YB_ENOENT
                           : rc == 0 && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
    buf_fini(&b);
    return ok;
}

static int
kv_put(struct db *db, const char *user, const char *key, const char *value)
{
    return db_kv_set(db, "example.org", user, "s", key, value, strlen(value));
}

/* ---- open, schema, migrations ---- */

TEST(open_sets_up_wal_schema_and_pragmas)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    ASSERT_EQ(db_schema_version(db), 1);
    char mode[16];
    query_text(db, "PRAGMA journal_mode", mode, sizeof mode);
    ASSERT_STR_EQ(mode, "wal");
    ASSERT_EQ(query_int(db, "PRAGMA synchronous"), 1); /* NORMAL */
    ASSERT_EQ(query_int(db, "PRAGMA foreign_keys"), 1);
    ASSERT_EQ(query_int(db, "PRAGMA user_version"), 1);
    ASSERT_EQ(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
                            " ('accounts', 'credentials', 'kv', 'map', 'archive')"),
              5);
    ASSERT_EQ(db__depth(db), 0);
    db_close(db);
    db_close(NULL);
    tmpdb_fini(&t);
}

TEST(open_twice_migrates_once)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    ASSERT_EQ(kv_put(db, "alice", "k", "v1"), 0);
    db_close(db);
    ASSERT_EQ(db_open(t.path, &db), 0);
    ASSERT_EQ(db_schema_version(db), 1);
    ASSERT_TRUE(kv_is(db, "alice", "k", "v1"));
    db_close(db);
    /* Two connections at once (the server and yerbactl) are fine too. */
    struct db *a = NULL, *b = NULL;
    ASSERT_EQ(db_open(t.path, &a), 0);
    ASSERT_EQ(db_open(t.path, &b), 0);
    ASSERT_EQ(kv_put(a, "alice", "k", "v2"), 0);
    ASSERT_TRUE(kv_is(b, "alice", "k", "v2"));
    db_close(a);
    db_close(b);
    tmpdb_fini(&t);
}

TEST(open_refuses_newer_schema)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    ASSERT_EQ(sqlite3_exec(db__handle(db), "PRAGMA user_version = 99", NULL, NULL, NULL),
              SQLITE_OK);
    db_close(db);
    db = (struct db *)1;
    ASSERT_EQ(db_open(t.path, &db), YB_EIO);
    ASSERT_NULL(db);
    tmpdb_fini(&t);
}

TEST(open_refuses_other_files)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    /* Not SQLite at all. */
    int fd = open(t.path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_TRUE(fd >= 0);
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    ASSERT_EQ(write(fd, junk, sizeof junk), (long)sizeof junk);
    close(fd);
    ASSERT_EQ(db_open(t.path, &db), YB_EIO);
    ASSERT_NULL(db);
    tmpdb_fini(&t);

    /* SQLite, but another application's. */
    ASSERT_TRUE(tmpdb_init(&t));
    sqlite3 *other;
    ASSERT_EQ(sqlite3_open(t.path, &other), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(other, "PRAGMA application_id = 42; CREATE TABLE x (y)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(other);
    ASSERT_EQ(db_open(t.path, &db), YB_EIO);
    tmpdb_fini(&t);

    /* A directory that does not exist. */
    ASSERT_EQ(db_open("/nonexistent-yerba-dir/x.db", &db), YB_EIO);
    ASSERT_NULL(db);
}

/* ---- accounts ---- */

struct name_list {
    char names[8][64];
    int n;
    int stop_after;
};

static int
collect_account(void *ud, const char *host, const char *user)
{
    struct name_list *l = ud;
    if (l->n < 8)
        snprintf(l->names[l->n++], sizeof l->names[0], "%s@%s", user, host);
    return l->stop_after > 0 && l->n >= l->stop_after;
}

TEST(accounts)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);

    struct db_credential creds[2] = {make_cred("SCRAM-SHA-1", 4096, 1),
                                     make_cred("SCRAM-SHA-256", 8192, 7)};
    creds[0].key_len = 20;
    ASSERT_FALSE(db_account_exists(db, "b.org", "zed"));
    ASSERT_EQ(db_account_create(db, "b.org", "zed", creds, 2), 0);
    ASSERT_EQ(db_account_create(db, "b.org", "zed", creds, 1), YB_EEXIST);
    ASSERT_EQ(db_account_create(db, "b.org", "amy", creds + 1, 1), 0);
    ASSERT_EQ(db_account_create(db, "a.org", "zed", NULL, 0), 0);
    ASSERT_EQ(db_account_create(db, "a.org", "bob", creds, 2), 0);
    ASSERT_TRUE(db_account_exists(db, "b.org", "zed"));
    ASSERT_FALSE(db_account_exists(db, "c.org", "zed"));

    struct db_credential got;
    ASSERT_EQ(db_account_get_credential(db, "b.org", "zed", "SCRAM-SHA-1", &got), 0);
    ASSERT_STR_EQ(got.mech, "SCRAM-SHA-1");
    ASSERT_EQ(got.iterations, 4096);
    ASSERT_EQ(got.salt_len, 16);
    ASSERT_MEM_EQ(got.salt, creds[0].salt, 16);
    ASSERT_EQ(got.key_len, 20);
    ASSERT_MEM_EQ(got.stored_key, creds[0].stored_key, 20);
    ASSERT_MEM_EQ(got.server_key, creds[0].server_key, 20);
    ASSERT_EQ(db_account_get_credential(db, "b.org", "zed", "SCRAM-SHA-256", &got), 0);
    ASSERT_EQ(got.iterations, 8192);
    ASSERT_EQ(got.key_len, 32);
    ASSERT_MEM_EQ(got.server_key, creds[1].server_key, 32);
    ASSERT_EQ(db_account_get_credential(db, "b.org", "zed", "SCRAM-SHA-512", &got), YB_ENOENT);
    ASSERT_EQ(db_account_get_credential(db, "b.org", "nobody", "SCRAM-SHA-1", &got), YB_ENOENT);
    ASSERT_EQ(db_account_get_credential(db, "b.org", "zed", "A-MECHANISM-NAME-TOO-LONG", &got),
              YB_ENOENT);

    /* Replacing credentials drops the old set. */
    struct db_credential fresh = make_cred("SCRAM-SHA-512", 10000, 40);
    fresh.key_len = 64;
    ASSERT_EQ(db_account_set_credentials(db, "b.org", "zed", &fresh, 1), 0);
    ASSERT_EQ(db_account_get_credential(db, "b.org", "zed", "SCRAM-SHA-1", &got), YB_ENOENT);
    ASSERT_EQ(db_account_get_credential(db, "b.org", "zed", "SCRAM-SHA-512", &got), 0);
    ASSERT_EQ(got.key_len, 64);
    ASSERT_MEM_EQ(got.stored_key, fresh.stored_key, 64);
    ASSERT_EQ(db_account_set_credentials(db, "b.org", "nobody", &fresh, 1), YB_ENOENT);
    ASSERT_FALSE(db_account_exists(db, "b.org", "nobody"));

    /* Invalid credentials change nothing. */
    struct db_credential bad[2] = {make_cred("SCRAM-SHA-1", 1, 1), make_cred("", 1, 1)};
    ASSERT_EQ(db_account_set_credentials(db, "b.org", "zed", bad, 2), YB_EINVAL);
    bad[1] = make_cred("SCRAM-SHA-1", 1, 1); /* the same mech twice */
    ASSERT_EQ(db_account_set_credentials(db, "b.org", "zed", bad, 2), YB_EINVAL);
    ASSERT_EQ(db_account_create(db, "b.org", "new", bad, 2), YB_EINVAL);
    ASSERT_FALSE(db_account_exists(db, "b.org", "new"));
    ASSERT_EQ(db_account_get_credential(db, "b.org", "zed", "SCRAM-SHA-512", &got), 0);
    ASSERT_EQ(db__depth(db), 0);

    ASSERT_EQ(db_account_count(db, NULL), 4);
    ASSERT_EQ(db_account_count(db, "b.org"), 2);
    ASSERT_EQ(db_account_count(db, "a.org"), 2);
    ASSERT_EQ(db_account_count(db, "c.org"), 0);

    struct name_list l = {.n = 0};
    ASSERT_EQ(db_account_list(db, NULL, collect_account, &l), 0);
    ASSERT_EQ(l.n, 4);
    ASSERT_STR_EQ(l.names[0], "bob@a.org");
    ASSERT_STR_EQ(l.names[1], "zed@a.org");
    ASSERT_STR_EQ(l.names[2], "amy@b.org");
    ASSERT_STR_EQ(l.names[3], "zed@b.org");
    memset(&l, 0, sizeof l);
    ASSERT_EQ(db_account_list(db, "b.org", collect_account, &l), 0);
    ASSERT_EQ(l.n, 2);
    ASSERT_STR_EQ(l.names[0], "amy@b.org");
    ASSERT_STR_EQ(l.names[1], "zed@b.org");
    memset(&l, 0, sizeof l);
    l.stop_after = 3;
    ASSERT_EQ(db_account_list(db, NULL, collect_account, &l), 0);
    ASSERT_EQ(l.n, 3);

    db_close(db);
    tmpdb_fini(&t);
}

static int
count_map(void *ud, const char *key, const void *data, size_t len)
{
    (void)key;
    (void)data;
    (void)len;
    ++*(int *)ud;
    return 0;
}

static int
count_archive(void *ud, const struct db_archive_item *item)
{
    (void)item;
    ++*(int *)ud;
    return 0;
}

TEST(account_delete_removes_every_row_of_the_user)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    struct db_credential c = make_cred("SCRAM-SHA-256", 4096, 3);
    const char *users[] = {"alice", "bob"};
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(db_account_create(db, "example.org", users[i], &c, 1), 0);
        ASSERT_EQ(kv_put(db, users[i], "vcard", "<vCard/>"), 0);
        ASSERT_EQ(db_map_set(db, "example.org", users[i], "roster", "carol@x", "item", 4), 0);
        ASSERT_EQ(
            db_archive_append(db, "example.org", users[i], "offline", 1, "x@y", "m", 1, 0, NULL),
            0);
    }
    /* Same user name on another host: untouched. */
    ASSERT_EQ(db_account_create(db, "other.org", "alice", &c, 1), 0);
    ASSERT_EQ(db_kv_set(db, "other.org", "alice", "s", "vcard", "v", 1), 0);

    ASSERT_EQ(db_account_delete(db, "example.org", "alice"), 0);
    ASSERT_FALSE(db_account_exists(db, "example.org", "alice"));
    struct db_credential got;
    ASSERT_EQ(db_account_get_credential(db, "example.org", "alice", "SCRAM-SHA-256", &got),
              YB_ENOENT);
    ASSERT_EQ(query_int(db, "SELECT count(*) FROM credentials WHERE user = 'alice'"
                            " AND host = 'example.org'"),
              0);
    ASSERT_TRUE(kv_is(db, "alice", "vcard", NULL));
    int n = 0;
    ASSERT_EQ(db_map_list(db, "example.org", "alice", "roster", count_map, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(db_archive_count(db, "example.org", "alice", "offline"), 0);

    ASSERT_TRUE(db_account_exists(db, "example.org", "bob"));
    ASSERT_TRUE(kv_is(db, "bob", "vcard", "<vCard/>"));
    ASSERT_EQ(db_map_list(db, "example.org", "bob", "roster", count_map, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(db_archive_count(db, "example.org", "bob", "offline"), 1);
    ASSERT_TRUE(db_account_exists(db, "other.org", "alice"));
    ASSERT_EQ(db_account_get_credential(db, "other.org", "alice", "SCRAM-SHA-256", &got), 0);

    ASSERT_EQ(db_account_delete(db, "example.org", "alice"), YB_ENOENT);
    /* Rows left without an account go too (and it still says ENOENT). */
    ASSERT_EQ(kv_put(db, "ghost", "k", "v"), 0);
    ASSERT_EQ(db_account_delete(db, "example.org", "ghost"), YB_ENOENT);
    ASSERT_TRUE(kv_is(db, "ghost", "k", NULL));
    ASSERT_EQ(db__depth(db), 0);
    db_close(db);
    tmpdb_fini(&t);
}

TEST(account_delete_nests_inside_a_transaction)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    ASSERT_EQ(db_account_create(db, "example.org", "alice", NULL, 0), 0);
    ASSERT_EQ(kv_put(db, "alice", "k", "v"), 0);

    /* Rolled back with the enclosing transaction. */
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(db_account_delete(db, "example.org", "alice"), 0);
    ASSERT_EQ(db__depth(db), 1);
    ASSERT_FALSE(db_account_exists(db, "example.org", "alice"));
    ASSERT_EQ(db_rollback(db), 0);
    ASSERT_TRUE(db_account_exists(db, "example.org", "alice"));
    ASSERT_TRUE(kv_is(db, "alice", "k", "v"));

    /* A failed delete inside a transaction leaves the transaction usable. */
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(kv_put(db, "alice", "k2", "v2"), 0);
    ASSERT_EQ(db_account_delete(db, "example.org", "nobody"), YB_ENOENT);
    ASSERT_EQ(db_account_create(db, "example.org", "alice", NULL, 0), YB_EEXIST);
    ASSERT_EQ(db_account_delete(db, "example.org", "alice"), 0);
    ASSERT_EQ(db_commit(db), 0);
    ASSERT_FALSE(db_account_exists(db, "example.org", "alice"));
    ASSERT_TRUE(kv_is(db, "alice", "k2", NULL));
    ASSERT_EQ(db__depth(db), 0);
    db_close(db);
    tmpdb_fini(&t);
}

/* ---- kv and map ---- */

TEST(kv_store)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    struct buf b = BUF_INIT;
    ASSERT_EQ(db_kv_get(db, "h", "u", "vcard", "", &b), YB_ENOENT);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(db_kv_set(db, "h", "u", "vcard", "", "one", 3), 0);
    ASSERT_EQ(db_kv_get(db, "h", "u", "vcard", "", &b), 0);
    ASSERT_EQ(b.len, 3);
    ASSERT_MEM_EQ(b.data, "one", 3);
    /* Overwrite; get appends to what the buffer holds. */
    ASSERT_EQ(db_kv_set(db, "h", "u", "vcard", "", "second", 6), 0);
    ASSERT_EQ(db_kv_get(db, "h", "u", "vcard", "", &b), 0);
    ASSERT_EQ(b.len, 9);
    ASSERT_MEM_EQ(b.data, "onesecond", 9);
    buf_clear(&b);
    /* Binary values with NUL bytes, and empty values. */
    const unsigned char bin[] = {0, 1, 2, 0, 255};
    ASSERT_EQ(db_kv_set(db, "h", "u", "bin", "k", bin, sizeof bin), 0);
    ASSERT_EQ(db_kv_get(db, "h", "u", "bin", "k", &b), 0);
    ASSERT_EQ(b.len, sizeof bin);
    ASSERT_MEM_EQ(b.data, bin, sizeof bin);
    buf_clear(&b);
    ASSERT_EQ(db_kv_set(db, "h", "u", "bin", "empty", NULL, 0), 0);
    ASSERT_EQ(db_kv_get(db, "h", "u", "bin", "empty", &b), 0);
    ASSERT_EQ(b.len, 0);
    /* Addressing: every part of (host, user, store, key) counts. */
    ASSERT_EQ(db_kv_get(db, "h2", "u", "vcard", "", &b), YB_ENOENT);
    ASSERT_EQ(db_kv_get(db, "h", "u2", "vcard", "", &b), YB_ENOENT);
    ASSERT_EQ(db_kv_get(db, "h", "u", "vcard2", "", &b), YB_ENOENT);
    ASSERT_EQ(db_kv_get(db, "h", "u", "vcard", "x", &b), YB_ENOENT);
    /* kv and map are separate. */
    ASSERT_EQ(db_map_get(db, "h", "u", "vcard", "", &b), YB_ENOENT);
    ASSERT_EQ(db_kv_delete(db, "h", "u", "vcard", ""), 0);
    ASSERT_EQ(db_kv_get(db, "h", "u", "vcard", "", &b), YB_ENOENT);
    ASSERT_EQ(db_kv_delete(db, "h", "u", "vcard", ""), 0);
    buf_fini(&b);
    db_close(db);
    tmpdb_fini(&t);
}

struct map_seen {
    char keys[8][16];
    char values[8][16];
    int n;
    int stop_after;
};

static int
collect_map(void *ud, const char *key, const void *data, size_t len)
{
    struct map_seen *m = ud;
    if (m->n < 8) {
        snprintf(m->keys[m->n], sizeof m->keys[0], "%s", key);
        snprintf(m->values[m->n], sizeof m->values[0], "%.*s", (int)len, (const char *)data);
        m->n++;
    }
    return m->stop_after > 0 && m->n >= m->stop_after;
}

TEST(map_store)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    const char *keys[] = {"mallory@x", "bob@x", "carol@x", "alice@x"};
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(db_map_set(db, "h", "u", "roster", keys[i], keys[i], 1), 0);
    ASSERT_EQ(db_map_set(db, "h", "u", "roster", "bob@x", "B2", 2), 0);
    ASSERT_EQ(db_map_set(db, "h", "u", "blocklist", "eve@x", "", 0), 0);
    ASSERT_EQ(db_map_set(db, "h", "other", "roster", "zed@x", "z", 1), 0);

    struct map_seen m = {.n = 0};
    ASSERT_EQ(db_map_list(db, "h", "u", "roster", collect_map, &m), 0);
    ASSERT_EQ(m.n, 4);
    ASSERT_STR_EQ(m.keys[0], "alice@x");
    ASSERT_STR_EQ(m.keys[1], "bob@x");
    ASSERT_STR_EQ(m.values[1], "B2");
    ASSERT_STR_EQ(m.keys[2], "carol@x");
    ASSERT_STR_EQ(m.keys[3], "mallory@x");
    ASSERT_STR_EQ(m.values[3], "m");
    memset(&m, 0, sizeof m);
    m.stop_after = 2;
    ASSERT_EQ(db_map_list(db, "h", "u", "roster", collect_map, &m), 0);
    ASSERT_EQ(m.n, 2);

    struct buf b = BUF_INIT;
    ASSERT_EQ(db_map_get(db, "h", "u", "roster", "carol@x", &b), 0);
    ASSERT_EQ(b.len, 1);
    ASSERT_EQ(db_map_get(db, "h", "u", "roster", "nobody@x", &b), YB_ENOENT);
    ASSERT_EQ(db_map_delete(db, "h", "u", "roster", "carol@x"), 0);
    ASSERT_EQ(db_map_delete(db, "h", "u", "roster", "carol@x"), 0);
    ASSERT_EQ(db_map_get(db, "h", "u", "roster", "carol@x", &b), YB_ENOENT);
    buf_fini(&b);

    ASSERT_EQ(db_map_clear(db, "h", "u", "roster"), 0);
    memset(&m, 0, sizeof m);
    ASSERT_EQ(db_map_list(db, "h", "u", "roster", collect_map, &m), 0);
    ASSERT_EQ(m.n, 0);
    /* Other stores and users are not cleared. */
    ASSERT_EQ(db_map_list(db, "h", "u", "blocklist", collect_map, &m), 0);
    ASSERT_EQ(m.n, 1);
    ASSERT_STR_EQ(m.values[0], "");
    ASSERT_EQ(db_map_list(db, "h", "other", "roster", collect_map, &m), 0);
    ASSERT_EQ(m.n, 2);
    db_close(db);
    tmpdb_fini(&t);
}

struct nested_ctx {
    struct db *db;
    int outer, inner, rc;
};

static int
nested_inner(void *ud, const char *key, const void *data, size_t len)
{
    (void)key;
    (void)data;
    (void)len;
    ((struct nested_ctx *)ud)->inner++;
    return 0;
}

/* Calls the same list function from inside its own callback. */
static int
nested_outer(void *ud, const char *key, const void *data, size_t len)
{
    struct nested_ctx *c = ud;
    (void)data;
    (void)len;
    c->outer++;
    struct buf b = BUF_INIT;
    if (db_map_get(c->db, "h", "u", "s", key, &b) != 0)
        c->rc = -1;
    buf_fini(&b);
    if (db_map_list(c->db, "h", "u", "s", nested_inner, c) != 0)
        c->rc = -1;
    return 0;
}

TEST(list_callbacks_may_call_back_into_the_db)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct nested_ctx c = {.db = NULL};
    ASSERT_EQ(db_open(t.path, &c.db), 0);
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        ASSERT_EQ(db_map_set(c.db, "h", "u", "s", key, "v", 1), 0);
    }
    ASSERT_EQ(db_map_list(c.db, "h", "u", "s", nested_outer, &c), 0);
    ASSERT_EQ(c.rc, 0);
    ASSERT_EQ(c.outer, 3);
    ASSERT_EQ(c.inner, 9);
    db_close(c.db);
    tmpdb_fini(&t);
}

/* ---- archive ---- */

struct archive_seen {
    int64_t ids[16];
    int64_t when[16];
    char with[16][16];
    char data[16][16];
    int n;
};

static int
collect_archive(void *ud, const struct db_archive_item *item)
{
    struct archive_seen *a = ud;
    if (a->n < 16) {
        a->ids[a->n] = item->id;
        a->when[a->n] = item->when_us;
        snprintf(a->with[a->n], sizeof a->with[0], "%s", item->with);
        snprintf(a->data[a->n], sizeof a->data[0], "%.*s", (int)item->len,
                 (const char *)item->data);
        a->n++;
    }
    return 0;
}

TEST(archive_store)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    int64_t ids[6];
    for (int i = 0; i < 5; i++) {
        char msg[8];
        snprintf(msg, sizeof msg, "m%d", i);
        ASSERT_EQ(db_archive_append(db, "h", "u", "offline", 1000 + i, i == 2 ? NULL : "p@x", msg,
                                    strlen(msg), 5, &ids[i]),
                  0);
        if (i > 0)
            ASSERT_TRUE(ids[i] > ids[i - 1]);
    }
    /* Quota: five items already. */
    int64_t id = -1;
    ASSERT_EQ(db_archive_append(db, "h", "u", "offline", 2000, "p@x", "x", 1, 5, &id), YB_ELIMIT);
    ASSERT_EQ(id, -1);
    ASSERT_EQ(db_archive_count(db, "h", "u", "offline"), 5);
    /* Quotas are per (host, user, store). */
    ASSERT_EQ(db_archive_append(db, "h", "u", "mam", 2000, "", "x", 1, 5, &ids[5]), 0);
    ASSERT_TRUE(ids[5] > ids[4]);
    ASSERT_EQ(db_archive_count(db, "h", "u", "mam"), 1);
    ASSERT_EQ(db_archive_count(db, "h", "v", "offline"), 0);

    struct archive_seen a = {.n = 0};
    ASSERT_EQ(db_archive_list(db, "h", "u", "offline", 0, 0, collect_archive, &a), 0);
    ASSERT_EQ(a.n, 5);
    ASSERT_EQ(a.ids[0], ids[0]);
    ASSERT_EQ(a.when[0], 1000);
    ASSERT_STR_EQ(a.with[0], "p@x");
    ASSERT_STR_EQ(a.with[2], "");
    ASSERT_STR_EQ(a.data[4], "m4");
    memset(&a, 0, sizeof a);
    ASSERT_EQ(db_archive_list(db, "h", "u", "offline", ids[1], 2, collect_archive, &a), 0);
    ASSERT_EQ(a.n, 2);
    ASSERT_EQ(a.ids[0], ids[2]);
    ASSERT_EQ(a.ids[1], ids[3]);
    ASSERT_STR_EQ(a.data[1], "m3");
    memset(&a, 0, sizeof a);
    ASSERT_EQ(db_archive_list(db, "h", "u", "offline", ids[4], 10, collect_archive, &a), 0);
    ASSERT_EQ(a.n, 0);

    ASSERT_EQ(db_archive_delete_upto(db, "h", "u", "offline", ids[2]), 0);
    ASSERT_EQ(db_archive_count(db, "h", "u", "offline"), 2);
    ASSERT_EQ(db_archive_count(db, "h", "u", "mam"), 1);
    memset(&a, 0, sizeof a);
    ASSERT_EQ(db_archive_list(db, "h", "u", "offline", 0, 0, collect_archive, &a), 0);
    ASSERT_EQ(a.n, 2);
    ASSERT_EQ(a.ids[0], ids[3]);
    /* Room again under the quota. */
    ASSERT_EQ(db_archive_append(db, "h", "u", "offline", 3000, "", "", 0, 5, &id), 0);

    /* Ids are never reused, even after the newest item is deleted. */
    ASSERT_EQ(db_archive_delete_upto(db, "h", "u", "offline", INT64_MAX), 0);
    ASSERT_EQ(db_archive_delete_upto(db, "h", "u", "mam", INT64_MAX), 0);
    int64_t id2 = 0;
    ASSERT_EQ(db_archive_append(db, "h", "u", "offline", 4000, "", "y", 1, 0, &id2), 0);
    ASSERT_TRUE(id2 > id);
    int n = 0;
    ASSERT_EQ(db_archive_list(db, "h", "u", "offline", 0, 0, count_archive, &n), 0);
    ASSERT_EQ(n, 1);
    db_close(db);
    tmpdb_fini(&t);
}

/* ---- persistence and transactions ---- */

TEST(data_survives_reopen)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    struct db_credential c = make_cred("SCRAM-SHA-1", 4096, 9);
    ASSERT_EQ(db_account_create(db, "h", "alice", &c, 1), 0);
    ASSERT_EQ(db_kv_set(db, "h", "alice", "s", "k", "kv-value", 8), 0);
    ASSERT_EQ(db_map_set(db, "h", "alice", "roster", "bob@h", "item", 4), 0);
    int64_t id;
    ASSERT_EQ(db_archive_append(db, "h", "alice", "offline", 7, "bob@h", "msg", 3, 0, &id), 0);
    /* Committed in a batch, and one left uncommitted at close. */
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(db_kv_set(db, "h", "alice", "s", "batched", "yes", 3), 0);
    ASSERT_EQ(db_commit(db), 0);
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(db_kv_set(db, "h", "alice", "s", "uncommitted", "no", 2), 0);
    db_close(db);

    ASSERT_EQ(db_open(t.path, &db), 0);
    struct db_credential got;
    ASSERT_EQ(db_account_get_credential(db, "h", "alice", "SCRAM-SHA-1", &got), 0);
    ASSERT_MEM_EQ(got.stored_key, c.stored_key, c.key_len);
    struct buf b = BUF_INIT;
    ASSERT_EQ(db_kv_get(db, "h", "alice", "s", "k", &b), 0);
    ASSERT_EQ(b.len, 8);
    buf_clear(&b);
    ASSERT_EQ(db_kv_get(db, "h", "alice", "s", "batched", &b), 0);
    ASSERT_EQ(db_kv_get(db, "h", "alice", "s", "uncommitted", &b), YB_ENOENT);
    ASSERT_EQ(db_map_get(db, "h", "alice", "roster", "bob@h", &b), 0);
    buf_fini(&b);
    struct archive_seen a = {.n = 0};
    ASSERT_EQ(db_archive_list(db, "h", "alice", "offline", 0, 0, collect_archive, &a), 0);
    ASSERT_EQ(a.n, 1);
    ASSERT_EQ(a.ids[0], id);
    ASSERT_STR_EQ(a.with[0], "bob@h");
    db_close(db);
    tmpdb_fini(&t);
}

TEST(nested_transactions_are_savepoints)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    ASSERT_EQ(db_commit(db), YB_EIO); /* nothing open */
    ASSERT_EQ(db_rollback(db), 0);

    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(kv_put(db, "u", "a", "1"), 0);
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(kv_put(db, "u", "b", "2"), 0);
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(kv_put(db, "u", "c", "3"), 0);
    ASSERT_EQ(db__depth(db), 3);
    ASSERT_EQ(db_commit(db), 0);   /* c joins level 2 */
    ASSERT_EQ(db_rollback(db), 0); /* level 2 (b and c) undone */
    ASSERT_TRUE(kv_is(db, "u", "a", "1"));
    ASSERT_TRUE(kv_is(db, "u", "b", NULL));
    ASSERT_TRUE(kv_is(db, "u", "c", NULL));
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(kv_put(db, "u", "d", "4"), 0);
    ASSERT_EQ(db_commit(db), 0);
    ASSERT_EQ(db_commit(db), 0);
    ASSERT_EQ(db__depth(db), 0);
    ASSERT_TRUE(kv_is(db, "u", "a", "1"));
    ASSERT_TRUE(kv_is(db, "u", "d", "4"));
    ASSERT_TRUE(kv_is(db, "u", "b", NULL));
    db_close(db);
    tmpdb_fini(&t);
}

/* ---- failures ---- */

/* Redirects the log to a file for the duration of a test. */
struct log_capture {
    char path[96];
    int fd;
};

static void
log_capture_start(struct log_capture *lc, const struct tmpdb *t)
{
    snprintf(lc->path, sizeof lc->path, "%s/log", t->dir);
    lc->fd = open(lc->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    log_set_fd(lc->fd);
}

/* Stops capturing; returns the number of lines and copies the text into out. */
static int
log_capture_stop(struct log_capture *lc, char *out, size_t cap)
{
    log_set_fd(2);
    ssize_t n = pread(lc->fd, out, cap - 1, 0);
    close(lc->fd);
    unlink(lc->path);
    out[n > 0 ? n : 0] = '\0';
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    return lines;
}

TEST(database_full_then_recovers)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    ASSERT_EQ(kv_put(db, "u", "before", "ok"), 0);
    long long pages = query_int(db, "PRAGMA page_count");
    ASSERT_TRUE(pages > 0);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", pages + 2);
    ASSERT_EQ(sqlite3_exec(db__handle(db), sql, NULL, NULL, NULL), SQLITE_OK);

    static char big[64 * 1024];
    memset(big, 'S', sizeof big); /* "stored value": must never reach the log */
    struct log_capture lc;
    log_capture_start(&lc, &t);
    ASSERT_EQ(db_kv_set(db, "h", "u", "s", "big", big, sizeof big), YB_EFULL);
    ASSERT_EQ(db_map_set(db, "h", "u", "s", "big", big, sizeof big), YB_EFULL);
    int64_t id;
    ASSERT_EQ(db_archive_append(db, "h", "u", "s", 1, "", big, sizeof big, 0, &id), YB_EFULL);
    /* Inside a transaction: the failed statement is undone, earlier work stays. */
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(kv_put(db, "u", "small", "x"), 0);
    ASSERT_EQ(db_kv_set(db, "h", "u", "s", "big", big, sizeof big), YB_EFULL);
    if (db__txn_lost(db)) {
        ASSERT_EQ(db_commit(db), YB_EIO);
    } else {
        ASSERT_EQ(db_commit(db), 0);
        ASSERT_TRUE(kv_is(db, "u", "small", "x"));
    }
    ASSERT_EQ(db__depth(db), 0);
    char text[4096];
    int lines = log_capture_stop(&lc, text, sizeof text);
    /* One line per burst of the same error. */
    ASSERT_EQ(lines, 1);
    ASSERT_TRUE(strstr(text, "full") != NULL);
    ASSERT_TRUE(strstr(text, "SSSS") == NULL);

    ASSERT_TRUE(kv_is(db, "u", "before", "ok"));
    ASSERT_EQ(sqlite3_exec(db__handle(db), "PRAGMA max_page_count = 1000000", NULL, NULL, NULL),
              SQLITE_OK);
    ASSERT_EQ(db_kv_set(db, "h", "u", "s", "big", big, sizeof big), 0);
    struct buf b = BUF_INIT;
    ASSERT_EQ(db_kv_get(db, "h", "u", "s", "big", &b), 0);
    ASSERT_EQ(b.len, sizeof big);
    buf_fini(&b);
    db_close(db);
    tmpdb_fini(&t);
}

static int fail_commits;

static int
commit_hook(void *ud)
{
    (void)ud;
    return fail_commits-- > 0; /* nonzero turns the COMMIT into a ROLLBACK */
}

TEST(failed_commit_rolls_back)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    sqlite3_commit_hook(db__handle(db), commit_hook, NULL);
    fail_commits = 1;
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(kv_put(db, "u", "a", "1"), 0);
    ASSERT_EQ(db_commit(db), YB_EIO);
    ASSERT_EQ(db__depth(db), 0);
    ASSERT_TRUE(kv_is(db, "u", "a", NULL));
    /* The next transaction simply works. */
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(kv_put(db, "u", "a", "2"), 0);
    ASSERT_EQ(db_commit(db), 0);
    ASSERT_TRUE(kv_is(db, "u", "a", "2"));
    /* An internal transaction (account create) reports it too. */
    fail_commits = 1;
    ASSERT_EQ(db_account_create(db, "h", "u", NULL, 0), YB_EIO);
    ASSERT_FALSE(db_account_exists(db, "h", "u"));
    ASSERT_EQ(db_account_create(db, "h", "u", NULL, 0), 0);
    sqlite3_commit_hook(db__handle(db), NULL, NULL);
    db_close(db);
    tmpdb_fini(&t);
}

TEST(lost_transaction_fails_until_closed)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(db_begin(db), 0);
    ASSERT_EQ(kv_put(db, "u", "a", "1"), 0);
    /* What SQLite does on its own after some SQLITE_IOERR or SQLITE_FULL errors. */
    ASSERT_EQ(sqlite3_exec(db__handle(db), "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    ASSERT_TRUE(db__txn_lost(db));
    /* No autocommitted half-requests. */
    ASSERT_EQ(kv_put(db, "u", "b", "2"), YB_EIO);
    ASSERT_EQ(db_begin(db), YB_EIO);
    ASSERT_EQ(db_account_delete(db, "h", "u"), YB_EIO);
    ASSERT_FALSE(db_account_exists(db, "h", "u"));
    ASSERT_EQ(db_commit(db), YB_EIO);
    ASSERT_EQ(db_rollback(db), 0);
    ASSERT_EQ(db__depth(db), 0);
    ASSERT_FALSE(db__txn_lost(db));
    ASSERT_TRUE(kv_is(db, "u", "a", NULL));
    ASSERT_TRUE(kv_is(db, "u", "b", NULL));
    ASSERT_EQ(kv_put(db, "u", "b", "2"), 0);
    ASSERT_TRUE(kv_is(db, "u", "b", "2"));
    db_close(db);
    tmpdb_fini(&t);
}

TEST(locked_database_fails_then_recovers)
{
    struct tmpdb t;
    ASSERT_TRUE(tmpdb_init(&t));
    struct db *db = NULL;
    ASSERT_EQ(db_open(t.path, &db), 0);
    sqlite3_busy_timeout(db__handle(db), 50);
    /* Another process (yerbactl) holds the write lock. */
    sqlite3 *other;
    ASSERT_EQ(sqlite3_open(t.path, &other), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    struct log_capture lc;
    log_capture_start(&lc, &t);
    ASSERT_EQ(kv_put(db, "u", "a", "1"), YB_EIO);
    ASSERT_EQ(db_begin(db), YB_EIO);
    ASSERT_EQ(db__depth(db), 0);
    char text[1024];
    ASSERT_EQ(log_capture_stop(&lc, text, sizeof text), 1);
    ASSERT_TRUE(kv_is(db, "u", "a", NULL)); /* reads still work under WAL */
    ASSERT_EQ(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    ASSERT_EQ(kv_put(db, "u", "a", "1"), 0);
    ASSERT_TRUE(kv_is(db, "u", "a", "1"));
    db_close(db);
    tmpdb_fini(&t);
}

TEST_MAIN(TEST_CASE(open_sets_up_wal_schema_and_pragmas), TEST_CASE(open_twice_migrates_once),
          TEST_CASE(open_refuses_newer_schema), TEST_CASE(open_refuses_other_files),
          TEST_CASE(accounts), TEST_CASE(account_delete_removes_every_row_of_the_user),
          TEST_CASE(account_delete_nests_inside_a_transaction), TEST_CASE(kv_store),
          TEST_CASE(map_store), TEST_CASE(list_callbacks_may_call_back_into_the_db),
          TEST_CASE(archive_store), TEST_CASE(data_survives_reopen),
          TEST_CASE(nested_transactions_are_savepoints), TEST_CASE(database_full_then_recovers),
          TEST_CASE(failed_commit_rolls_back), TEST_CASE(lost_transaction_fails_until_closed),
          TEST_CASE(locked_database_fails_then_recovers))
