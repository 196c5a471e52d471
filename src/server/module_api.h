/* SPDX-License-Identifier: MIT
 *
 * module_api.h: everything a module may use (DESIGN.md §4). A module is one
 * mod_<name>.c with a MODULE_DEFINE table; it registers hooks and iq handlers from
 * its load function through its struct module, and the loader removes them all when
 * the module unloads. Modules never see struct session or struct user internals.
 * Everything here is core thread only.
 */
#ifndef YB_SERVER_MODULE_API_H
#define YB_SERVER_MODULE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "error.h"
#include "hashmap.h"
#include "jid.h"
#include "log.h"
#include "stanza.h"
#include "storage.h"
#include "xmpp_error.h"

#define NS_CLIENT  "jabber:client"
#define NS_ROSTER  "jabber:iq:roster"
#define NS_DELAY   "urn:xmpp:delay"
#define NS_BIND    "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_SASL    "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_TLS     "urn:ietf:params:xml:ns:xmpp-tls"

struct module;
struct session;
struct user;

/* ---- modules ---- */

struct module_def {
    const char *name;
    const char *summary;
    /* The XEPs implemented, with the version followed: "0199@2.0.1" or
     * "0030@2.5rc3,0128@1.0"; "" for RFC-only modules. docs/xeps.md and the
     * server's disco#info are generated from these. */
    const char *xeps;
    const char *notes; /* known deviations or limits, for docs/xeps.md; may be NULL */
    int (*load)(struct module *m);
    void (*unload)(struct module *m);
};

/* Defines the module's table; the list of built-in modules is in server/module.c. */
#define MODULE_DEFINE(id, ...) const struct module_def module_##id = {.name = #id, __VA_ARGS__}

/* Borrowed: the module's name. */
const char *module_name(const struct module *m);

/* ---- events and hooks ---- */

enum hook_result {
    HOOK_PASS,    /* not mine: try the next handler */
    HOOK_HANDLED, /* done: stop */
};

enum event_id {
#define EVENT(name, summary) EV_##name,
#include "events.def"
#undef EVENT
    EV__COUNT
};

struct event {
    enum event_id id;
    struct session *session; /* the session concerned, or NULL */
    struct user *user;       /* the local account concerned, or NULL */
    struct stanza *stanza;   /* borrowed; may be NULL */
    const struct jid *from;  /* stanza's from (stamped), or NULL */
    const struct jid *to;    /* stanza's to, or NULL */
    /* DISCO_INFO, DISCO_ITEMS: the <query/> being built, and the node asked for
     * (NULL for none). STREAM_FEATURES: the <stream:features/> being built. */
    struct xml_node *reply;
    const char *node;
    /* STREAM_FEATURES: whether the stream is authenticated / encrypted. */
    bool authenticated;
    bool tls;
};

typedef enum hook_result (*hook_fn)(struct event *ev, void *ud);

/* Registers fn for ev; higher priority runs first. Returns 0 or YB_ENOMEM. */
int module_hook(struct module *m, enum event_id ev, int priority, hook_fn fn, void *ud);
/* Runs the handlers of ev until one returns HOOK_HANDLED. Returns what the last
 * handler returned (HOOK_PASS when none handled it). */
enum hook_result event_fire(struct event *ev);

/* ---- iq handlers ---- */

enum iq_type { IQ_GET, IQ_SET };
enum iq_target {
    IQ_TO_HOST, /* to a local domain */
    IQ_TO_BARE, /* to an account's bare JID, or no 'to' from one of its sessions */
    IQ_PREAUTH, /* on a c2s stream before authentication (over TLS only), e.g.
                   XEP-0077 registration; iq_request_from() is NULL */
};

struct iq_request;
typedef enum hook_result (*iq_fn)(struct iq_request *req, void *ud);

/* Registers fn for iqs of type t to target whose payload is <name xmlns=ns/>.
 * Returns 0, YB_EEXIST (someone else has it) or YB_ENOMEM. */
int module_hook_iq(struct module *m, enum iq_type t, enum iq_target target, const char *ns,
                   const char *name, iq_fn fn, void *ud);
/* Adds a service discovery feature of the server. Returns 0 or YB_ENOMEM. */
int module_add_feature(struct module *m, const char *ns);

