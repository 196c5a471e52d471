/* SPDX-License-Identifier: MIT
 *
 * storage.c: the asynchronous front (struct storage, DESIGN.md §2 and §7). One worker
 * thread owns the struct db; the loop thread submits requests into a mutex-protected
 * queue and gets them back through a uv_async_t. The worker takes the whole queue as
 * a batch, runs it in one transaction with a savepoint per request, commits once
 * (group commit), then posts the batch back: a done callback means durable.
 * docs/internals/storage.md.
 */
#include "storage.h"

#include <assert.h>
#include <stdatomic.h>

#include "alloc.h"
#include "error.h"
#include "internal.h"
#include "log.h"

struct storage {
    uv_loop_t *loop;
    struct db *db; /* the worker's between storage_open() and the join in storage_close() */
    uv_async_t async;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    struct list_node queue;      /* mu: submitted, not yet taken by the worker */
    struct list_node done;       /* mu: finished by the worker, done() not yet run */
    struct list_node completing; /* loop thread: taken from done, done() about to run */
    bool closing;                /* mu: storage_close() started; submit refuses */
    bool close_called;           /* loop thread: guards a second storage_close() */
    atomic_size_t n_pending;     /* submitted and done() not yet called */
};

#define REQ_OF(n) LIST_ENTRY(n, struct storage_req, link)

/* Moves every node of src, in order, to the tail of dst. */
static void
list_splice_tail(struct list_node *dst, struct list_node *src)
{
    if (list_is_empty(src))
        return;
    struct list_node *first = src->next, *last = src->prev;
    first->prev = dst->prev;
    dst->prev->next = first;
    last->next = dst;
    dst->prev = last;
    list_init(src);
}

/* Requests in [from, to) that did not fail on their own get status err: their work
 * was rolled back with the transaction. */
static void
fail_range(struct list_node *from, struct list_node *to, int err)
{
    for (struct list_node *n = from; n != to; n = n->next) {
        if (REQ_OF(n)->status == 0)
            REQ_OF(n)->status = err;
    }
}

/* Runs one request in its own savepoint inside the batch transaction (depth 1).
 * Returns true when the batch transaction is gone (SQLite rolled it back, or the work
 * function closed it), so the requests before this one were not committed. */
static bool
run_one(struct db *db, struct storage_req *req)
{
    if (db_begin(db) != 0) {
        req->status = YB_EIO;
        return db__depth(db) == 0 || db__txn_lost(db);
    }
    req->status = req->work(db, req);
    int depth = db__depth(db);
    if (depth > 2) {
        log_error("storage", "a request left %d transaction level(s) open; rolled back", depth - 2);
        while (db__depth(db) > 2)
            db_rollback(db);
        if (req->status == 0)
            req->status = YB_EIO;
    } else if (depth < 2) {
        log_error("storage", "a request closed a transaction it did not open");
        if (req->status == 0)
            req->status = YB_EIO;
        return depth == 0;
    }
    if (db__txn_lost(db)) {
        if (req->status == 0)
            req->status = YB_EIO;
        return true;
    }
    if (req->status == 0) {
        int rc = db_commit(db);
        if (rc != 0)
            req->status = rc;
    } else {
        db_rollback(db);
    }
    return db__txn_lost(db);
}

/* Runs a batch (a list of storage_req) on the worker thread. Normally one transaction;
 * when SQLite drops the transaction midway, the requests before the failing one are
 * failed and the rest run in a new transaction. */
static void
run_batch(struct db *db, struct list_node *batch)
{
    struct list_node *n = batch->next;
    while (n != batch) {
        struct list_node *first = n;
        if (db_begin(db) != 0) {
            /* Logged by db_begin; the next batch tries again. */
            fail_range(n, batch, YB_EIO);
            return;
        }
        bool lost = false;
        int why = YB_EIO;
        while (n != batch && !lost) {
            lost = run_one(db, REQ_OF(n));
            /* A full disk is what the earlier requests of the batch failed on too:
             * their clients get resource-constraint, not internal-server-error. */
            why = REQ_OF(n)->status == YB_EFULL ? YB_EFULL : YB_EIO;
            n = n->next;
        }
        if (lost) {
            while (db__depth(db) > 0)
                db_rollback(db);
            fail_range(first, n, why);
            continue;
        }
        int rc = db_commit(db);
        if (rc != 0)
            fail_range(first, batch, rc == YB_EFULL ? YB_EFULL : YB_EIO);
    }
}

