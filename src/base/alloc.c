/* SPDX-License-Identifier: MIT
 *
 * alloc.c: thin wrappers over the C allocator with abort-on-OOM for the server and
 * failure injection for tests.
 */
#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int abort_on_oom;
static long fail_after = -1;

static int
should_fail(void)
{
    if (fail_after < 0)
        return 0;
    if (fail_after == 0)
        return 1;
    fail_after--;
    return 0;
}

static void *
checked(void *p)
{
    if (p == NULL && abort_on_oom) {
        fputs("yerba: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *
yb_malloc(size_t size)
{
    return checked(should_fail() ? NULL : malloc(size ? size : 1));
}

void *
yb_calloc(size_t n, size_t size)
{
    return checked(should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1));
}

void *
yb_realloc(void *p, size_t size)
{
    return checked(should_fail() ? NULL : realloc(p, size ? size : 1));
}

char *
yb_strndup(const char *s, size_t len)
{
    char *d = yb_malloc(len + 1);
    if (d != NULL) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

char *
yb_strdup(const char *s)
{
    return yb_strndup(s, strlen(s));
}

void
yb_free(void *p)
{
    free(p);
}

void
yb_alloc_abort_on_oom(void)
{
    abort_on_oom = 1;
}

void
yb_alloc_fail_after(long n)
{
    fail_after = n;
}
