/* SPDX-License-Identifier: MIT
 *
 * error.h: the project's error codes. Functions returning int give 0 or one of these
 * (negative); functions returning pointers give NULL.
 */
#ifndef YB_BASE_ERROR_H
#define YB_BASE_ERROR_H

enum yb_error {
    YB_OK = 0,
    YB_ENOMEM = -1,  /* allocation failed */
    YB_EINVAL = -2,  /* invalid argument or malformed input */
    YB_ENOENT = -3,  /* no such item */
    YB_EEXIST = -4,  /* item already exists */
    YB_ELIMIT = -5,  /* a configured limit was reached */
    YB_EIO = -6,     /* I/O or storage failure */
    YB_EPERM = -7,   /* not allowed */
    YB_EAGAIN = -8,  /* try again later */
    YB_ECLOSED = -9, /* the object is closing or closed */
    YB_EPROTO = -10, /* protocol violation by the peer */
    YB_EFULL = -11,  /* storage full or quota reached */
    YB_EAUTH = -12,  /* authentication failed */
};

/* A static, human-readable string for an error code. */
const char *yb_strerror(int err);

#endif
