/* SPDX-License-Identifier: MIT
 *
 * clock.h: monotonic and wall-clock time, and XEP-0082 timestamps.
 */
#ifndef YB_BASE_CLOCK_H
#define YB_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds from an arbitrary fixed point; never goes backwards. */
uint64_t clock_mono_ms(void);
/* Microseconds since the Unix epoch. */
int64_t clock_wall_us(void);
/* Formats a Unix time in microseconds as XEP-0082 DateTime with milliseconds
 * ("2026-11-29T22:53:24.123Z"). out must hold 32 bytes. */
void clock_format_xep82(int64_t wall_us, char out[32]);
/* Parses an XEP-0082 DateTime (with optional fraction and zone). Returns 0 or
 * YB_EINVAL. */
int clock_parse_xep82(const char *s, int64_t *wall_us);

#endif
