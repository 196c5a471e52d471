/* SPDX-License-Identifier: MIT
 *
 * test_storage.c: the asynchronous front (src/storage/storage.c) on a real uv loop:
 * work runs on the worker thread and done on the loop thread, statuses propagate,
 * each request is isolated in its savepoint within a batch, a failed or lost batch
 * transaction fails only what it must and the next batch works, storage_close runs
 * every pending callback, and submit after close is refused.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../../src/storage/internal.h"
#include "alloc.h"
#include "error.h"
#include "storage.h"
#include "test.h"

struct tmpdb {
    char dir[64];
    char path[96];
};

static bool
tmpdb_init(struct tmpdb *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/yb-test-storage-XXXXXX");
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

/* A test request: work_fn does the db part, the rest records what happened. */
struct treq {
    struct storage_req base;
    int (*op)(struct db *db, struct treq *r);
    char key[32];
    char value[32];
    int depth_in_work;       /* db__depth() seen by work: 2 inside a batch */
    bool work_on_loop;       /* work ran on the loop thread (wrong) */
    struct buf got;          /* read results */
    int status_seen_by_done; /* -100: done not called */
    bool heap;               /* done frees it */
};

static uv_thread_t loop_thread;
static atomic_int n_done;
static int n_done_on_wrong_thread;
static uv_sem_t gate_sem;     /* posted by the test: the gate request may finish */
static uv_sem_t gate_running; /* posted by the gate request: the worker is blocked */

static void
treq_done(struct storage_req *req)
{
    struct treq *r = (struct treq *)req;
    uv_thread_t self = uv_thread_self();
    if (!uv_thread_equal(&self, &loop_thread))
        n_done_on_wrong_thread++;
    r->status_seen_by_done = req->status;
    atomic_fetch_add(&n_done, 1);
    if (r->heap) {
        buf_fini(&r->got);
        yb_free(r);
    }
}

static int
treq_work(struct db *db, struct storage_req *req)
{
    struct treq *r = (struct treq *)req;
    uv_thread_t self = uv_thread_self();
    r->work_on_loop = uv_thread_equal(&self, &loop_thread);
    r->depth_in_work = db__depth(db);
    return r->op(db, r);
}

static void
treq_init(struct treq *r, int (*op)(struct db *, struct treq *), const char *key, const char *value)
{
    memset(r, 0, sizeof *r);
    r->base.work = treq_work;
    r->base.done = treq_done;
    r->op = op;
    snprintf(r->key, sizeof r->key, "%s", key);
    snprintf(r->value, sizeof r->value, "%s", value);
    buf_init(&r->got);
    r->status_seen_by_done = -100;
}

static int
op_set(struct db *db, struct treq *r)
{
    return db_kv_set(db, "h", "u", "s", r->key, r->value, strlen(r->value));
}

static int
op_get(struct db *db, struct treq *r)
{
    return db_kv_get(db, "h", "u", "s", r->key, &r->got);
}

/* Writes, then fails: its write must be undone, and only its write. */
static int
op_set_then_fail(struct db *db, struct treq *r)
{
    int rc = op_set(db, r);
    return rc != 0 ? rc : YB_EINVAL;
}

/* Writes, then makes SQLite drop the whole batch transaction, as it may do on its
 * own after SQLITE_FULL or SQLITE_IOERR. */
static int
op_set_then_lose_txn(struct db *db, struct treq *r)
{
    op_set(db, r);
    sqlite3_exec(db__handle(db), "ROLLBACK", NULL, NULL, NULL);
    return 0;
}

/* Blocks the worker until the test posts gate_sem, so that later submissions queue
 * up and form one batch. */
static int
op_gate(struct db *db, struct treq *r)
{
    (void)db;
    (void)r;
    uv_sem_post(&gate_running);
    uv_sem_wait(&gate_sem);
    return 0;
}

static bool
gate_init(void)
{
    return uv_sem_init(&gate_sem, 0) == 0 && uv_sem_init(&gate_running, 0) == 0;
}

static void
gate_fini(void)
{
    uv_sem_destroy(&gate_sem);
    uv_sem_destroy(&gate_running);
}

