/* SPDX-License-Identifier: MIT
 *
 * mod_time.c: XEP-0202 Entity Time for each served domain: the server's UTC time
 * (XEP-0082 DateTime) and its local offset from UTC.
 */
#include <stdio.h>
#include <time.h>

#include "module_api.h"

#define NS_TIME "urn:xmpp:time"

static enum hook_result
on_time(struct iq_request *req, void *ud)
{
    (void)ud;
    int64_t now_us = clock_wall_us();
    char utc[32];
    clock_format_xep82(now_us, utc);
    /* The zone was read once at load (tzset), so this reads no file. */
    time_t now = (time_t)(now_us / 1000000);
    struct tm local;
    long off_s = 0;
    if (localtime_r(&now, &local) != NULL)
        off_s = local.tm_gmtoff;
    /* Real zones are within ±26 hours. */
    int minutes = (int)((off_s < 0 ? -off_s : off_s) / 60 % (100 * 60));
    char tzo[16];
    snprintf(tzo, sizeof tzo, "%c%02d:%02d", off_s < 0 ? '-' : '+', minutes / 60, minutes % 60);
    struct stanza *res = iq_result_new(req, NULL);
    struct xml_node *t = node_add_child(stanza_root(res), "time", NS_TIME);
    node_add_text_child(t, "tzo", NS_TIME, tzo);
    node_add_text_child(t, "utc", NS_TIME, utc);
    iq_reply(req, res);
    return HOOK_HANDLED;
}

static int
time_load(struct module *m)
{
    tzset();
    int rc = module_add_feature(m, NS_TIME);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_HOST, NS_TIME, "time", on_time, NULL);
    return rc;
}

MODULE_DEFINE(time, .summary = "Entity Time of the server", .xeps = "0202@2.0", .load = time_load);
