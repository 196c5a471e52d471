/* SPDX-License-Identifier: MIT
 *
 * mod_version.c: XEP-0092 Software Version for each served domain. The <os/>
 * element is never sent (XEP-0092 §5: revealing the operating system invites
 * attacks). With hide_version the reply keeps the REQUIRED <version/> element but
 * leaves it empty, so scanners learn the software's name only.
 */
#include "module_api.h"

#define NS_VERSION "jabber:iq:version"

static enum hook_result
on_version(struct iq_request *req, void *ud)
{
    (void)ud;
    struct stanza *res = iq_result_new(req, NULL);
    struct xml_node *q = node_add_child(stanza_root(res), "query", NS_VERSION);
    node_add_text_child(q, "name", NS_VERSION, "Yerba");
    node_add_text_child(q, "version", NS_VERSION,
                        server_config()->hide_version ? "" : YERBA_VERSION);
    iq_reply(req, res);
    return HOOK_HANDLED;
}

static int
version_load(struct module *m)
{
    int rc = module_add_feature(m, NS_VERSION);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_HOST, NS_VERSION, "query", on_version, NULL);
    return rc;
}

MODULE_DEFINE(version, .summary = "Software Version of the server", .xeps = "0092@1.1",
              .notes = "No <os/>; with hide_version the <version/> element is sent empty",
              .load = version_load);
