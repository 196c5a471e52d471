/* SPDX-License-Identifier: MIT
 *
 * mod_register.c: XEP-0077 In-Band Registration (version 2.5). Before authentication,
 * on a TLS stream, a client may ask for the registration fields and create an account
 * (plain <username/>/<password/> or an XEP-0004 form with FORM_TYPE jabber:iq:register)
 * when the host's policy allows it: registration closed (default), open, or open to
 * registration_networks, with reserved usernames and a per-address hourly limit.
 * Once authenticated, an account can see that it is registered, change its password
 * (over TLS only) and remove itself. SCRAM keys are derived off the core thread by
 * account_create()/account_set_password(). Passwords are never logged nor echoed in
 * error replies (XEP-0077 §3.3).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataform.h"
#include "module_api.h"

#define NS_REGISTER         "jabber:iq:register"
#define NS_REGISTER_FEATURE "http://jabber.org/features/iq-register"
#define NS_REGISTER_CHANGE  "jabber:iq:register:changepassword"

#define RATE_WINDOW_MS (3600u * 1000u)
#define RATE_SWEEP_MS  (300u * 1000u)
#define INSTRUCTIONS   "Choose a username and password to register with this server."

/* Refused on every host besides its reserved_usernames: the RFC 2142 role mailboxes
 * and the usual administrative names, so nobody can pose as the operator. */
static const char *const builtin_reserved[] = {
    "abuse", "admin",    "administrator", "hostmaster", "noc",  "postmaster",
    "root",  "security", "support",       "webmaster",  "xmpp",
};

struct register_state {
    struct module *m;
    struct module_timer *sweep;
    struct hashmap rates; /* "domain ip" -> struct rate */
};

/* Registrations from one address on one host in the last hour. */
struct rate {
    uint64_t *times_ms; /* successful registrations, oldest first */
    size_t n, cap;
    unsigned pending; /* account_create() calls not finished yet */
};

static struct register_state reg;

static bool
session_has_tls(const struct session *s)
{
    return s != NULL && session_is_tls(s);
}

/* Answers req with an error and without the request's payload: registration and
 * password-change payloads hold passwords (XEP-0077 §3.3). */
static void
reply_error(struct iq_request *req, enum stanza_error_cond c, const char *text)
{
    struct stanza *st = iq_result_new(req, NULL);
    stanza_set_attr(st, "type", "error");
    struct xml_node *err = node_add_child(stanza_root(st), "error", NS_CLIENT);
    node_set_attr(err, "type", stanza_error_type(c));
    node_add_child(err, stanza_error_name(c), NS_STANZAS);
    if (text != NULL)
        node_add_text_child(err, "text", NS_STANZAS, text);
    iq_reply(req, st);
}

/* ---- policy ---- */

/* Parses an IPv4 or IPv6 address into 16 bytes, IPv4 as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), so that "::ffff:10.1.2.3" from a dual-stack listener and
 * "10.1.2.3" are the same address. */
static bool
parse_ip(const char *s, unsigned char out[16], bool *is_v4)
{
    unsigned char v4[4];
    if (inet_pton(AF_INET, s, v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, v4, 4);
        *is_v4 = true;
        return true;
    }
    *is_v4 = false;
    return inet_pton(AF_INET6, s, out) == 1;
}

/* True when ip is inside net ("address/prefix"; config.c checked the syntax). */
static bool
ip_in_network(const unsigned char ip[16], const char *net)
{
    char addr[64];
    const char *slash = strchr(net, '/');
    size_t len = slash ? (size_t)(slash - net) : strlen(net);
    if (len >= sizeof addr)
        return false;
    memcpy(addr, net, len);
    addr[len] = '\0';
    unsigned char want[16];
    bool v4;
    if (!parse_ip(addr, want, &v4))
        return false;
    unsigned prefix = v4 ? 32 : 128;
    if (slash != NULL)
        prefix = (unsigned)strtoul(slash + 1, NULL, 10);
    if (v4)
        prefix += 96;
    if (prefix > 128)
        return false;
    size_t bytes = prefix / 8;
    if (memcmp(ip, want, bytes) != 0)
        return false;
    unsigned bits = prefix % 8;
    if (bits == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - bits));
    return (ip[bytes] & mask) == (want[bytes] & mask);
}

/* True when the host lets a client at ip create accounts. */
static bool
registration_allowed(const char *domain, const char *ip)
{
    const struct config_host *h = host_config(domain);
    if (h == NULL || h->registration == REGISTRATION_CLOSED)
        return false;
    if (h->registration == REGISTRATION_OPEN)
        return true;
    unsigned char addr[16];
    bool v4;
    if (ip == NULL || !parse_ip(ip, addr, &v4))
        return false;
    for (size_t i = 0; i < h->n_registration_networks; i++)
        if (ip_in_network(addr, h->registration_networks[i]))
            return true;
    return false;
}