/* Borrowed, valid until the request is answered. */
struct stanza *iq_request_stanza(const struct iq_request *req);
struct xml_node *iq_request_payload(const struct iq_request *req);
const struct jid *iq_request_from(const struct iq_request *req);
const struct jid *iq_request_to(const struct iq_request *req); /* NULL: no 'to' */
/* The sending session when it is local, else NULL. */
struct session *iq_request_session(const struct iq_request *req);
/* True when the sender's bare JID is the account the iq is addressed to (or the
 * iq had no 'to'). */
bool iq_request_from_self(const struct iq_request *req);
/* Keeps the request past the handler's return (answer it later, e.g. from a
 * storage callback). Without this, a handler must answer before returning. */
void iq_request_keep(struct iq_request *req);
/* A new result iq for req with a copy of payload (may be NULL) as child; send it
 * with iq_reply(). Returns: new reference. */
struct stanza *iq_result_new(const struct iq_request *req, const struct xml_node *payload);
/* Answers and releases req. Consumes: reply. */
void iq_reply(struct iq_request *req, struct stanza *reply);
/* Shortcuts: answer with an empty result / an error, and release req. */
void iq_reply_result(struct iq_request *req);
void iq_reply_error(struct iq_request *req, enum stanza_error_cond c, const char *text);

/* The stanza's type attribute, or "" when it has none. Borrowed. */
static inline const char *
stanza_type_of(const struct stanza *st)
{
    const char *t = stanza_attr(st, "type");
    return t ? t : "";
}

/* ---- routing ---- */

/* Routes a stanza whose 'from' is set, by RFC 6120 §10 and RFC 6121 §8 rules.
 * Consumes: st. */
void route(struct stanza *st);
/* Routes the error reply to orig (unless orig is itself an error). Borrowed: orig. */
void route_error(const struct stanza *orig, enum stanza_error_cond c, const char *text);
/* Delivers a stanza to the account's bare JID as if it arrived from outside: the
 * message rules of RFC 6121 §8.5.2 (used to deliver stored messages). Consumes: st. */
void route_to_sessions_of(struct user *u, struct stanza *st);
/* True if domain is served here. */
bool host_is_local(const char *domain);
/* Per-host settings: offline quota (0 = off). */
size_t host_offline_quota(const char *domain);

/* ---- sessions ---- */

/* Sends to one session. Consumes: st. */
void session_send(struct session *s, struct stanza *st);
/* Borrowed: the session's full JID. */
const struct jid *session_jid(const struct session *s);
struct user *session_user(const struct session *s);
/* True after initial presence and before unavailable. */
bool session_is_available(const struct session *s);
int session_priority(const struct session *s);
/* True once the session asked for the roster (it then gets roster pushes and
 * subscription requests, RFC 6121 §2.1.6 and §3.1.3). */
bool session_is_interested(const struct session *s);
void session_set_interested(struct session *s);
/* Borrowed: the last available presence the session broadcast, or NULL. */
struct stanza *session_presence(const struct session *s);
/* Records the session's broadcast presence (NULL when unavailable) and priority.
 * Consumes: presence. */
void session_set_presence(struct session *s, struct stanza *presence, int priority);
/* Directed presence bookkeeping (RFC 6121 §4.6): remembers/forgets a JID that got
 * directed available presence from this session. */
void session_add_directed(struct session *s, const char *jid);
void session_remove_directed(struct session *s, const char *jid);
/* Calls fn for each remembered JID. */
void session_foreach_directed(struct session *s, void (*fn)(void *ud, const char *jid), void *ud);

/* ---- accounts (local users) ---- */

/* Borrowed strings. */
const char *user_bare(const struct user *u);
const char *user_node(const struct user *u);
const char *user_domain(const struct user *u);
/* Session iteration: all bound sessions of the account. */
struct session *user_first_session(const struct user *u);
struct session *user_next_session(const struct user *u, const struct session *s);
bool user_has_available(const struct user *u);

/* Loads an account with its roster (from cache or storage) and calls fn. u is
 * NULL when the account does not exist (status YB_ENOENT) or storage failed
 * (YB_EIO). u is held during fn; user_hold()/user_release() to keep it longer.
 * fn may run before user_acquire returns when the account is cached. */
