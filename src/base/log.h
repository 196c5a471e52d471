/* SPDX-License-Identifier: MIT
 *
 * log.h: one line per event on stderr (or a file): time, level, subsystem or session
 * id, message. Never pass passwords or SASL payloads to these functions.
 * Thread-safe: each line is written with one write(2).
 */
#ifndef YB_BASE_LOG_H
#define YB_BASE_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the lowest level printed (default LOG_INFO). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug", "info", "warn", "error". Returns 0 or YB_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
/* Redirects output to fd (default 2). */
void log_set_fd(int fd);
static inline bool log_enabled(enum log_level level);

/* who: a session id ("c2s#12"), a subsystem ("storage"), or NULL. */
void log_msg(enum log_level level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(who, ...)                                                                        \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_msg(LOG_DEBUG, who, __VA_ARGS__);                                                  \
    } while (0)
#define log_info(who, ...)  log_msg(LOG_INFO, who, __VA_ARGS__)
#define log_warn(who, ...)  log_msg(LOG_WARN, who, __VA_ARGS__)
#define log_error(who, ...) log_msg(LOG_ERROR, who, __VA_ARGS__)

extern enum log_level log__level;

static inline bool
log_enabled(enum log_level level)
{
    return level >= log__level;
}

#endif