static bool
is_reserved(const char *domain, const char *node)
{
    for (size_t i = 0; i < sizeof builtin_reserved / sizeof builtin_reserved[0]; i++)
        if (strcmp(node, builtin_reserved[i]) == 0)
            return true;
    const struct config_host *h = host_config(domain);
    for (size_t i = 0; h != NULL && i < h->n_reserved_usernames; i++) {
        /* The list is ASCII-lowercased; nodeprep it too so that any case or
         * compatibility form of a reserved name matches. */
        char *prepped = jid_nodeprep(h->reserved_usernames[i]);
        bool same = strcmp(node, h->reserved_usernames[i]) == 0 ||
                    (prepped != NULL && strcmp(node, prepped) == 0);
        yb_free(prepped);
        if (same)
            return true;
    }
    return false;
}

/* ---- per-address rate limit ---- */

static void
rate_prune(struct rate *r, uint64_t now)
{
    size_t old = 0; /* registrations that left the window */
    while (old < r->n && now - r->times_ms[old] >= RATE_WINDOW_MS)
        old++;
    if (old == 0)
        return;
    memmove(r->times_ms, r->times_ms + old, (r->n - old) * sizeof *r->times_ms);
    r->n -= old;
}

static void
rate_key(char *out, size_t size, const char *domain, const char *ip)
{
    snprintf(out, size, "%s %s", domain, ip);
}

/* Reserves one registration for key when the hour's budget allows it. */
static bool
rate_reserve(const char *key, unsigned per_hour)
{
    struct rate *r = hashmap_get(&reg.rates, key);
    if (r == NULL) {
        r = yb_calloc(1, sizeof *r);
        hashmap_set(&reg.rates, key, r);
    }
    rate_prune(r, clock_mono_ms());
    if (per_hour != 0 && r->n + r->pending >= per_hour)
        return false;
    r->pending++;
    return true;
}

static void
rate_release(const char *key, bool created)
{
    struct rate *r = hashmap_get(&reg.rates, key);
    if (r == NULL)
        return;
    if (r->pending > 0)
        r->pending--;
    if (created) {
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 4;
            r->times_ms = yb_realloc(r->times_ms, r->cap * sizeof *r->times_ms);
        }
        r->times_ms[r->n++] = clock_mono_ms();
    }
}

static void
rate_free(struct rate *r)
{
    if (r != NULL)
        yb_free(r->times_ms);
    yb_free(r);
}

/* Forgets addresses with nothing in the last hour, so the table stays small. */
static void
rate_sweep(void *ud)
{
    (void)ud;
    uint64_t now = clock_mono_ms();
    struct buf stale = BUF_INIT; /* NUL-separated keys */
    struct hashmap_iter it;
    const char *key;
    void *v;
    hashmap_iter_init(&it, &reg.rates);
    while (hashmap_iter_next(&it, &key, &v)) {
        struct rate *r = v;
        rate_prune(r, now);
        if (r->n == 0 && r->pending == 0)
            buf_append(&stale, key, strlen(key) + 1);
    }
    for (size_t off = 0; off < stale.len; off += strlen(stale.data + off) + 1)
        rate_free(hashmap_remove(&reg.rates, stale.data + off));
    buf_fini(&stale);
}

/* ---- the request's fields ---- */

struct reg_fields {
    struct dataform *form; /* when the client submitted a form */
    const char *username;  /* borrowed from the request or form; NULL if absent/empty */
    const char *password;
    bool remove;
    bool has_other; /* elements besides <remove/> */
};

static const char *
nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Reads the query: an XEP-0004 submission takes precedence over the plain fields
 * (XEP-0077 §4). Returns 0, or YB_EINVAL with *why set for a malformed form. */
static int
read_fields(struct xml_node *q, struct reg_fields *f, const char **why)
{
    memset(f, 0, sizeof *f);
    struct xml_node *x = NULL;
    for (struct xml_node *c = node_first_element(q); c; c = node_next_element(c)) {
        if (strcmp(c->name, "x") == 0 && strcmp(c->ns, NS_DATA) == 0)
            x = c;
        else if (strcmp(c->name, "remove") == 0 && strcmp(c->ns, NS_REGISTER) == 0)
            f->remove = true;
        else
            f->has_other = true;
    }
    if (x != NULL)
        f->has_other = true;
    if (x == NULL) {
        f->username = nonempty(node_child_text(q, "username", NS_REGISTER));
        f->password = nonempty(node_child_text(q, "password", NS_REGISTER));
        return 0;
    }
    f->form = dataform_parse(x, why);
    if (f->form == NULL)
        return YB_EINVAL;
    if (f->form->type != DATAFORM_SUBMIT) {
        *why = "expected a form of type submit";
        return YB_EINVAL;
    }
    f->username = dataform_value(f->form, "username");
    f->password = dataform_value(f->form, "password");
    return 0;
}

