/* SPDX-License-Identifier: MIT
 *
 * server.h: the core's own state and the functions its files share (not for
 * modules: they use module_api.h). The core thread owns all of it; nothing here is
 * locked. One struct server per process.
 */
#ifndef YB_SERVER_SERVER_H
#define YB_SERVER_SERVER_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "conn.h"
#include "hashmap.h"
#include "list.h"
#include "module_api.h"
#include "net.h"
#include "scram.h"

/* A served domain. Settings are copied from the config so that a reload can free
 * the old config while sessions still point at their host. */
struct host {
    char *domain;
    size_t offline_quota;
    size_t max_resources;
    enum config_conflict conflict;
    bool removed; /* dropped from the config by a reload: no new streams */
};

enum c2s_state {
    C2S_WAIT_HEADER, /* nothing yet, or after a restart */
    C2S_NEGOTIATING, /* features sent, before TLS/SASL finished */
    C2S_TLS_HANDSHAKE,
    C2S_SASL,          /* an exchange in progress */
    C2S_AUTHENTICATED, /* authenticated, expecting the restarted stream and bind */
    C2S_BOUND,         /* resource bound: a session */
    C2S_CLOSING,
};

struct sasl_exchange;

/* Stanzas a client may pipeline behind its bind request. */
#define C2S_MAX_HELD 16

/* The stanzas_per_second and bytes_per_second token buckets (c2s.c). An account's
 * sessions share one, which outlives them until it is full again, so reconnecting
 * does not refill it. */
struct rate_bucket {
    double stanza_tokens;
    double byte_tokens;
    uint64_t rate_ms; /* when last refilled */
    unsigned users;   /* sessions drawing on it (account buckets) */
};

struct session {
    unsigned long id;
    char who[24]; /* "c2s#12" for logs */
    struct conn *conn;
    struct host *host;
    enum c2s_state state;
    bool tls;
    bool header_sent;
    bool authenticated;
    bool available;
    bool interested;
    bool closing;
    bool tls13;
    bool binding; /* a bind request is being processed */
    /* Stanzas the client sent after its bind request, before the (asynchronous) bind
     * finished: handled in order once it has (c2s.c). */
    struct stanza *held[C2S_MAX_HELD];
    unsigned n_held;
    unsigned sasl_failures;
    int priority;
    char stream_id[17];
    char *username;  /* after SASL */
    struct jid *jid; /* after bind */
    struct user *user;
    struct stanza *presence;
    struct hashmap directed; /* JID -> (void *)1 */
    struct sasl_exchange *sasl;
    unsigned char exporter[32];
    size_t exporter_len;
    unsigned char end_point[64];
    size_t end_point_len;
    unsigned char unique[64];
    size_t unique_len;
    uv_timer_t *auth_timer;
    uint64_t last_active_ms; /* uv_now when the client last sent a stanza */
    /* c2s.c: limits. */
    bool counted_unauth;        /* counted in the unauthenticated streams */
    bool counted_address;       /* counted in its source address's connections */
    struct rate_bucket *bucket; /* &own before authentication, then the account's */
    struct rate_bucket own;
    struct list_node unauth_link; /* c2s.c's unauthenticated streams, oldest first */
    uint64_t bytes_seen;          /* conn_bytes_received() at the last check */
    int64_t started_us;           /* when bound */
    void **module_data;           /* n_modules slots, allocated on first use */
    struct list_node link;        /* server.streams */
    struct list_node user_link;   /* user.sessions */
    int refs;                     /* pending async operations hold the struct */
};

struct user {
    char *bare;
    char *node;
    struct host *host;
    bool loaded;
    bool exists;
    bool loading;
    int refs;
    uint64_t roster_ver;
    char ver_str[24];
    struct hashmap roster; /* contact bare JID -> struct roster_item */
    struct hashmap *maps;  /* preloaded stores: one hashmap per srv->preload entry */
    struct list_node sessions;
    size_t n_sessions;
    struct list_node waiters;
};

