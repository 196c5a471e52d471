/* SPDX-License-Identifier: MIT
 *
 * mod_component.c: the service discovery side of external components (XEP-0114;
 * the streams themselves are server/component.c). A host's disco#items lists the
 * configured components under it (XEP-0030 §4), so clients find gateways (XEP-0100)
 * and other services; a component whose domain is under no host is listed on every
 * host. Listed whether connected or not: the service exists, and asking it while it
 * is down gets service-unavailable.
 */
#include <string.h>

#include "module_api.h"

#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

/* Whether domain is a subdomain (at any depth) of host. */
static bool
is_under(const char *domain, const char *host)
{
    size_t dl = strlen(domain), hl = strlen(host);
    return dl > hl + 1 && domain[dl - hl - 1] == '.' && strcmp(domain + dl - hl, host) == 0;
}

static bool
under_some_host(const struct config *cfg, const char *domain)
{
    for (size_t i = 0; i < cfg->n_hosts; i++)
        if (is_under(domain, cfg->hosts[i].domain))
            return true;
    return false;
}

static enum hook_result
on_disco_items(struct event *ev, void *ud)
{
    (void)ud;
    /* Only the host's own item list: no node, addressed to the domain itself. */
    if (ev->node != NULL || ev->to == NULL || ev->to->node != NULL || ev->reply == NULL)
        return HOOK_PASS;
    const struct config *cfg = server_config();
    const char *host = ev->to->domain;
    for (size_t i = 0; i < cfg->n_components; i++) {
        const char *d = cfg->components[i].domain;
        if (is_under(d, host) || !under_some_host(cfg, d))
            node_set_attr(node_add_child(ev->reply, "item", NS_DISCO_ITEMS), "jid", d);
    }
    return HOOK_PASS; /* others add their items too */
}

static int
component_load(struct module *m)
{
    return module_hook(m, EV_DISCO_ITEMS, 0, on_disco_items, NULL);
}

MODULE_DEFINE(component, .summary = "XEP-0114: Jabber Component Protocol", .xeps = "0114@1.6",
              .notes = "Components connect to a component listener (plaintext, loopback by "
                       "default) with a per-domain secret; a second connection for a connected "
                       "domain gets conflict; a component may only send from its own domain; "
                       "while it is down its domain answers service-unavailable. XEP-0100 "
                       "gateway traffic (jabber:iq:gateway, jabber:iq:register) is routed to it "
                       "untouched. Each host's disco#items lists the components under it.",
              .load = component_load);