/* The form offered with the registration fields (XEP-0077 §4, §12.4.1). */
static struct dataform *
registration_form(void)
{
    struct dataform *f = dataform_new(DATAFORM_FORM);
    dataform_set_title(f, "Account registration");
    dataform_set_instructions(f, INSTRUCTIONS);
    dataform_set_form_type(f, NS_REGISTER);
    dataform_add_field(f, FIELD_TEXT_SINGLE, "username", "Username")->required = true;
    dataform_add_field(f, FIELD_TEXT_PRIVATE, "password", "Password")->required = true;
    return f;
}

/* ---- before authentication: registration ---- */

struct create_op {
    struct iq_request *req;
    char *domain, *node, *ip;
    char key[300];
};

static void
create_done(void *ud, int status)
{
    struct create_op *op = ud;
    rate_release(op->key, status == 0);
    switch (status) {
    case 0:
        log_info("register", "account %s@%s registered from %s", op->node, op->domain, op->ip);
        iq_reply_result(op->req);
        break;
    case YB_EEXIST:
        reply_error(op->req, SE_CONFLICT, "Username already in use");
        break;
    case YB_EINVAL:
        reply_error(op->req, SE_NOT_ACCEPTABLE, "Password not acceptable");
        break;
    default:
        log_warn("register", "registering %s@%s failed: %s", op->node, op->domain,
                 yb_strerror(status));
        reply_error(op->req, SE_INTERNAL_SERVER_ERROR, NULL);
        break;
    }
    yb_free(op->domain);
    yb_free(op->node);
    yb_free(op->ip);
    yb_free(op);
}

static enum hook_result
on_preauth_get(struct iq_request *req, void *ud)
{
    (void)ud;
    struct session *s = iq_request_session(req);
    if (!session_has_tls(s)) {
        reply_error(req, SE_NOT_AUTHORIZED, "Registration requires TLS");
        return HOOK_HANDLED;
    }
    /* XEP-0077 §3.1: a host that does not offer registration answers
     * service-unavailable. */
    if (!registration_allowed(session_domain(s), session_peer_ip(s)))
        return HOOK_PASS;

    struct stanza *res = iq_result_new(req, NULL);
    struct xml_node *q = node_add_child(stanza_root(res), "query", NS_REGISTER);
    node_add_text_child(q, "instructions", NS_REGISTER, INSTRUCTIONS);
    node_add_child(q, "username", NS_REGISTER);
    node_add_child(q, "password", NS_REGISTER);
    struct dataform *form = registration_form();
    dataform_to_xml(form, q);
    dataform_free(form);
    iq_reply(req, res);
    return HOOK_HANDLED;
}

static enum hook_result
on_preauth_set(struct iq_request *req, void *ud)
{
    (void)ud;
    struct session *s = iq_request_session(req);
    const char *domain = session_domain(s);
    const char *ip = session_peer_ip(s);
    const struct config_host *h = host_config(domain);
    struct reg_fields f;
    const char *why = NULL;

    if (!session_has_tls(s)) {
        reply_error(req, SE_NOT_AUTHORIZED, "Registration requires TLS");
        return HOOK_HANDLED;
    }
    if (h == NULL || !registration_allowed(domain, ip)) {
        reply_error(req, SE_NOT_ALLOWED, "Registration is not allowed");
        return HOOK_HANDLED;
    }
    if (read_fields(iq_request_payload(req), &f, &why) != 0) {
        reply_error(req, SE_BAD_REQUEST, why);
        goto done;
    }
    if (f.remove) {
        /* XEP-0077 §3.2: cancelling without being registered (no 'from'). */
        reply_error(req, SE_UNEXPECTED_REQUEST, "Not authenticated");
        goto done;
    }
    if (f.form != NULL) {
        struct dataform *offered = registration_form();
        int rc = dataform_validate(f.form, offered, false, &why);
        dataform_free(offered);
        if (rc != 0) {
            reply_error(req, SE_NOT_ACCEPTABLE, why);
            goto done;
        }
    }
    /* XEP-0077 §3.1: missing or empty fields get not-acceptable. */
    if (f.username == NULL || f.password == NULL) {
        reply_error(req, SE_NOT_ACCEPTABLE, "Username and password are required");
        goto done;
    }
    char *node = jid_nodeprep(f.username);
    if (node == NULL) {
        reply_error(req, SE_NOT_ACCEPTABLE, "Invalid username");
        goto done;
    }
    if (is_reserved(domain, node)) {
        log_info("register", "refused reserved username %s@%s from %s", node, domain, ip);
        reply_error(req, SE_NOT_ACCEPTABLE, "Username is reserved");
        yb_free(node);
        goto done;
    }
    struct create_op *op = yb_calloc(1, sizeof *op);
    rate_key(op->key, sizeof op->key, domain, ip);
    if (!rate_reserve(op->key, h->registrations_per_hour)) {
        log_info("register", "registration limit reached for %s on %s", ip, domain);
        reply_error(req, SE_RESOURCE_CONSTRAINT, "Too many registrations; try again later");
        yb_free(op);
        yb_free(node);
        goto done;
    }
    op->req = req;
    op->domain = yb_strdup(domain);
    op->node = node;
    op->ip = yb_strdup(ip);
    iq_request_keep(req);
    account_create(domain, node, f.password, create_done, op);
done:
    dataform_free(f.form);
    return HOOK_HANDLED;
}

