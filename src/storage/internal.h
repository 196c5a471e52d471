/* SPDX-License-Identifier: MIT
 *
 * internal.h: private to src/storage (and its unit tests). The worker in storage.c
 * needs to see the transaction depth of a struct db to keep each request inside its
 * own savepoint; tests need the SQLite handle to provoke failures (max_page_count,
 * commit hooks, busy timeouts). Nothing outside src/storage may include this file.
 */
#ifndef YB_STORAGE_INTERNAL_H
#define YB_STORAGE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>

#include "storage.h"

/* Number of open db_begin() levels (0: autocommit). Worker thread only. */
int db__depth(const struct db *db);
/* True when db_begin() levels are open but SQLite rolled the whole transaction back
 * on its own (SQLITE_FULL, SQLITE_IOERR, ... may do that): every statement then
 * fails with YB_EIO until the levels are closed with db_rollback(). */
bool db__txn_lost(const struct db *db);
/* The underlying connection. Borrowed: valid until db_close(). Tests only. */
sqlite3 *db__handle(struct db *db);

#endif
