/* SPDX-License-Identifier: MIT
 *
 * fs.c: file-system helpers.
 */
#include "fs.h"

#include <errno.h>
#include <sys/stat.h>

#include "alloc.h"
#include "error.h"

int
fs_mkdirs(const char *path, mode_t mode)
{
    char *p = yb_strdup(path);
    if (p == NULL)
        return YB_ENOMEM;
    int rc = 0;
    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST)
            rc = YB_EIO;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, mode) != 0 && errno != EEXIST)
        rc = YB_EIO;
    yb_free(p);
    return rc;
}
