/* SPDX-License-Identifier: MIT
 *
 * alloc.h: the allocation entry points every layer uses. Libraries shared with the
 * client side (xml, proto) check for NULL and propagate it; the server binary calls
 * yb_alloc_abort_on_oom() at start so its own code never sees NULL. Tests can inject
 * failures with yb_alloc_fail_after().
 */
#ifndef YB_BASE_ALLOC_H
#define YB_BASE_ALLOC_H

#include <stddef.h>

/* Like malloc/calloc/realloc/strdup/free. Return NULL on failure unless abort-on-OOM
 * is set. yb_free(NULL) is a no-op. */
void *yb_malloc(size_t size);
void *yb_calloc(size_t n, size_t size);
void *yb_realloc(void *p, size_t size);
char *yb_strdup(const char *s);
char *yb_strndup(const char *s, size_t len);
void yb_free(void *p);

/* From now on, an allocation failure prints a message and aborts the process.
 * Call once, before any thread starts. */
void yb_alloc_abort_on_oom(void);

/* Testing: the next n allocations succeed, every later one fails (n < 0: never fail).
 * Not thread-safe; for single-threaded unit tests only. */
void yb_alloc_fail_after(long n);

#endif