/* Submits a gate request and waits until the worker is blocked in it, so that the
 * requests submitted next form one batch. */
static int
gate_submit(struct storage *s, struct treq *gate)
{
    treq_init(gate, op_gate, "", "");
    int rc = storage_submit(s, &gate->base);
    if (rc == 0)
        uv_sem_wait(&gate_running);
    return rc;
}

/* Opens a transaction level and forgets it. */
static int
op_leave_open(struct db *db, struct treq *r)
{
    db_begin(db);
    return op_set(db, r);
}

/* Runs the loop until n_done reaches want. */
static void
run_until(uv_loop_t *loop, int want)
{
    while (atomic_load(&n_done) < want)
        uv_run(loop, UV_RUN_ONCE);
}

struct fixture {
    struct tmpdb t;
    uv_loop_t loop;
    struct storage *s;
};

static bool
fixture_init(struct fixture *f)
{
    if (!tmpdb_init(&f->t) || uv_loop_init(&f->loop) != 0)
        return false;
    loop_thread = uv_thread_self();
    atomic_store(&n_done, 0);
    n_done_on_wrong_thread = 0;
    return storage_open(&f->loop, f->t.path, &f->s) == 0;
}

/* Closes storage (if still open) and the loop; false if the loop had leftovers. */
static bool
fixture_fini(struct fixture *f)
{
    storage_close(f->s);
    f->s = NULL;
    uv_run(&f->loop, UV_RUN_DEFAULT); /* frees the storage once its handle closed */
    bool ok = uv_loop_close(&f->loop) == 0;
    tmpdb_fini(&f->t);
    return ok;
}

/* Reads a key from the file directly, after the storage is closed. */
static bool
file_has(const char *path, const char *key, const char *want)
{
    struct db *db = NULL;
    if (db_open(path, &db) != 0)
        return false;
    struct buf b = BUF_INIT;
    int rc = db_kv_get(db, "h", "u", "s", key, &b);
    bool ok = want == NULL ? rc == YB_ENOENT
                           : rc == 0 && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
    buf_fini(&b);
    db_close(db);
    return ok;
}

TEST(many_requests_complete_on_the_loop_thread)
{
    enum { N = 300 };
    struct fixture f;
    ASSERT_TRUE(fixture_init(&f));
    static struct treq reqs[N];
    for (int i = 0; i < N; i++) {
        char key[16], value[16];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(value, sizeof value, "v%d", i);
        treq_init(&reqs[i], op_set, key, value);
        ASSERT_EQ(storage_submit(f.s, &reqs[i].base), 0);
    }
    ASSERT_TRUE(storage_pending(f.s) > 0);
    run_until(&f.loop, N);
    ASSERT_EQ(storage_pending(f.s), 0);
    ASSERT_EQ(n_done_on_wrong_thread, 0);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(reqs[i].status_seen_by_done, 0);
        ASSERT_FALSE(reqs[i].work_on_loop);
        ASSERT_EQ(reqs[i].depth_in_work, 2); /* batch transaction + own savepoint */
    }

    /* Reads, and a status other than 0. */
    struct treq get, missing;
    treq_init(&get, op_get, "k123", "");
    treq_init(&missing, op_get, "nope", "");
    ASSERT_EQ(storage_submit(f.s, &get.base), 0);
    ASSERT_EQ(storage_submit(f.s, &missing.base), 0);
    run_until(&f.loop, N + 2);
    ASSERT_EQ(get.status_seen_by_done, 0);
    ASSERT_EQ(get.got.len, 4);
    ASSERT_MEM_EQ(get.got.data, "v123", 4);
    ASSERT_EQ(missing.status_seen_by_done, YB_ENOENT);
    buf_fini(&get.got);
    ASSERT_TRUE(fixture_fini(&f));
}