/* ---- authenticated: status, password change, removal ---- */

/* The account the request is about, when the sender may manage it: its own account
 * on its own server, from a local session (IQ_TO_BARE from self, or IQ_TO_HOST of
 * its own domain). */
static const struct jid *
own_account(struct iq_request *req)
{
    const struct jid *from = iq_request_from(req);
    const struct jid *to = iq_request_to(req);
    if (from == NULL || from->node == NULL || iq_request_session(req) == NULL)
        return NULL;
    if (to != NULL && to->node == NULL && strcmp(to->domain, from->domain) != 0)
        return NULL;
    if (to != NULL && to->node != NULL && !iq_request_from_self(req))
        return NULL;
    return from;
}

static enum hook_result
on_auth_get(struct iq_request *req, void *ud)
{
    (void)ud;
    const struct jid *me = own_account(req);
    if (me == NULL)
        return HOOK_PASS; /* service-unavailable: nothing to register with here */
    /* XEP-0077 §3.1: already registered. */
    struct stanza *res = iq_result_new(req, NULL);
    struct xml_node *q = node_add_child(stanza_root(res), "query", NS_REGISTER);
    node_add_child(q, "registered", NS_REGISTER);
    node_add_text_child(q, "instructions", NS_REGISTER,
                        "You are registered. Send a new password to change it, or <remove/> "
                        "to delete your account.");
    node_add_text_child(q, "username", NS_REGISTER, me->node);
    node_add_child(q, "password", NS_REGISTER);
    iq_reply(req, res);
    return HOOK_HANDLED;
}

struct account_op {
    struct iq_request *req;
    char *bare;
};

static void
password_done(void *ud, int status)
{
    struct account_op *op = ud;
    if (status == 0) {
        log_info("register", "password changed for %s", op->bare);
        iq_reply_result(op->req);
    } else if (status == YB_EINVAL) {
        reply_error(op->req, SE_NOT_ACCEPTABLE, "Password not acceptable");
    } else {
        log_warn("register", "password change for %s failed: %s", op->bare, yb_strerror(status));
        reply_error(op->req, SE_INTERNAL_SERVER_ERROR, NULL);
    }
    yb_free(op->bare);
    yb_free(op);
}

static void
remove_done(void *ud, int status)
{
    char *bare = ud;
    if (status == 0)
        log_info("register", "account %s removed itself", bare);
    else
        log_warn("register", "removing account %s failed: %s", bare, yb_strerror(status));
    yb_free(bare);
}

/* True when the <username/> of a password change names the sender's account: the
 * localpart, or the bare JID as in XEP-0077 §3.3's form example. */
static bool
names_account(const char *username, const struct jid *me)
{
    char *node = jid_nodeprep(username);
    bool same = node != NULL && strcmp(node, me->node) == 0;
    yb_free(node);
    if (!same) {
        char *bare = jid_normalize(username);
        same = bare != NULL && strcmp(bare, me->bare) == 0;
        yb_free(bare);
    }
    return same;
}