struct server_stats {
    uint64_t stanzas_routed;
    uint64_t logins;
    uint64_t auth_failures;
    uint64_t connections;
    /* Refusals by limit (docs/config.md "Limits"), shown by yerbactl stats. */
    uint64_t refused_address_connections;  /* max_connections_per_address */
    uint64_t refused_connection_rate;      /* connections_per_minute / connection_burst */
    uint64_t refused_unauthenticated;      /* max_unauthenticated_streams (per-address share) */
    uint64_t evicted_unauthenticated;      /* ... the oldest closed to make room */
    uint64_t refused_account_blocked;      /* logins refused while an account is blocked */
    uint64_t accounts_blocked;             /* blocks started (account_max_failures) */
    uint64_t closed_stanza_rate;           /* stanzas_per_second / stanza_burst */
    uint64_t closed_byte_rate;             /* bytes_per_second / byte_burst */
    uint64_t closed_parser_limit;          /* stanza size, depth, attributes, header size */
    uint64_t closed_output_overflow;       /* max_output_size */
    uint64_t refused_resources;            /* max_resources */
    uint64_t module_counters[STAT__COUNT]; /* enum stat_counter, bumped by modules */
    int64_t started_us;
};

struct hook_entry;
struct module;

struct server {
    uv_loop_t *loop;
    struct config *cfg;
    unsigned config_generation; /* bumped by every successful reload */
    struct net *net;
    struct storage *storage;
    struct hashmap hosts; /* domain -> struct host */
    struct hashmap users; /* bare JID -> struct user (loaded accounts) */
    struct list_node streams;
    size_t n_streams;
    size_t n_sessions;
    unsigned long next_id;
    struct server_stats stats;
    struct list_node hooks[EV__COUNT];
    struct hashmap iq_handlers; /* "get|bare|ns|name" -> struct iq_handler */
    struct list_node modules;
    struct hashmap features;     /* ns -> module */
    struct list_node identities; /* struct disco_identity, module.c */
    size_t n_modules;
    char **preload; /* map stores loaded with every account (user.c) */
    size_t n_preload;
    struct hashmap auth_failures; /* ip -> struct auth_penalty */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t housekeeping; /* once a second; every 20 ms while stopping */
    uint64_t stop_deadline_ms;
    bool stopping;
};

extern struct server *srv;

/* server.c */
int server_init(struct server *s, uv_loop_t *loop, struct config *cfg);
int server_start(struct server *s);
void server_stop(struct server *s);
void server_fini(struct server *s);
/* Re-reads the config file; returns 0, or an error with messages in err. */
int server_reload(struct server *s, struct buf *err);
struct host *server_find_host(const char *domain);
/* Hosts without a configured certificate get <data_dir>/certs/<domain>.crt/.key,
 * generated (self-signed) when missing. Returns 0 or -1 (logged). */
int server_prepare_certificates(struct config *cfg);

/* c2s.c */
const struct conn_handler *c2s_accept(void *ud, struct conn *c, void **conn_ud);
/* Sends a stream error and closes. text may be NULL. */
void c2s_stream_error(struct session *s, enum stream_error_cond cond, const char *text);
/* Closes with </stream:stream> (and optionally a stream error first). */
void c2s_close(struct session *s);
/* Once a second: prunes login-failure penalties, etc. */
void c2s_housekeeping(void);
void c2s_fini(void);
/* The stream authenticated: it no longer counts as unauthenticated. */
void c2s_authenticated(struct session *s);

/* The stream error that answers a parser error (RFC 6120 §4.9.3), for c2s, s2s and
 * component streams alike. */
enum stream_error_cond parse_error_condition(enum parser_error err);

/* sasl.c: the SASL exchange of a c2s stream (RFC 6120 §6) */
void sasl_handle(struct session *s, struct stanza *st);
/* Abandons an exchange in progress (the stream closed). */
void sasl_cancel(struct session *s);
void sasl_prune_penalties(void);
void sasl_fini(void);

/* session.c */
struct session *session_new(struct conn *c);
void session_ref(struct session *s);
void session_unref(struct session *s);
/* Registers a bound session with its user. Returns 0 or YB_ELIMIT. */
int session_bind(struct session *s, struct user *u, const char *resource);
/* Unregisters a bound session (fires SESSION_CLOSED). */
void session_unbind(struct session *s);
struct session *session_find(const struct jid *full);

/* user.c */
void user_table_init(void);
void user_table_fini(void);
struct user *user_find_loaded(const char *bare);

/* router.c */
void router_from_session(struct session *s, struct stanza *st);
/* component.c: if domain belongs to a connected external component, sends st to it
 * and returns true (consumes st); false otherwise (st untouched). */
