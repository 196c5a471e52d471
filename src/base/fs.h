/* SPDX-License-Identifier: MIT
 *
 * fs.h: small file-system helpers.
 */
#ifndef YB_BASE_FS_H
#define YB_BASE_FS_H

#include <sys/types.h>

/* Creates path and its missing parents with mode (like mkdir -p). Returns 0, or
 * YB_EIO with errno set. */
int fs_mkdirs(const char *path, mode_t mode);

#endif