TEST(failing_request_rolls_back_only_itself)
{
    struct fixture f;
    ASSERT_TRUE(fixture_init(&f));
    ASSERT_TRUE(gate_init());
    struct treq gate, a, b, c, open;
    treq_init(&a, op_set, "a", "1");
    treq_init(&b, op_set_then_fail, "b", "2");
    treq_init(&c, op_set, "c", "3");
    treq_init(&open, op_leave_open, "open", "4");
    ASSERT_EQ(gate_submit(f.s, &gate), 0);
    ASSERT_EQ(storage_submit(f.s, &a.base), 0);
    ASSERT_EQ(storage_submit(f.s, &b.base), 0);
    ASSERT_EQ(storage_submit(f.s, &open.base), 0);
    ASSERT_EQ(storage_submit(f.s, &c.base), 0);
    ASSERT_EQ(storage_pending(f.s), 5);
    uv_sem_post(&gate_sem);
    run_until(&f.loop, 5);
    ASSERT_EQ(a.status_seen_by_done, 0);
    ASSERT_EQ(b.status_seen_by_done, YB_EINVAL);
    ASSERT_EQ(open.status_seen_by_done, YB_EIO);
    ASSERT_EQ(c.status_seen_by_done, 0);
    for (int i = 0; i < 4; i++) {
        const struct treq *r = (const struct treq *[]){&a, &b, &open, &c}[i];
        ASSERT_EQ(r->depth_in_work, 2);
    }
    /* Durable once done ran; the failed requests left nothing. */
    storage_close(f.s);
    f.s = NULL;
    ASSERT_TRUE(file_has(f.t.path, "a", "1"));
    ASSERT_TRUE(file_has(f.t.path, "b", NULL));
    ASSERT_TRUE(file_has(f.t.path, "open", NULL));
    ASSERT_TRUE(file_has(f.t.path, "c", "3"));
    ASSERT_TRUE(fixture_fini(&f));
    gate_fini();
}

TEST(lost_transaction_fails_earlier_requests_and_retries_the_rest)
{
    struct fixture f;
    ASSERT_TRUE(fixture_init(&f));
    ASSERT_TRUE(gate_init());
    struct treq gate, a, b, c;
    treq_init(&a, op_set, "a", "1");
    treq_init(&b, op_set_then_lose_txn, "b", "2");
    treq_init(&c, op_set, "c", "3");
    ASSERT_EQ(gate_submit(f.s, &gate), 0);
    ASSERT_EQ(storage_submit(f.s, &a.base), 0);
    ASSERT_EQ(storage_submit(f.s, &b.base), 0);
    ASSERT_EQ(storage_submit(f.s, &c.base), 0);
    uv_sem_post(&gate_sem);
    run_until(&f.loop, 4);
    ASSERT_EQ(gate.status_seen_by_done, 0);
    ASSERT_EQ(a.status_seen_by_done, YB_EIO); /* its write went with the transaction */
    ASSERT_EQ(b.status_seen_by_done, YB_EIO);
    ASSERT_EQ(c.status_seen_by_done, 0); /* ran in a new transaction */
    ASSERT_EQ(c.depth_in_work, 2);
    storage_close(f.s);
    f.s = NULL;
    ASSERT_TRUE(file_has(f.t.path, "a", NULL));
    ASSERT_TRUE(file_has(f.t.path, "b", NULL));
    ASSERT_TRUE(file_has(f.t.path, "c", "3"));
    ASSERT_TRUE(fixture_fini(&f));
    gate_fini();
}

static atomic_int fail_commits;

static int
commit_hook(void *ud)
{
    (void)ud;
    return atomic_fetch_sub(&fail_commits, 1) > 0; /* nonzero: COMMIT becomes ROLLBACK */
}

static int
op_set_and_fail_next_commit(struct db *db, struct treq *r)
{
    atomic_store(&fail_commits, 1);
    sqlite3_commit_hook(db__handle(db), commit_hook, NULL);
    return op_set(db, r);
}

/* Makes the database full for this and later requests. */
static int
op_fill(struct db *db, struct treq *r)
{
    (void)r;
    sqlite3_exec(db__handle(db), "PRAGMA max_page_count = 1", NULL, NULL, NULL);
    static char big[32 * 1024];
    return db_kv_set(db, "h", "u", "s", "big", big, sizeof big);
}

static int
op_unfill(struct db *db, struct treq *r)
{
    sqlite3_exec(db__handle(db), "PRAGMA max_page_count = 1000000", NULL, NULL, NULL);
    return op_set(db, r);
}