typedef void (*user_fn)(struct user *u, int status, void *ud);
void user_acquire(const char *domain, const char *node, user_fn fn, void *ud);
void user_hold(struct user *u);
void user_release(struct user *u);

/* ---- roster (RFC 6121 §2, §3) ---- */

enum roster_sub { SUB_NONE, SUB_TO, SUB_FROM, SUB_BOTH };

struct roster_item {
    char *jid; /* bare JID of the contact */
    char *name;
    char **groups;
    size_t n_groups;
    enum roster_sub sub;
    bool ask;             /* pending out: we asked to subscribe to the contact */
    bool approved;        /* pre-approved subscription (RFC 6121 §3.4) */
    bool in_roster;       /* false: only a pending-in request is recorded */
    bool pending_in;      /* the contact asked to subscribe to us */
    char *pending_stanza; /* the stored request (serialised) when pending_in */
};

/* The contact is subscribed to our presence (from, both) / we to theirs (to, both).
 * NULL items have no subscription. */
static inline bool
roster_item_has_from(const struct roster_item *it)
{
    return it != NULL && (it->sub == SUB_FROM || it->sub == SUB_BOTH);
}

static inline bool
roster_item_has_to(const struct roster_item *it)
{
    return it != NULL && (it->sub == SUB_TO || it->sub == SUB_BOTH);
}

/* Borrowed: the item for contact (bare JID), or NULL. */
struct roster_item *roster_find(struct user *u, const char *contact);
/* Returns the item for contact, creating an empty one (not in roster). */
struct roster_item *roster_ensure(struct user *u, const char *contact);
/* Iteration over every item (including pending-only ones). */
struct roster_item *roster_next(struct user *u, size_t *pos);
/* Items in u's roster: with in_only, those in the roster proper; otherwise every
 * item kept for u, pending subscription requests included. */
size_t roster_count(struct user *u, bool in_only);
/* The current roster version string. Borrowed. */
const char *roster_version(const struct user *u);
/* Persists item (or deletes it when it is empty: not in roster and not pending),
 * bumps the version, and when push is set sends a roster push to every interested
 * session (RFC 6121 §2.1.6). Frees the item when deleted. */
void roster_commit(struct user *u, struct roster_item *item, bool push);
/* Appends <item/> for it to parent (subscription, ask, name, groups). */
void roster_item_to_xml(const struct roster_item *it, struct xml_node *parent, bool removed);
const char *roster_sub_name(enum roster_sub s);

/* ---- storage ---- */

/* Queues a storage request (see storage.h). Returns 0 or YB_ECLOSED. */
int module_storage_submit(struct storage_req *req);

/* ---- refusal counters (yerbactl stats) ---- */

enum stat_counter {
    STAT_REFUSED_ROSTER_ITEMS,  /* max_roster_items: roster sets and subscriptions refused */
    STAT_REFUSED_SUBSCRIPTIONS, /* max_roster_items: inbound requests not stored */
    STAT__COUNT,
};
/* Counts one refusal; shown by yerbactl stats. */
void stats_bump(enum stat_counter c);
/* A refusal happened under some limit; returns true when it should be logged (the
 * first of a burst: none in the previous minute) and sets *suppressed to the number of
 * refusals not logged since the previous line. b is the caller's state. */
struct limit_burst {
    uint64_t last_ms;
    uint64_t suppressed;
};
bool limit_burst_log(struct limit_burst *b, uint64_t *suppressed);

/* ---- configuration ---- */

/* The settings of a served domain, or NULL. Borrowed: valid until the next reload
 * (look it up when needed; do not keep it). */
const struct config_host *host_config(const char *domain);
/* The server-wide settings. Borrowed likewise. */
const struct config *server_config(void);
/* Changes whenever the configuration is reloaded: what a module derived from the
 * settings (and cached) is stale once this differs from the value it was built at. */
unsigned server_config_generation(void);
/* True if bare_jid is listed in the host's admins. */
bool host_is_admin(const char *domain, const char *bare_jid);
/* Calls fn for every served domain. */
void host_foreach(void (*fn)(void *ud, const char *domain), void *ud);

