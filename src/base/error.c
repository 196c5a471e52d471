/* SPDX-License-Identifier: MIT
 *
 * error.c: names of the YB_E* error codes.
 */
#include "error.h"

const char *
yb_strerror(int err)
{
    switch (err) {
    case YB_OK:
        return "success";
    case YB_ENOMEM:
        return "out of memory";
    case YB_EINVAL:
        return "invalid argument";
    case YB_ENOENT:
        return "not found";
    case YB_EEXIST:
        return "already exists";
    case YB_ELIMIT:
        return "limit reached";
    case YB_EIO:
        return "I/O error";
    case YB_EPERM:
        return "not permitted";
    case YB_EAGAIN:
        return "try again";
    case YB_ECLOSED:
        return "closed";
    case YB_EPROTO:
        return "protocol error";
    case YB_EFULL:
        return "storage full";
    case YB_EAUTH:
        return "authentication failed";
    }
    return "unknown error";
}