static void
worker_main(void *arg)
{
    struct storage *s = arg;
    struct list_node batch;
    list_init(&batch);
    uv_mutex_lock(&s->mu);
    for (;;) {
        while (list_is_empty(&s->queue) && !s->closing)
            uv_cond_wait(&s->cond, &s->mu);
        /* Closing: leave only once the queue is drained. */
        if (list_is_empty(&s->queue))
            break;
        list_splice_tail(&batch, &s->queue);
        uv_mutex_unlock(&s->mu);

        run_batch(s->db, &batch);

        uv_mutex_lock(&s->mu);
        list_splice_tail(&s->done, &batch);
        uv_mutex_unlock(&s->mu);
        uv_async_send(&s->async);
        uv_mutex_lock(&s->mu);
    }
    uv_mutex_unlock(&s->mu);
}

/* Loop thread: runs done() for every finished request. One at a time from
 * s->completing, so a done callback may call storage_close(), which runs the rest. */
static void
run_completions(struct storage *s)
{
    uv_mutex_lock(&s->mu);
    list_splice_tail(&s->completing, &s->done);
    uv_mutex_unlock(&s->mu);
    while (!list_is_empty(&s->completing)) {
        struct list_node *n = s->completing.next;
        list_remove(n);
        struct storage_req *req = REQ_OF(n);
        atomic_fetch_sub(&s->n_pending, 1);
        req->done(req); /* may free req */
    }
}

static void
on_async(uv_async_t *h)
{
    run_completions(h->data);
}

static void
on_async_closed(uv_handle_t *h)
{
    struct storage *s = h->data;
    uv_cond_destroy(&s->cond);
    uv_mutex_destroy(&s->mu);
    yb_free(s);
}

int
storage_open(uv_loop_t *loop, const char *path, struct storage **out)
{
    *out = NULL;
    struct storage *s = yb_calloc(1, sizeof *s);
    if (s == NULL)
        return YB_ENOMEM;
    s->loop = loop;
    list_init(&s->queue);
    list_init(&s->done);
    list_init(&s->completing);
    atomic_init(&s->n_pending, 0);
    int rc = db_open(path, &s->db);
    if (rc != 0) {
        yb_free(s);
        return rc;
    }
    if (uv_mutex_init(&s->mu) != 0) {
        rc = YB_ENOMEM;
        goto fail_mutex;
    }
    if (uv_cond_init(&s->cond) != 0) {
        rc = YB_ENOMEM;
        goto fail_cond;
    }
    if (uv_async_init(loop, &s->async, on_async) != 0) {
        rc = YB_EIO;
        goto fail_async;
    }
    s->async.data = s;
    if (uv_thread_create(&s->thread, worker_main, s) != 0) {
        log_error("storage", "cannot start the storage worker thread");
        db_close(s->db);
        /* The handle is registered with the loop: s is freed by its close callback. */
        uv_close((uv_handle_t *)&s->async, on_async_closed);
        return YB_EIO;
    }
    *out = s;
    return 0;
fail_async:
    uv_cond_destroy(&s->cond);
fail_cond:
    uv_mutex_destroy(&s->mu);
fail_mutex:
    db_close(s->db);
    yb_free(s);
    return rc;
}

int
storage_submit(struct storage *s, struct storage_req *req)
{
    assert(req->work != NULL && req->done != NULL);
    req->status = 0;
    uv_mutex_lock(&s->mu);
    if (s->closing) {
        uv_mutex_unlock(&s->mu);
        return YB_ECLOSED;
    }
    /* The worker only sleeps on an empty queue. */
    bool wake = list_is_empty(&s->queue);
    list_insert_tail(&s->queue, &req->link);
    atomic_fetch_add(&s->n_pending, 1);
    if (wake)
        uv_cond_signal(&s->cond);
    uv_mutex_unlock(&s->mu);
    return 0;
}

void
storage_close(struct storage *s)
{
    if (s == NULL || s->close_called)
        return;
    s->close_called = true;
    uv_mutex_lock(&s->mu);
    s->closing = true;
    uv_cond_signal(&s->cond);
    uv_mutex_unlock(&s->mu);
    /* The worker drains the queue before it leaves. */
    uv_thread_join(&s->thread);
    run_completions(s);
    assert(atomic_load(&s->n_pending) == 0);
    db_close(s->db);
    s->db = NULL;
    /* Not uv_run() here: storage_close() is often called from a callback, and uv_run
     * is not reentrant. The loop frees s when it next runs. */
    uv_close((uv_handle_t *)&s->async, on_async_closed);
}

size_t
storage_pending(const struct storage *s)
{
    return atomic_load(&s->n_pending);
}
