/* SPDX-License-Identifier: MIT
 *
 * config.h: the server's configuration, read from one YAML file (libyaml). Every
 * key is declared in one table in config.c with its type, default and check;
 * unknown keys and bad values are refused with "file:line: message". A config with
 * no file at all (embedded defaults) serves "localhost" from ./yerba-data.
 * Core thread only.
 */
#ifndef YB_SERVER_CONFIG_H
#define YB_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum config_conflict {
    CONFLICT_REPLACE, /* the new session wins; the old gets a <conflict/> stream error */
    CONFLICT_REFUSE,  /* the new bind gets a conflict stanza error */
};

enum config_listener_kind {
    LISTENER_C2S,
    LISTENER_COMPONENT, /* XEP-0114 external components (plaintext; loopback by default) */
    LISTENER_S2S,       /* other servers: 5269 (STARTTLS) or 5270 (direct TLS, XEP-0368) */
};
enum config_registration {
    REGISTRATION_CLOSED,   /* no in-band registration (default) */
    REGISTRATION_OPEN,     /* anyone may register */
    REGISTRATION_NETWORKS, /* only clients from registration_networks */
};
enum config_listener_tls { LISTENER_TLS_STARTTLS, LISTENER_TLS_DIRECT };

struct config_listener {
    enum config_listener_kind kind;
    enum config_listener_tls tls;
    char *address; /* "::" (with IPv4-mapped where the system allows) or an address */
    int port;
};

/* An external component (XEP-0114): a domain served by a program that connects to
 * a component listener and proves it knows the secret. */
struct config_component {
    char *domain; /* nameprep'd; never one of the hosts */
    char *secret; /* the shared secret of the <handshake/> */
};

struct config_host {
    char *domain;      /* nameprep'd */
    char *certificate; /* PEM file; NULL: <data_dir>/certs/<domain>.crt (generated) */
    char *key;         /* PEM file; NULL: <data_dir>/certs/<domain>.key (generated) */
    char **admins;     /* bare JIDs */
    size_t n_admins;
    size_t offline_quota; /* messages per account; 0 disables offline storage */
    enum config_conflict resource_conflict;
    size_t max_resources; /* sessions per account */

    /* XEP-0077 in-band registration */
    enum config_registration registration; /* default REGISTRATION_CLOSED */
    char **registration_networks;          /* "address/prefix", canonical text; for _NETWORKS */
    size_t n_registration_networks;
    char **reserved_usernames; /* lowercased localparts nobody may register; default none */
    size_t n_reserved_usernames;
    unsigned registrations_per_hour; /* per source address; 0 = unlimited; default 5 */

    /* XEP-0157 contact addresses (URIs such as mailto: or xmpp:); default none */
    char **contact_abuse;
    size_t n_contact_abuse;
    char **contact_admin;
    size_t n_contact_admin;
    char **contact_feedback;
    size_t n_contact_feedback;
    char **contact_sales;
    size_t n_contact_sales;
    char **contact_security;
    size_t n_contact_security;
    char **contact_support;
    size_t n_contact_support;

    size_t vcard_max_size; /* bytes of a stored vCard; default 65536 */
};

/* s2s: how a remote domain's certificate is judged (docs/config.md "Federation"). */
enum config_s2s_trust {
    S2S_TRUST_CA,          /* it must chain to a CA of s2s.ca_file and name the domain */
    S2S_TRUST_SELF_SIGNED, /* it must name the domain; any issuer (private networks, tests) */
    S2S_TRUST_DIALBACK,    /* no certificate needed: dialback alone proves the domain */
};
/* s2s: which authentication our outgoing links use. */
enum config_s2s_auth {
    S2S_AUTH_ANY,      /* SASL EXTERNAL when offered, else dialback (default) */
    S2S_AUTH_EXTERNAL, /* SASL EXTERNAL only */
    S2S_AUTH_DIALBACK, /* dialback only */
};

/* Settings for one remote domain (s2s.remotes). */
struct config_remote {
    char *domain;
    char *host; /* static address or host name to connect to instead of DNS; NULL: DNS */
    int port;   /* with host; default 5269, 5270 with direct_tls */
    bool direct_tls;
    bool require_tls; /* default: s2s.require_tls */
    enum config_s2s_trust trust;
    enum config_s2s_auth auth;
};

