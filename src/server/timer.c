/* SPDX-License-Identifier: MIT
 *
 * timer.c: repeating timers for modules (module_api.h). A timer is a uv_timer_t
 * on the core loop; it does not keep the loop alive, and stopping it closes the
 * handle and frees it from the close callback (libuv: free only after close).
 * Modules stop their timers in unload.
 */
#include <assert.h>

#include "server.h"

struct module_timer {
    uv_timer_t handle;
    struct module *module;
    module_timer_fn fn;
    void *ud;
};

static void
on_tick(uv_timer_t *h)
{
    struct module_timer *t = h->data;
    t->fn(t->ud);
}

static void
on_closed(uv_handle_t *h)
{
    yb_free(h->data);
}

struct module_timer *
module_timer_start(struct module *m, uint64_t interval_ms, module_timer_fn fn, void *ud)
{
    assert(interval_ms > 0 && fn != NULL);
    struct module_timer *t = yb_calloc(1, sizeof *t);
    t->module = m;
    t->fn = fn;
    t->ud = ud;
    uv_timer_init(srv->loop, &t->handle);
    t->handle.data = t;
    uv_timer_start(&t->handle, on_tick, interval_ms, interval_ms);
    uv_unref((uv_handle_t *)&t->handle);
    return t;
}

void
module_timer_stop(struct module_timer *t)
{
    if (t == NULL)
        return;
    uv_timer_stop(&t->handle);
    uv_close((uv_handle_t *)&t->handle, on_closed);
}
