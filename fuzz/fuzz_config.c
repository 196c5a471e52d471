/* SPDX-License-Identifier: MIT
 *
 * fuzz_config.c: libFuzzer target for the configuration loader (src/server/config.c).
 * The input is a YAML file's bytes. Beyond "no crash, no leak", a config that loads
 * must be whole: every string set, at least one host, each host found by its own
 * domain, and every port in range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct config *cfg)
{
    if (cfg->data_dir == NULL || cfg->database == NULL || cfg->admin_socket == NULL ||
        cfg->log_level == NULL || cfg->n_hosts == 0)
        abort();
    for (size_t i = 0; i < cfg->n_hosts; i++) {
        const struct config_host *h = &cfg->hosts[i];
        if (h->domain == NULL || config_find_host(cfg, h->domain) != h ||
            (h->certificate == NULL) != (h->key == NULL) || h->max_resources == 0)
            abort();
        for (size_t j = 0; j < h->n_admins; j++)
            if (h->admins[j] == NULL || strchr(h->admins[j], '@') == NULL)
                abort();
    }
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (cfg->listeners[i].address == NULL || cfg->listeners[i].port < 0 ||
            cfg->listeners[i].port > 65535)
            abort();
    if (cfg->auth_fail_delay_max_ms < cfg->auth_fail_delay_ms)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf err = BUF_INIT;
    /* A name with a directory, so relative paths are resolved too. */
    struct config *cfg =
        config_load_string((const char *)data, size, "/etc/yerba/yerba.yaml", &err);
    if (cfg != NULL)
        check(cfg);
    else if (err.len == 0)
        abort(); /* a refusal always says why */
    config_free(cfg);
    buf_fini(&err);
    return 0;
}