static enum hook_result
on_auth_set(struct iq_request *req, void *ud)
{
    (void)ud;
    const struct jid *me = own_account(req);
    struct reg_fields f;
    const char *why = NULL;

    if (me == NULL) {
        reply_error(req, SE_FORBIDDEN, NULL); /* XEP-0077 §3.2 */
        return HOOK_HANDLED;
    }
    if (read_fields(iq_request_payload(req), &f, &why) != 0) {
        reply_error(req, SE_BAD_REQUEST, why);
        goto done;
    }
    if (f.remove) {
        /* §3.2: <remove/> must be the only child. */
        if (f.has_other) {
            reply_error(req, SE_BAD_REQUEST, "<remove/> must be alone");
            goto done;
        }
        /* §3.2: the result first, then the sessions end with not-authorized
         * (account_delete() closes them before deleting). */
        char *bare = yb_strdup(me->bare);
        char *node = yb_strdup(me->node), *domain = yb_strdup(me->domain);
        iq_reply_result(req);
        account_delete(domain, node, remove_done, bare);
        yb_free(node);
        yb_free(domain);
        goto done;
    }
    if (f.form != NULL) {
        const char *ft = dataform_form_type(f.form);
        if (ft != NULL && strcmp(ft, NS_REGISTER_CHANGE) != 0 && strcmp(ft, NS_REGISTER) != 0) {
            reply_error(req, SE_BAD_REQUEST, "Unexpected FORM_TYPE");
            goto done;
        }
    }
    /* §3.3: a change must carry a non-empty password; the old one is kept otherwise. */
    if (f.password == NULL) {
        reply_error(req, SE_BAD_REQUEST, "A new password is required");
        goto done;
    }
    if (f.username != NULL && !names_account(f.username, me)) {
        reply_error(req, SE_FORBIDDEN, "You can only change your own password");
        goto done;
    }
    if (!session_has_tls(iq_request_session(req))) {
        reply_error(req, SE_NOT_AUTHORIZED, "Password changes require TLS");
        goto done;
    }
    struct account_op *op = yb_calloc(1, sizeof *op);
    op->req = req;
    op->bare = yb_strdup(me->bare);
    iq_request_keep(req);
    account_set_password(me->domain, me->node, f.password, password_done, op);
done:
    dataform_free(f.form);
    return HOOK_HANDLED;
}

/* ---- stream feature ---- */

static enum hook_result
on_stream_features(struct event *ev, void *ud)
{
    (void)ud;
    if (ev->session == NULL)
        return HOOK_PASS;
    /* XEP-0077 §8: offered to clients that may register, here only over TLS. */
    if (!ev->authenticated && ev->tls &&
        registration_allowed(session_domain(ev->session), session_peer_ip(ev->session)))
        node_add_child(ev->reply, "register", NS_REGISTER_FEATURE);
    return HOOK_PASS;
}

static int
register_load(struct module *m)
{
    reg.m = m;
    hashmap_init(&reg.rates);
    int rc = module_add_feature(m, NS_REGISTER);
    if (rc == 0)
        rc = module_hook(m, EV_STREAM_FEATURES, 0, on_stream_features, NULL);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_PREAUTH, NS_REGISTER, "query", on_preauth_get, NULL);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_SET, IQ_PREAUTH, NS_REGISTER, "query", on_preauth_set, NULL);
    for (int t = IQ_TO_HOST; rc == 0 && t <= IQ_TO_BARE; t++) {
        rc = module_hook_iq(m, IQ_GET, (enum iq_target)t, NS_REGISTER, "query", on_auth_get, NULL);
        if (rc == 0)
            rc = module_hook_iq(m, IQ_SET, (enum iq_target)t, NS_REGISTER, "query", on_auth_set,
                                NULL);
    }
    if (rc == 0)
        reg.sweep = module_timer_start(m, RATE_SWEEP_MS, rate_sweep, NULL);
    return rc;
}

static void
register_unload(struct module *m)
{
    (void)m;
    module_timer_stop(reg.sweep);
    reg.sweep = NULL;
    struct hashmap_iter it;
    void *v;
    hashmap_iter_init(&it, &reg.rates);
    while (hashmap_iter_next(&it, NULL, &v))
        rate_free(v);
    hashmap_fini(&reg.rates);
}

MODULE_DEFINE(register,
              .summary = "In-Band Registration: account creation, password change, removal",
              .xeps = "0077@2.5",
              .notes = "Only over TLS. Policy per host: registration closed (default), open or "
                       "networks; reserved_usernames plus built-in names (abuse, admin, "
                       "administrator, hostmaster, noc, postmaster, root, security, support, "
                       "webmaster, xmpp) get not-acceptable; registrations_per_hour per source "
                       "address gets resource-constraint. Registration accepts the plain fields "
                       "or an XEP-0004 form (FORM_TYPE jabber:iq:register). <remove/> answers "
                       "the result before the account's sessions end; a storage failure after "
                       "that is only logged.",
              .load = register_load, .unload = register_unload);