static int
op_short_busy_timeout(struct db *db, struct treq *r)
{
    sqlite3_busy_timeout(db__handle(db), 50);
    return op_set(db, r);
}

TEST(failed_batches_fail_their_requests_and_the_next_batch_works)
{
    struct fixture f;
    ASSERT_TRUE(fixture_init(&f));
    ASSERT_TRUE(gate_init());

    /* A failed COMMIT: every request of the batch that had succeeded gets YB_EIO. */
    struct treq gate, a, b, bad, next;
    treq_init(&a, op_set_and_fail_next_commit, "a", "1");
    treq_init(&bad, op_set_then_fail, "bad", "x");
    treq_init(&b, op_set, "b", "2");
    treq_init(&next, op_set, "next", "3");
    ASSERT_EQ(gate_submit(f.s, &gate), 0);
    ASSERT_EQ(storage_submit(f.s, &a.base), 0);
    ASSERT_EQ(storage_submit(f.s, &bad.base), 0);
    ASSERT_EQ(storage_submit(f.s, &b.base), 0);
    uv_sem_post(&gate_sem);
    run_until(&f.loop, 4);
    ASSERT_EQ(a.status_seen_by_done, YB_EIO);
    ASSERT_EQ(bad.status_seen_by_done, YB_EINVAL); /* its own failure is kept */
    ASSERT_EQ(b.status_seen_by_done, YB_EIO);
    ASSERT_EQ(storage_submit(f.s, &next.base), 0);
    run_until(&f.loop, 5);
    ASSERT_EQ(next.status_seen_by_done, 0);

    /* Database full, then space again. */
    struct treq fill, after_fill, unfill;
    treq_init(&fill, op_fill, "", "");
    treq_init(&after_fill, op_set, "after_fill", "4");
    treq_init(&unfill, op_unfill, "unfill", "5");
    ASSERT_EQ(storage_submit(f.s, &fill.base), 0);
    run_until(&f.loop, 6);
    ASSERT_EQ(fill.status_seen_by_done, YB_EFULL);
    ASSERT_EQ(storage_submit(f.s, &unfill.base), 0);
    ASSERT_EQ(storage_submit(f.s, &after_fill.base), 0);
    run_until(&f.loop, 8);
    ASSERT_EQ(unfill.status_seen_by_done, 0);
    ASSERT_EQ(after_fill.status_seen_by_done, 0);

    /* Another process holds the write lock past the busy timeout: BEGIN fails,
     * the whole batch gets YB_EIO, the next batch works. */
    struct treq shorten, locked1, locked2, unlocked;
    treq_init(&shorten, op_short_busy_timeout, "shorten", "6");
    treq_init(&locked1, op_set, "locked1", "7");
    treq_init(&locked2, op_set, "locked2", "8");
    treq_init(&unlocked, op_set, "unlocked", "9");
    ASSERT_EQ(storage_submit(f.s, &shorten.base), 0);
    run_until(&f.loop, 9);
    sqlite3 *other;
    ASSERT_EQ(sqlite3_open(f.t.path, &other), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    ASSERT_EQ(storage_submit(f.s, &locked1.base), 0);
    ASSERT_EQ(storage_submit(f.s, &locked2.base), 0);
    run_until(&f.loop, 11);
    ASSERT_EQ(locked1.status_seen_by_done, YB_EIO);
    ASSERT_EQ(locked2.status_seen_by_done, YB_EIO);
    ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    ASSERT_EQ(storage_submit(f.s, &unlocked.base), 0);
    run_until(&f.loop, 12);
    ASSERT_EQ(unlocked.status_seen_by_done, 0);

    storage_close(f.s);
    f.s = NULL;
    ASSERT_TRUE(file_has(f.t.path, "a", NULL));
    ASSERT_TRUE(file_has(f.t.path, "b", NULL));
    ASSERT_TRUE(file_has(f.t.path, "locked1", NULL));
    ASSERT_TRUE(file_has(f.t.path, "unlocked", "9"));
    ASSERT_TRUE(file_has(f.t.path, "next", "3"));
    ASSERT_TRUE(file_has(f.t.path, "big", NULL));
    ASSERT_TRUE(file_has(f.t.path, "after_fill", "4"));
    ASSERT_TRUE(fixture_fini(&f));
    gate_fini();
}

static struct storage *closing_storage;
static int submit_during_close;

static void
done_submits_again(struct storage_req *req)
{
    treq_done(req);
    struct treq *again = yb_malloc(sizeof *again);
    treq_init(again, op_set, "again", "x");
    submit_during_close = storage_submit(closing_storage, &again->base);
    yb_free(again);
}

TEST(close_runs_every_pending_callback)
{
    enum { N = 100 };
    struct fixture f;
    ASSERT_TRUE(fixture_init(&f));
    for (int i = 0; i < N; i++) {
        struct treq *r = yb_malloc(sizeof *r);
        ASSERT_NOT_NULL(r);
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        treq_init(r, op_set, key, "v");
        r->heap = true;
        if (i == N - 1)
            r->base.done = done_submits_again;
        ASSERT_EQ(storage_submit(f.s, &r->base), 0);
    }
    closing_storage = f.s;
    submit_during_close = 0;
    storage_close(f.s); /* without ever running the loop */
    ASSERT_EQ(atomic_load(&n_done), N);
    ASSERT_EQ(n_done_on_wrong_thread, 0);
    ASSERT_EQ(submit_during_close, YB_ECLOSED);
    /* Still refused after close returned, until the loop frees it. */
    struct treq late;
    treq_init(&late, op_set, "late", "x");
    ASSERT_EQ(storage_submit(f.s, &late.base), YB_ECLOSED);
    storage_close(f.s); /* a second call is harmless */
    f.s = NULL;
    ASSERT_TRUE(file_has(f.t.path, "k0", "v"));
    ASSERT_TRUE(file_has(f.t.path, "k99", "v"));
    ASSERT_TRUE(file_has(f.t.path, "again", NULL));
    ASSERT_TRUE(file_has(f.t.path, "late", NULL));
    ASSERT_TRUE(fixture_fini(&f));
}

static void
done_closes(struct storage_req *req)
{
    treq_done(req);
    if (closing_storage != NULL) {
        struct storage *s = closing_storage;
        closing_storage = NULL;
        storage_close(s);
    }
}

TEST(close_from_a_done_callback)
{
    enum { N = 20 };
    struct fixture f;
    ASSERT_TRUE(fixture_init(&f));
    ASSERT_TRUE(gate_init());
    static struct treq reqs[N];
    treq_init(&reqs[0], op_gate, "", "");
    reqs[0].base.done = done_closes;
    ASSERT_EQ(storage_submit(f.s, &reqs[0].base), 0);
    for (int i = 1; i < N; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        treq_init(&reqs[i], op_set, key, "v");
        ASSERT_EQ(storage_submit(f.s, &reqs[i].base), 0);
    }
    closing_storage = f.s;
    uv_sem_post(&gate_sem);
    /* The gate's done closes the storage: the other 19 complete inside that call. */
    run_until(&f.loop, N);
    ASSERT_NULL(closing_storage);
    for (int i = 1; i < N; i++)
        ASSERT_EQ(reqs[i].status_seen_by_done, 0);
    f.s = NULL;
    ASSERT_TRUE(fixture_fini(&f));
    gate_fini();
}

TEST(open_errors)
{
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    struct storage *s = (struct storage *)1;
    ASSERT_EQ(storage_open(&loop, "/nonexistent-yerba-dir/x.db", &s), YB_EIO);
    ASSERT_NULL(s);
    storage_close(NULL);
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(uv_loop_close(&loop), 0);
}

TEST_MAIN(TEST_CASE(many_requests_complete_on_the_loop_thread),
          TEST_CASE(failing_request_rolls_back_only_itself),
          TEST_CASE(lost_transaction_fails_earlier_requests_and_retries_the_rest),
          TEST_CASE(failed_batches_fail_their_requests_and_the_next_batch_works),
          TEST_CASE(close_runs_every_pending_callback), TEST_CASE(close_from_a_done_callback),
          TEST_CASE(open_errors))