/* ---- what the server offers (service discovery, docs/xeps.md) ---- */

/* Adds an identity of the server (XEP-0030: category/type/name). Returns 0. */
int module_add_identity(struct module *m, const char *category, const char *type, const char *name);
void server_foreach_feature(void (*fn)(void *ud, const char *ns), void *ud);
void server_foreach_identity(void (*fn)(void *ud, const char *category, const char *type,
                                        const char *name),
                             void *ud);
/* Every loaded module's definition, in load order. */
void modules_foreach(void (*fn)(void *ud, const struct module_def *def), void *ud);

/* ---- accounts ---- */

/* Status callbacks get 0 or a YB_E* code. */
typedef void (*account_fn)(void *ud, int status);
/* Creates an account (SCRAM keys derived off the core thread): 0, YB_EEXIST, YB_EINVAL
 * (password refused by SASLprep), YB_EIO. */
void account_create(const char *domain, const char *node, const char *password, account_fn fn,
                    void *ud);
/* Changes a password: 0, YB_ENOENT, YB_EINVAL, YB_EIO. */
void account_set_password(const char *domain, const char *node, const char *password, account_fn fn,
                          void *ud);
/* Ends the account's sessions (stream error not-authorized, "account deleted") and
 * deletes it with all its data: 0, YB_ENOENT, YB_EIO. */
void account_delete(const char *domain, const char *node, account_fn fn, void *ud);
/* Counts the accounts of domain (all domains when NULL) in storage; fn gets 0 and the
 * count, or an error and 0. */
void account_count(const char *domain, void (*fn)(void *ud, int status, long n), void *ud);

/* ---- server-wide session access ---- */

/* Calls fn for every bound session (of domain, or all when domain is NULL). fn must
 * not end sessions; collect them first. */
void session_foreach(const char *domain, void (*fn)(void *ud, struct session *s), void *ud);
size_t server_session_count(const char *domain);
/* Sends a stream error and closes the stream. */
void session_close_error(struct session *s, enum stream_error_cond c, const char *text);
/* Borrowed. */
const char *session_peer_ip(const struct session *s);
/* True when the stream is encrypted. */
bool session_is_tls(const struct session *s);
/* The session's domain (also before authentication). */
const char *session_domain(const struct session *s);
/* Milliseconds since the client last sent a stanza. */
uint64_t session_idle_ms(const struct session *s);
/* Microseconds since the epoch when the session was bound. */
int64_t session_started_us(const struct session *s);
/* Per-module data on a session. The module frees it (e.g. on SESSION_CLOSED). */
void *session_get_data(const struct session *s, const struct module *m);
void session_set_data(struct session *s, const struct module *m, void *data);

/* ---- per-account stores kept in memory ---- */

/* Declares a map store loaded with every account (before user_acquire's callback
 * runs), e.g. a blocklist. Call from load. Returns 0 or YB_EEXIST. */
int module_preload_map(struct module *m, const char *store);
/* The loaded entries of a declared store (key -> NUL-terminated value string), or
 * NULL if store was not declared. Borrowed. */
const struct hashmap *user_map(const struct user *u, const char *store);
/* Sets (value non-NULL) or deletes (NULL) a key, in memory now and in storage
 * through the worker. */
void user_map_set(struct user *u, const char *store, const char *key, const char *value);
/* The account if it is loaded now (it has a session or is being used), else NULL. */
struct user *user_find(const char *bare);

/* ---- timers ---- */

struct module_timer;
typedef void (*module_timer_fn)(void *ud);
/* Calls fn(ud) every interval_ms (> 0) on the core thread until stopped; the timer
 * does not keep the server running. Returns: the timer (never NULL). A module stops
 * its timers in its unload function. */
struct module_timer *module_timer_start(struct module *m, uint64_t interval_ms, module_timer_fn fn,
                                        void *ud);
/* Stops and frees t (accepts NULL); fn is not called again. */
void module_timer_stop(struct module_timer *t);

/* ---- misc ---- */

/* A fresh random id for server-generated stanzas (16 characters). out: 17 bytes. */
void server_random_id(char out[17]);

#endif