bool component_deliver(const char *domain, struct stanza *st);
/* component.c: the net_accept_fn of component listeners (XEP-0114). */
const struct conn_handler *component_accept(void *ud, struct conn *c, void **conn_ud);
/* Components with an authenticated stream now. */
size_t component_connected_count(void);
/* yerbactl components: one line per configured component, TAB-separated: domain,
 * connected|disconnected, [peer ip]:port of the last connection (or -), stanzas
 * received from it and sent to it since the server started. */
void component_admin_list(struct buf *out);
/* Shutdown: every component stream gets system-shutdown. */
void component_stop(void);
void component_fini(void);

/* s2s.c: sends st to the remote domain to->domain over an outgoing server-to-server
 * link (queued while the link is set up), or bounces it with an error. Consumes: st
 * and to. */
void s2s_route(struct stanza *st, struct jid *to);
/* The net_accept_fn of s2s listeners. */
const struct conn_handler *s2s_accept(void *ud, struct conn *c, void **conn_ud);
/* Once a second: setup and idle deadlines. */
void s2s_housekeeping(void);
/* Incoming streams and outgoing links with a connection. */
size_t s2s_open_streams(void);
/* Shutdown: every s2s stream is closed; links being set up bounce their stanzas. */
void s2s_stop(void);
void s2s_fini(void);
/* For yerbactl s2s: one TAB-separated line per link or stream. */
void s2s_admin_list(struct buf *out);

/* The RFC 6121 §8.5.2 decision for a message to a bare JID, separate from the
 * sessions so it can be tested alone. */
struct route_candidate {
    bool available;
    int priority;
};
enum route_action {
    ROUTE_DELIVER, /* to the candidates marked in chosen */
    ROUTE_OFFLINE, /* nobody available: offline storage (or an error) */
    ROUTE_ERROR,   /* service-unavailable to the sender */
    ROUTE_DROP,    /* silently ignored */
};
/* type: the message's type attribute ("" when absent). chosen: n entries. */
enum route_action route_pick(const char *type, const struct route_candidate *c, size_t n,
                             bool *chosen);

/* iq.c */
void iq_dispatch(struct stanza *st, struct session *origin, const struct jid *from,
                 const struct jid *to, enum iq_target target, struct user *target_user);
void iq_table_fini(void);
/* True when st is an iq get/set that a module handles before authentication. */
bool iq_has_preauth_handler(const struct stanza *st);
/* For module.c: registers a handler and returns its key (to unregister). */
int iq__register(struct module *m, enum iq_type t, enum iq_target target, const char *ns,
                 const char *name, iq_fn fn, void *ud, char **key_out);
void iq__unregister(const char *key);

/* module.c */
size_t module__index(const struct module *m);
int modules_load_all(void);
void modules_unload_all(void);
/* Every built-in module's definition, in load order, without loading any (for
 * yerbad --list-xeps). */
void module_defs_foreach(void (*fn)(void *ud, const struct module_def *def), void *ud);

/* xeps.c: docs/xeps.md, generated from the built-in modules' definitions */
/* Writes the Markdown page listing every supported XEP. Returns 0 or -1 on a
 * malformed .xeps entry (reported on stderr). */
int xeps_write_markdown(FILE *out);

/* auth.c: credentials off the core thread */
typedef void (*auth_keys_fn)(void *ud, int status, const struct scram_keys *keys);
void auth_get_keys(const char *domain, const char *node, enum scram_hash h, auth_keys_fn fn,
                   void *ud);
typedef void (*auth_check_fn)(void *ud, int status);
void auth_check_plain(const char *domain, const char *node, const char *password, auth_check_fn fn,
                      void *ud);
/* Creates or updates an account's credentials (all hashes). create: fail with
 * YB_EEXIST when it exists; otherwise fail with YB_ENOENT when it does not. */
void auth_set_password(const char *domain, const char *node, const char *password, bool create,
                       auth_check_fn fn, void *ud);
void auth_delete_user(const char *domain, const char *node, auth_check_fn fn, void *ud);
/* Synchronous variants for yerbactl and first run (the caller's own db). */
int auth_set_password_sync(struct db *db, const char *domain, const char *node,
                           const char *password, unsigned iterations, bool create);

/* Ends every session of an account with a stream error. */
void user_end_sessions(const char *bare, enum stream_error_cond cond, const char *text);
/* Index of a preloaded store, or -1. */
int user__preload_index(const char *store);

/* admin.c */
int admin_start(const char *path);
void admin_stop(void);

#endif