struct config {
    char *path;          /* the file read, or NULL for embedded defaults */
    char *data_dir;      /* default "./yerba-data" (relative to the cwd) */
    char *database;      /* default <data_dir>/yerba.sqlite */
    char *admin_socket;  /* default <data_dir>/yerbad.sock */
    char *log_level;     /* "debug" | "info" | "warn" | "error"; default "info" */
    unsigned io_threads; /* default 0 (everything on the core loop) */

    struct config_host *hosts;
    size_t n_hosts;
    struct config_listener *listeners;
    size_t n_listeners;
    struct config_component *components; /* default none */
    size_t n_components;

    /* c2s */
    bool require_tls;                /* default true: no SASL before TLS */
    bool allow_plain;                /* PLAIN over TLS; default true */
    unsigned scram_iterations;       /* default 4096 */
    unsigned auth_timeout_s;         /* unauthenticated stream lifetime; default 30 */
    size_t max_stanza_bytes;         /* default 262144 */
    size_t max_output_bytes;         /* per connection; default 1 MiB */
    unsigned auth_fail_delay_ms;     /* first delay after a failure, doubled; default 250 */
    unsigned auth_fail_delay_max_ms; /* default 8000 */
    unsigned ping_interval_s;        /* XEP-0199: ping a client silent this long; 0 = never;
                                        default 300 */
    unsigned ping_timeout_s;         /* ... and close it if no answer within; default 60 */
    bool compression;                /* XEP-0138 after authentication; default false */

    bool hide_version; /* XEP-0092: answer without the version; default false */

    /* limits: (docs/config.md "Limits"). 0 disables the limits marked "0 = off". */
    unsigned max_connections_per_address; /* open c2s connections per source address; 50 */
    unsigned connections_per_minute;      /* new connections per address (token bucket
                                             refill); 0 = off; default 300 */
    unsigned connection_burst;            /* ... and its bucket size; default 100 */
    unsigned max_unauthenticated_streams; /* in total; 0 = off; default 2000 */
    unsigned account_max_failures;        /* failed logins per account per window before a
                                             block; 0 = off; default 10 */
    unsigned account_block_s;             /* the window and the block's length; default 300 */
    unsigned stanzas_per_second;          /* per stream (token bucket); 0 = off; default 200 */
    unsigned stanza_burst;                /* ... bucket size; default 2000 */
    size_t bytes_per_second;              /* per stream, as received; 0 = off; default 1 MiB */
    size_t byte_burst;                    /* ... bucket size; default 16 MiB */
    size_t max_roster_items;              /* per account; 0 = off; default 1000 */
    unsigned max_xml_depth;               /* element depth in a stanza; default 64 */
    unsigned max_attributes;              /* per element; default 64 */
    size_t max_stream_header_bytes;       /* default 8192 */

    /* s2s: federation (docs/config.md "Federation") */
    bool s2s_enabled;               /* outgoing links; default true */
    bool s2s_require_tls;           /* default true */
    char *s2s_ca_file;              /* trusted CAs; NULL: the system's */
    char *s2s_dns_servers;          /* c-ares server list; NULL: /etc/resolv.conf */
    unsigned s2s_connect_timeout_s; /* a link's whole setup; default 30 */
    unsigned s2s_idle_timeout_s;    /* close links idle this long; default 600 */
    unsigned s2s_max_queue;         /* stanzas waiting per link being set up; default 1000 */
    struct config_remote *remotes;  /* default none */
    size_t n_remotes;
};

/* Loads path (NULL: embedded defaults only). On error returns NULL and writes
 * "file:line: message" lines to err. */
struct config *config_load(const char *path, struct buf *err);
/* Like config_load(), from len bytes of YAML in memory, as if read from the file
 * name: name appears in messages, becomes cfg->path, and relative paths are
 * resolved against its directory (name NULL or without '/': left relative to the
 * cwd; messages then say "<string>" for NULL). For tests and fuzzing. */
struct config *config_load_string(const char *yaml, size_t len, const char *name, struct buf *err);
/* Accepts NULL. */
void config_free(struct config *cfg);
/* The component entry for domain, or NULL. */
const struct config_component *config_find_component(const struct config *cfg, const char *domain);
/* The s2s.remotes entry for domain, or NULL. */
const struct config_remote *config_find_remote(const struct config *cfg, const char *domain);
/* The host entry for domain, or NULL. */
const struct config_host *config_find_host(const struct config *cfg, const char *domain);

#endif
