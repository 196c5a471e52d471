/* SPDX-License-Identifier: MIT
 *
 * config.c: reads the server configuration from one YAML document (libyaml's document
 * API). Every key is one row of the tables below: name, type, field, range, default.
 * A schema-driven walker checks the document against those tables, so the key decides
 * a value's type (quoting does not), and unknown keys, wrong types and out-of-range
 * values are refused with "file:line: message". This file only builds struct config:
 * it opens no socket, creates no directory and reads no certificate.
 * docs/config.md is the operator's reference; keep it in step with the tables.
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <yaml.h>

#include "alloc.h"
#include "hashmap.h"

/* A configuration is a few kilobytes; a bigger file is almost surely the wrong one. */
#define CONFIG_MAX_BYTES (1024 * 1024)
/* Past this many errors the rest is likely one mistake's echo. */
#define CONFIG_MAX_ERRORS 20
/* The largest section's key count; parse_mapping() keeps one line per key. */
#define CONFIG_MAX_KEYS 16
/* Configurations nest five levels (the file, hosts, a host, contact, a list of
 * addresses); see check_depth(). */
#define CONFIG_MAX_DEPTH 16
/* RFC 7622 §3.2: a domainpart is at most 1023 bytes; RFC 1035 §2.3.4: labels 63. */
#define DOMAIN_MAX_LEN 1023
#define LABEL_MAX_LEN  63
#define LOCAL_MAX_LEN  1023

enum key_type {
    KEY_PATH,     /* char *; relative paths are resolved against the file's directory */
    KEY_WORD,     /* char *; one of choices */
    KEY_ENUM,     /* an int-sized enum; the index of the value in choices */
    KEY_BOOL,     /* bool */
    KEY_UNSIGNED, /* unsigned, in [min, max] */
    KEY_SIZE,     /* size_t, in [min, max] */
    KEY_INT,      /* int, in [min, max] */
    KEY_DOMAIN,   /* char *; checked, lowercased, trailing dot removed */
    KEY_ADDRESS,  /* char *; an IPv4 or IPv6 literal */
    /* The lists: char ** with a size_t count at count_offset; see list_kinds[]. */
    KEY_JID_LIST,   /* bare JIDs, lowercased */
    KEY_CIDR_LIST,  /* networks, as "address/prefix" in canonical text */
    KEY_NAME_LIST,  /* usernames (localparts), lowercased */
    KEY_URI_LIST,   /* URIs, "scheme:rest", kept as written */
    KEY_SECTION,    /* a nested mapping whose keys fill the same struct */
    KEY_HOSTS,      /* struct config's hosts, n_hosts */
    KEY_LISTENERS,  /* struct config's listeners, n_listeners */
    KEY_STRING,     /* char *; any non-empty text, kept as written (e.g. a secret) */
    KEY_COMPONENTS, /* struct config's components, n_components */
    KEY_REMOTES,    /* struct config's remotes, n_remotes */
};

struct ctx;
struct section;

struct key {
    const char *name;
    enum key_type type;
    size_t offset;
    size_t count_offset;          /* the list types: the size_t count */
    long long min, max;           /* integer types */
    const char *const *choices;   /* KEY_WORD, KEY_ENUM: NULL-terminated */
    const struct section *nested; /* KEY_SECTION, KEY_HOSTS, KEY_LISTENERS */
    long long def_int;            /* KEY_ENUM, KEY_BOOL and the integer types */
    const char *def_str;          /* string types; NULL: none, or derived afterwards */
    bool required;
};

struct section {
    const char *where; /* "in c2s": completes "unknown key 'x' ..." */
    const struct key *keys;
    size_t n_keys;
    /* Cross-field checks; run only when the mapping itself had no error.
     * lines[i] is the line of keys[i], or 0 if the key was absent. */
    void (*check)(struct ctx *c, const yaml_node_t *node, void *obj, const size_t *lines);
};

struct ctx {
    const char *name; /* the file name in messages */
    char *base_dir;   /* relative paths are joined to it; NULL: left relative */
    yaml_document_t *doc;
    const char *text; /* the YAML, for empty_item_line() */
    size_t text_len;
    struct buf *err; /* may be NULL */
    int n_errors;
    bool oom;
};

/* offsetof(st, f), and a compile error unless st.f has type T: the tables cannot
 * silently disagree with config.h. */
#define FIELD(st, f, T) (offsetof(st, f) + 0 * sizeof(_Generic(((st *)0)->f, T : 1)))

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const conflicts[] = {"replace", "refuse", NULL};
static const char *const listener_kinds[] = {"c2s", "component", "s2s", NULL};
static const char *const s2s_trusts[] = {"ca", "self-signed", "dialback", NULL};
static const char *const s2s_auths[] = {"any", "external", "dialback", NULL};
static const char *const listener_tls[] = {"starttls", "direct", NULL};
static const char *const registrations[] = {"closed", "open", "networks", NULL};

_Static_assert(CONFLICT_REPLACE == 0 && CONFLICT_REFUSE == 1, "conflicts[] order");
_Static_assert(LISTENER_C2S == 0 && LISTENER_COMPONENT == 1 && LISTENER_S2S == 2,
               "listener_kinds[] order");
_Static_assert(S2S_TRUST_CA == 0 && S2S_TRUST_SELF_SIGNED == 1 && S2S_TRUST_DIALBACK == 2,
               "s2s_trusts[] order");
_Static_assert(S2S_AUTH_ANY == 0 && S2S_AUTH_EXTERNAL == 1 && S2S_AUTH_DIALBACK == 2,
               "s2s_auths[] order");
_Static_assert(LISTENER_TLS_STARTTLS == 0 && LISTENER_TLS_DIRECT == 1, "listener_tls[] order");
_Static_assert(REGISTRATION_CLOSED == 0 && REGISTRATION_OPEN == 1 && REGISTRATION_NETWORKS == 2,
               "registrations[] order");
_Static_assert(sizeof(enum config_conflict) == sizeof(int), "KEY_ENUM stores an int");
_Static_assert(sizeof(enum config_registration) == sizeof(int), "KEY_ENUM stores an int");
_Static_assert(sizeof(enum config_listener_kind) == sizeof(int), "KEY_ENUM stores an int");
_Static_assert(sizeof(enum config_listener_tls) == sizeof(int), "KEY_ENUM stores an int");

/* What the entries of a list key are, and how each one is checked. */
struct list_kind {
    const char *item;  /* for "expected <item>, got ..." */
    const char *items; /* for "expected a list of <items>, got ..." */
    /* Checks the entry *s, may rewrite it in place or replace it, and returns NULL or
     * why it is refused. Out of memory: returns NULL with c->oom set. */
    const char *(*normalize)(struct ctx *c, char **s);
};

static const char *list_jid(struct ctx *c, char **s);
static const char *list_network(struct ctx *c, char **s);
static const char *list_username(struct ctx *c, char **s);
static const char *list_uri(struct ctx *c, char **s);

static const struct list_kind list_kinds[] = {
    [KEY_JID_LIST] = {"a bare JID (user@domain)", "bare JIDs (user@domain)", list_jid},
    [KEY_CIDR_LIST] = {"a network (address/prefix)",
                       "networks (address/prefix, such as 10.0.0.0/8 or fd00::/8)", list_network},
    [KEY_NAME_LIST] = {"a username", "usernames (the part before '@')", list_username},
    [KEY_URI_LIST] = {"a URI (scheme:...)", "URIs (such as mailto:..., xmpp:... or https://...)",
                      list_uri},
};

static void host_check(struct ctx *c, const yaml_node_t *node, void *obj, const size_t *lines);
static void listener_check(struct ctx *c, const yaml_node_t *node, void *obj, const size_t *lines);
static void c2s_check(struct ctx *c, const yaml_node_t *node, void *obj, const size_t *lines);

#define HOST(f, T) FIELD(struct config_host, f, T)
/* XEP-0157: the address types of the serverinfo form, one list each. */
#define CONTACT(kind)                                                                              \
    {                                                                                              \
        .name = #kind, .type = KEY_URI_LIST, .offset = HOST(contact_##kind, char **),              \
        .count_offset = HOST(n_contact_##kind, size_t)                                             \
    }
static const struct key contact_keys[] = {
    CONTACT(abuse), CONTACT(admin),    CONTACT(feedback),
    CONTACT(sales), CONTACT(security), CONTACT(support),
};
static const struct section contact_section = {"in contact", contact_keys,
                                               sizeof contact_keys / sizeof contact_keys[0], NULL};

static const struct key host_keys[] = {
    {.name = "domain", .type = KEY_DOMAIN, .offset = HOST(domain, char *), .required = true},
    {.name = "certificate", .type = KEY_PATH, .offset = HOST(certificate, char *)},
    {.name = "key", .type = KEY_PATH, .offset = HOST(key, char *)},
    {.name = "admins",
     .type = KEY_JID_LIST,
     .offset = HOST(admins, char **),
     .count_offset = HOST(n_admins, size_t)},
    {.name = "offline_quota",
     .type = KEY_SIZE,
     .offset = HOST(offline_quota, size_t),
     .min = 0,
     .max = INT_MAX,
     .def_int = 1000},
    {.name = "resource_conflict",
     .type = KEY_ENUM,
     .offset = HOST(resource_conflict, enum config_conflict),
     .choices = conflicts,
     .def_int = CONFLICT_REPLACE},
    {.name = "max_resources",
     .type = KEY_SIZE,
     .offset = HOST(max_resources, size_t),
     .min = 1,
     .max = INT_MAX,
     .def_int = 10},
    /* registration and registration_networks must agree: see host_check(). */
    {.name = "registration",
     .type = KEY_ENUM,
     .offset = HOST(registration, enum config_registration),
     .choices = registrations,
     .def_int = REGISTRATION_CLOSED},
    {.name = "registration_networks",
     .type = KEY_CIDR_LIST,
     .offset = HOST(registration_networks, char **),
     .count_offset = HOST(n_registration_networks, size_t)},
    {.name = "reserved_usernames",
     .type = KEY_NAME_LIST,
     .offset = HOST(reserved_usernames, char **),
     .count_offset = HOST(n_reserved_usernames, size_t)},
    {.name = "registrations_per_hour",
     .type = KEY_UNSIGNED,
     .offset = HOST(registrations_per_hour, unsigned),
     .min = 0,
     .max = 100000,
     .def_int = 5},
    {.name = "contact", .type = KEY_SECTION, .nested = &contact_section},
    {.name = "vcard_max_size",
     .type = KEY_SIZE,
     .offset = HOST(vcard_max_size, size_t),
     .min = 1024,
     .max = 16777216,
     .def_int = 65536},
};
static const struct section host_section = {"in hosts", host_keys,
                                            sizeof host_keys / sizeof host_keys[0], host_check};

#define LISTENER(f, T) FIELD(struct config_listener, f, T)
static const struct key listener_keys[] = {
    {.name = "type",
     .type = KEY_ENUM,
     .offset = LISTENER(kind, enum config_listener_kind),
     .choices = listener_kinds,
     .def_int = LISTENER_C2S,
     .required = true},
    {.name = "tls",
     .type = KEY_ENUM,
     .offset = LISTENER(tls, enum config_listener_tls),
     .choices = listener_tls,
     .def_int = LISTENER_TLS_STARTTLS},
    {.name = "address", .type = KEY_ADDRESS, .offset = LISTENER(address, char *), .def_str = "::"},
    /* -1: 5222 for starttls, 5223 for direct, set by listener_check(). 0: any free port. */
    {.name = "port",
     .type = KEY_INT,
     .offset = LISTENER(port, int),
     .min = 0,
     .max = 65535,
     .def_int = -1},
};
static const struct section listener_section = {
    "in listeners", listener_keys, sizeof listener_keys / sizeof listener_keys[0], listener_check};

/* XEP-0114 external components; see parse_components(). */
#define COMPONENT(f, T) FIELD(struct config_component, f, T)
static const struct key component_keys[] = {
    {.name = "domain", .type = KEY_DOMAIN, .offset = COMPONENT(domain, char *), .required = true},
    {.name = "secret", .type = KEY_STRING, .offset = COMPONENT(secret, char *), .required = true},
};
static const struct section component_section = {
    "in components", component_keys, sizeof component_keys / sizeof component_keys[0], NULL};

/* s2s.remotes: per remote domain settings; see parse_remotes(). */
static void remote_check(struct ctx *c, const yaml_node_t *node, void *obj, const size_t *lines);
#define REMOTE(f, T) FIELD(struct config_remote, f, T)
static const struct key remote_keys[] = {
    {.name = "domain", .type = KEY_DOMAIN, .offset = REMOTE(domain, char *), .required = true},
    /* An address or host name to connect to instead of looking the domain up. */
    {.name = "host", .type = KEY_STRING, .offset = REMOTE(host, char *)},
    /* -1: 5269, or 5270 with direct_tls (remote_check). */
    {.name = "port",
     .type = KEY_INT,
     .offset = REMOTE(port, int),
     .min = 1,
     .max = 65535,
     .def_int = -1},
    {.name = "direct_tls", .type = KEY_BOOL, .offset = REMOTE(direct_tls, bool), .def_int = 0},
    {.name = "require_tls", .type = KEY_BOOL, .offset = REMOTE(require_tls, bool), .def_int = 1},
    {.name = "trust",
     .type = KEY_ENUM,
     .offset = REMOTE(trust, enum config_s2s_trust),
     .choices = s2s_trusts,
     .def_int = S2S_TRUST_CA},
    {.name = "auth",
     .type = KEY_ENUM,
     .offset = REMOTE(auth, enum config_s2s_auth),
     .choices = s2s_auths,
     .def_int = S2S_AUTH_ANY},
};
static const struct section remote_section = {
    "in s2s remotes", remote_keys, sizeof remote_keys / sizeof remote_keys[0], remote_check};

#define CFG(f, T) FIELD(struct config, f, T)
static const struct key s2s_keys[] = {
    {.name = "enabled", .type = KEY_BOOL, .offset = CFG(s2s_enabled, bool), .def_int = 1},
    {.name = "require_tls", .type = KEY_BOOL, .offset = CFG(s2s_require_tls, bool), .def_int = 1},
    {.name = "ca_file", .type = KEY_PATH, .offset = CFG(s2s_ca_file, char *)},
    {.name = "dns_servers", .type = KEY_STRING, .offset = CFG(s2s_dns_servers, char *)},
    {.name = "connect_timeout",
     .type = KEY_UNSIGNED,
     .offset = CFG(s2s_connect_timeout_s, unsigned),
     .min = 2,
     .max = 600,
     .def_int = 30},
    {.name = "idle_timeout",
     .type = KEY_UNSIGNED,
     .offset = CFG(s2s_idle_timeout_s, unsigned),
     .min = 5,
     .max = 86400,
     .def_int = 600},
    {.name = "max_queue",
     .type = KEY_UNSIGNED,
     .offset = CFG(s2s_max_queue, unsigned),
     .min = 1,
     .max = 1000000,
     .def_int = 1000},
    {.name = "remotes", .type = KEY_REMOTES, .nested = &remote_section},
};
static const struct section s2s_section = {"in s2s", s2s_keys, sizeof s2s_keys / sizeof s2s_keys[0],
                                           NULL};

static const struct key c2s_keys[] = {
    {.name = "require_tls", .type = KEY_BOOL, .offset = CFG(require_tls, bool), .def_int = 1},
    {.name = "allow_plain", .type = KEY_BOOL, .offset = CFG(allow_plain, bool), .def_int = 1},
    {.name = "scram_iterations",
     .type = KEY_UNSIGNED,
     .offset = CFG(scram_iterations, unsigned),
     .min = 4096,
     .max = 1000000,
     .def_int = 4096},
    {.name = "auth_timeout",
     .type = KEY_UNSIGNED,
     .offset = CFG(auth_timeout_s, unsigned),
     .min = 1,
     .max = 3600,
     .def_int = 30},
    {.name = "max_stanza_size",
     .type = KEY_SIZE,
     .offset = CFG(max_stanza_bytes, size_t),
     .min = 1024,
     .max = 16777216,
     .def_int = 262144},
    {.name = "max_output_size",
     .type = KEY_SIZE,
     .offset = CFG(max_output_bytes, size_t),
     .min = 65536,
     .max = 1073741824,
     .def_int = 1048576},
    {.name = "auth_fail_delay_ms",
     .type = KEY_UNSIGNED,
     .offset = CFG(auth_fail_delay_ms, unsigned),
     .min = 0,
     .max = 600000,
     .def_int = 250},
    {.name = "auth_fail_delay_max_ms",
     .type = KEY_UNSIGNED,
     .offset = CFG(auth_fail_delay_max_ms, unsigned),
     .min = 0,
     .max = 600000,
     .def_int = 8000},
    {.name = "ping_interval",
     .type = KEY_UNSIGNED,
     .offset = CFG(ping_interval_s, unsigned),
     .min = 0,
     .max = 86400,
     .def_int = 300},
    {.name = "ping_timeout",
     .type = KEY_UNSIGNED,
     .offset = CFG(ping_timeout_s, unsigned),
     .min = 1,
     .max = 3600,
     .def_int = 60},
    {.name = "compression", .type = KEY_BOOL, .offset = CFG(compression, bool), .def_int = 0},
};
static const struct section c2s_section = {"in c2s", c2s_keys, sizeof c2s_keys / sizeof c2s_keys[0],
                                           c2s_check};

static const struct key limits_keys[] = {
    {.name = "max_connections_per_address",
     .type = KEY_UNSIGNED,
     .offset = CFG(max_connections_per_address, unsigned),
     .min = 0,
     .max = 1000000,
     .def_int = 50},
    {.name = "connections_per_minute",
     .type = KEY_UNSIGNED,
     .offset = CFG(connections_per_minute, unsigned),
     .min = 0,
     .max = 1000000,
     .def_int = 300},
    {.name = "connection_burst",
     .type = KEY_UNSIGNED,
     .offset = CFG(connection_burst, unsigned),
     .min = 1,
     .max = 1000000,
     .def_int = 100},
    {.name = "max_unauthenticated_streams",
     .type = KEY_UNSIGNED,
     .offset = CFG(max_unauthenticated_streams, unsigned),
     .min = 0,
     .max = 10000000,
     .def_int = 2000},
    {.name = "account_max_failures",
     .type = KEY_UNSIGNED,
     .offset = CFG(account_max_failures, unsigned),
     .min = 0,
     .max = 1000000,
     .def_int = 10},
    {.name = "account_block",
     .type = KEY_UNSIGNED,
     .offset = CFG(account_block_s, unsigned),
     .min = 1,
     .max = 86400,
     .def_int = 300},
    {.name = "stanzas_per_second",
     .type = KEY_UNSIGNED,
     .offset = CFG(stanzas_per_second, unsigned),
     .min = 0,
     .max = 1000000,
     .def_int = 200},
    {.name = "stanza_burst",
     .type = KEY_UNSIGNED,
     .offset = CFG(stanza_burst, unsigned),
     .min = 1,
     .max = 10000000,
     .def_int = 2000},
    {.name = "bytes_per_second",
     .type = KEY_SIZE,
     .offset = CFG(bytes_per_second, size_t),
     .min = 0,
     .max = 1073741824,
     .def_int = 1048576},
    {.name = "byte_burst",
     .type = KEY_SIZE,
     .offset = CFG(byte_burst, size_t),
     .min = 1024,
     .max = 1073741824,
     .def_int = 16777216},
    {.name = "max_roster_items",
     .type = KEY_SIZE,
     .offset = CFG(max_roster_items, size_t),
     .min = 0,
     .max = 1000000,
     .def_int = 1000},
    {.name = "max_xml_depth",
     .type = KEY_UNSIGNED,
     .offset = CFG(max_xml_depth, unsigned),
     .min = 4,
     .max = 1024,
     .def_int = 64},
    {.name = "max_attributes",
     .type = KEY_UNSIGNED,
     .offset = CFG(max_attributes, unsigned),
     .min = 8,
     .max = 1024,
     .def_int = 64},
    {.name = "max_stream_header_size",
     .type = KEY_SIZE,
     .offset = CFG(max_stream_header_bytes, size_t),
     .min = 512,
     .max = 65536,
     .def_int = 8192},
};
static const struct section limits_section = {"in limits", limits_keys,
                                              sizeof limits_keys / sizeof limits_keys[0], NULL};

static const struct key top_keys[] = {
    {.name = "data_dir",
     .type = KEY_PATH,
     .offset = CFG(data_dir, char *),
     .def_str = "./yerba-data"},
    /* database and admin_socket default to files in data_dir: see finish(). */
    {.name = "database", .type = KEY_PATH, .offset = CFG(database, char *)},
    {.name = "admin_socket", .type = KEY_PATH, .offset = CFG(admin_socket, char *)},
    {.name = "log_level",
     .type = KEY_WORD,
     .offset = CFG(log_level, char *),
     .choices = log_levels,
     .def_str = "info"},
    {.name = "io_threads",
     .type = KEY_UNSIGNED,
     .offset = CFG(io_threads, unsigned),
     .min = 0,
     .max = 64,
     .def_int = 0},
    /* The lists fill struct config's hosts and listeners arrays; see parse_hosts(). */
    {.name = "hosts", .type = KEY_HOSTS, .nested = &host_section},
    {.name = "listeners", .type = KEY_LISTENERS, .nested = &listener_section},
    {.name = "components", .type = KEY_COMPONENTS, .nested = &component_section},
    {.name = "c2s", .type = KEY_SECTION, .nested = &c2s_section},
    {.name = "s2s", .type = KEY_SECTION, .nested = &s2s_section},
    {.name = "limits", .type = KEY_SECTION, .nested = &limits_section},
    {.name = "hide_version", .type = KEY_BOOL, .offset = CFG(hide_version, bool), .def_int = 0},
};
static const struct section top_section = {"at the top level", top_keys,
                                           sizeof top_keys / sizeof top_keys[0], NULL};

static const struct section *const all_sections[] = {
    &top_section,    &host_section,      &listener_section, &c2s_section,   &contact_section,
    &limits_section, &component_section, &s2s_section,      &remote_section};

/* ---- messages ---- */

static bool
ctx_stop(const struct ctx *c)
{
    return c->oom || c->n_errors >= CONFIG_MAX_ERRORS;
}

/* line 0: the message is about the file as a whole. */
static void __attribute__((format(printf, 3, 4)))
ctx_error(struct ctx *c, size_t line, const char *fmt, ...)
{
    if (ctx_stop(c))
        return;
    c->n_errors++;
    if (c->err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (line > 0)
        buf_printf(c->err, "%s:%zu: ", c->name, line);
    else
        buf_printf(c->err, "%s: ", c->name);
    buf_vprintf(c->err, fmt, ap);
    buf_putc(c->err, '\n');
    va_end(ap);
    if (c->n_errors == CONFIG_MAX_ERRORS)
        buf_printf(c->err, "%s: too many errors; stopping here\n", c->name);
}

static void
ctx_oom(struct ctx *c)
{
    if (!c->oom) {
        c->oom = true;
        c->n_errors++;
        if (c->err != NULL)
            buf_printf(c->err, "%s: out of memory\n", c->name);
    }
}

/* Shows at most 40 bytes of s between quotes, bytes outside printable ASCII as \xNN,
 * so a message never carries control characters to the operator's terminal. */
#define SHOW_SIZE 200
static const char *
show_bytes(char out[SHOW_SIZE], const char *s, size_t len)
{
    size_t o = 0;
    out[o++] = '\'';
    for (size_t i = 0; i < len && i < 40; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, SHOW_SIZE - o, "\\x%02x", ch);
    }
    out[o++] = '\'';
    if (len > 40) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static const char *
show(char out[SHOW_SIZE], const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return show_bytes(out, (const char *)n->data.scalar.value, n->data.scalar.length);
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

/* What a key accepts, for "expected ..." messages. */
static const char *
describe(char out[SHOW_SIZE], const struct key *k)
{
    switch (k->type) {
    case KEY_PATH:
        return "a path";
    case KEY_WORD:
    case KEY_ENUM: {
        size_t o = (size_t)snprintf(out, SHOW_SIZE, "one of");
        for (size_t i = 0; k->choices[i] != NULL && o < SHOW_SIZE; i++)
            o += (size_t)snprintf(out + o, SHOW_SIZE - o, "%s %s", i > 0 ? "," : "", k->choices[i]);
        return out;
    }
    case KEY_BOOL:
        return "true or false (or yes/no, on/off)";
    case KEY_UNSIGNED:
    case KEY_SIZE:
    case KEY_INT:
        snprintf(out, SHOW_SIZE, "a decimal integer from %lld to %lld", k->min, k->max);
        return out;
    case KEY_DOMAIN:
        return "a domain name";
    case KEY_ADDRESS:
        return "an IPv4 or IPv6 address";
    case KEY_JID_LIST:
    case KEY_CIDR_LIST:
    case KEY_NAME_LIST:
    case KEY_URI_LIST:
        snprintf(out, SHOW_SIZE, "a list of %s", list_kinds[k->type].items);
        return out;
    case KEY_SECTION:
        return "a mapping";
    case KEY_HOSTS:
        return "a list of hosts (mappings with at least a domain)";
    case KEY_LISTENERS:
        return "a list of listeners (mappings with at least a type)";
    case KEY_STRING:
        return "a non-empty string";
    case KEY_COMPONENTS:
        return "a list of components (mappings with a domain and a secret)";
    case KEY_REMOTES:
        return "a list of remote domains (mappings with at least a domain)";
    }
    return "?";
}

/* ---- nodes ---- */

static size_t
node_line(const yaml_node_t *n)
{
    return n->start_mark.line + 1;
}

/* The line to blame for a value. libyaml puts an empty value ("key:" and nothing)
 * at the next token, often on the following line; blame the key's line instead. */
static size_t
value_line(const yaml_node_t *key, const yaml_node_t *value)
{
    if (value->type == YAML_SCALAR_NODE && value->data.scalar.length == 0 &&
        value->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        return node_line(key);
    return node_line(value);
}

/* Whether a line holds only blanks or a comment. */
static bool
is_blank_line(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    return p == end || *p == '#';
}

/* The line to blame for an entry of a list. An empty entry ("-" and nothing) has the
 * mark of the next token, maybe lines later; the '-' is on the last line before that
 * token with more than blanks or a comment. Lines are counted at '\n' only, so a
 * file with bare '\r' or Unicode line separators may see a nearby line blamed. */
static size_t
item_line(const struct ctx *c, const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.length != 0 ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return node_line(n);
    const char *text = c->text, *end = text + c->text_len, *start = text;
    for (size_t line = 0; line < n->start_mark.line; line++) {
        const char *nl = memchr(start, '\n', (size_t)(end - start));
        if (nl == NULL)
            return node_line(n);
        start = nl + 1;
    }
    /* Something before the token on its own line: the '-' is there ("[a, , b]"). */
    size_t blanks = 0;
    while (start + blanks < end && (start[blanks] == ' ' || start[blanks] == '\t'))
        blanks++;
    if (blanks < n->start_mark.column)
        return node_line(n);
    size_t line = n->start_mark.line;
    while (line > 0) {
        const char *line_end = start - 1; /* its '\n' */
        start = line_end;
        while (start > text && start[-1] != '\n')
            start--;
        line--;
        if (!is_blank_line(start, line_end))
            return line + 1;
    }
    return node_line(n);
}

static const char *
scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain empty, "~" or "null" scalar: YAML's null (YAML 1.2 §10.3.2, core schema). */
static bool
is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = scalar(n);
    return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* A double-quoted "\0" puts a NUL inside a scalar; C strings cannot carry it. */
static bool
has_nul(const yaml_node_t *n)
{
    return strlen(scalar(n)) != n->data.scalar.length;
}

static void
expected(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v)
{
    char want[SHOW_SIZE], got[SHOW_SIZE];
    ctx_error(c, value_line(kn, v), "key '%s': expected %s, got %s", k->name, describe(want, k),
              is_null(v) ? "nothing" : show(got, v));
}

/* The value of a scalar key, or NULL after reporting why there is none. */
static const char *
scalar_value(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v)
{
    if (v->type != YAML_SCALAR_NODE || is_null(v)) {
        expected(c, k, kn, v);
        return NULL;
    }
    if (has_nul(v)) {
        ctx_error(c, value_line(kn, v), "key '%s': the value contains a NUL byte", k->name);
        return NULL;
    }
    return scalar(v);
}

/* ---- fields ---- */

static void *
field(void *obj, size_t offset)
{
    return (char *)obj + offset;
}

static void
set_string(void *obj, const struct key *k, char *s)
{
    char **f = field(obj, k->offset);
    yb_free(*f);
    *f = s;
}

static void
set_integer(void *obj, const struct key *k, long long v)
{
    switch (k->type) {
    case KEY_BOOL:
        *(bool *)field(obj, k->offset) = v != 0;
        break;
    case KEY_UNSIGNED:
        *(unsigned *)field(obj, k->offset) = (unsigned)v;
        break;
    case KEY_SIZE:
        *(size_t *)field(obj, k->offset) = (size_t)v;
        break;
    case KEY_INT:
        *(int *)field(obj, k->offset) = (int)v;
        break;
    case KEY_ENUM: {
        /* memcpy: an enum's compatible type is implementation-defined; the
         * _Static_asserts above check the size. */
        int e = (int)v;
        memcpy(field(obj, k->offset), &e, sizeof e);
        break;
    }
    default:
        assert(!"not an integer key");
    }
}

static void
apply_defaults(struct ctx *c, const struct section *s, void *obj)
{
    for (size_t i = 0; i < s->n_keys; i++) {
        const struct key *k = &s->keys[i];
        switch (k->type) {
        case KEY_PATH:
        case KEY_WORD:
        case KEY_DOMAIN:
        case KEY_ADDRESS:
        case KEY_STRING:
            if (k->def_str != NULL) {
                char *d = yb_strdup(k->def_str);
                if (d == NULL)
                    ctx_oom(c);
                set_string(obj, k, d);
            }
            break;
        case KEY_ENUM:
        case KEY_BOOL:
        case KEY_UNSIGNED:
        case KEY_SIZE:
        case KEY_INT:
            set_integer(obj, k, k->def_int);
            break;
        case KEY_SECTION:
            apply_defaults(c, k->nested, obj);
            break;
        case KEY_JID_LIST:
        case KEY_CIDR_LIST:
        case KEY_NAME_LIST:
        case KEY_URI_LIST:
        case KEY_HOSTS:
        case KEY_LISTENERS:
        case KEY_COMPONENTS:
        case KEY_REMOTES:
            break;
        }
    }
}

/* ---- scalar checks ---- */

/* Decimal only, no leading zeros: YAML 1.1 reads "010" as octal 8, and we would
 * rather refuse it than disagree with the operator's editor. Values past the
 * tables' ranges saturate, so a huge number reads as out of range. */
static bool
parse_integer(const char *s, long long *out)
{
    bool neg = *s == '-';
    if (neg)
        s++;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
        return false;
    long long v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v < LLONG_MAX / 100)
            v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return true;
}

static bool
parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

static int
choice_index(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i] != NULL; i++)
        if (strcmp(choices[i], s) == 0)
            return i;
    return -1;
}

/* Checks a domain for a host name in ASCII, lowercases it and drops one trailing
 * dot (RFC 7622 §3.2). Returns NULL, or why it is refused. An IDN must be written
 * in its A-label (xn--) form; proto's nameprep is for what arrives on the wire. */
static const char *
normalize_domain(char *s)
{
    size_t len = strlen(s);
    if (len > 1 && s[len - 1] == '.')
        s[--len] = '\0';
    if (len == 0)
        return "it is empty";
    if (len > DOMAIN_MAX_LEN)
        return "it is longer than 1023 bytes";
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '.' || ch == '\0') {
            if (label == 0)
                return "it has an empty label";
            if (label > LABEL_MAX_LEN)
                return "it has a label longer than 63 bytes";
            label = 0;
            continue;
        }
        if (ch >= 0x80)
            return "it is not ASCII (write an international name in its xn-- form)";
        if (ch >= 'A' && ch <= 'Z')
            s[i] = (char)(ch - 'A' + 'a');
        else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return "only letters, digits, '-' and '.' are allowed";
        label++;
    }
    return NULL;
}

/* user@domain with no resource. Lowercases ASCII in both parts (nodeprep folds the
 * localpart's case too); non-ASCII localparts are kept as written. */
static const char *
normalize_bare_jid(char *s)
{
    char *at = strchr(s, '@');
    if (strchr(s, '/') != NULL)
        return "it has a /resource";
    if (at == NULL)
        return "it has no '@'";
    if (at == s)
        return "the part before '@' is empty";
    if ((size_t)(at - s) > LOCAL_MAX_LEN)
        return "the part before '@' is longer than 1023 bytes";
    for (char *p = s; p < at; p++) {
        unsigned char ch = (unsigned char)*p;
        /* RFC 7622 §3.3.1: characters a localpart may not contain. */
        if (ch <= 0x20 || ch == 0x7f || strchr("\"&':<>", ch) != NULL)
            return "the part before '@' has a character a JID may not contain";
        if (ch >= 'A' && ch <= 'Z')
            *p = (char)(ch - 'A' + 'a');
    }
    if (strchr(at + 1, '@') != NULL)
        return "it has more than one '@'";
    return normalize_domain(at + 1);
}

static const char *
list_jid(struct ctx *c, char **s)
{
    (void)c;
    return normalize_bare_jid(*s);
}

/* "address/prefix" or a bare address (all of its bits: /32 or /128), rewritten as
 * inet_ntop(3) text with the prefix always given, so readers split at '/' and need no
 * defaults. Bits past the prefix are kept: they are ignored when matching. */
static const char *
list_network(struct ctx *c, char **s)
{
    char addr[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 4];
    unsigned char bin[sizeof(struct in6_addr)];
    const char *slash = strchr(*s, '/');
    size_t addr_len = slash != NULL ? (size_t)(slash - *s) : strlen(*s);
    if (addr_len == 0)
        return "the address before '/' is missing";
    if (addr_len >= sizeof addr)
        return "it does not start with an IPv4 or IPv6 address";
    memcpy(addr, *s, addr_len);
    addr[addr_len] = '\0';
    int family = AF_INET6, bits = 128;
    if (inet_pton(AF_INET6, addr, bin) != 1) {
        if (inet_pton(AF_INET, addr, bin) != 1)
            return "it does not start with an IPv4 or IPv6 address (host names are not "
                   "accepted)";
        family = AF_INET, bits = 32;
    }
    long long prefix = bits;
    if (slash != NULL) {
        if (!parse_integer(slash + 1, &prefix))
            return "the prefix length after '/' must be a decimal number";
        if (prefix < 0 || prefix > bits)
            return family == AF_INET ? "the prefix length of an IPv4 network must be from 0 to 32"
                                     : "the prefix length of an IPv6 network must be from 0 to 128";
    }
    inet_ntop(family, bin, addr, sizeof addr);
    snprintf(text, sizeof text, "%s/%lld", addr, prefix);
    if (strcmp(text, *s) != 0) {
        char *d = yb_strdup(text);
        if (d == NULL) {
            ctx_oom(c);
            return NULL;
        }
        yb_free(*s);
        *s = d;
    }
    return NULL;
}

/* A localpart as a client would ask to register it. ASCII is lowercased, as nodeprep
 * folds case; other bytes are kept as written. */
static const char *
list_username(struct ctx *c, char **s)
{
    (void)c;
    if (**s == '\0')
        return "it is empty";
    if (strlen(*s) > LOCAL_MAX_LEN)
        return "it is longer than 1023 bytes";
    for (char *p = *s; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '@')
            return "write only the part before '@' (the name is reserved on this host)";
        if (ch == '/')
            return "it has a '/'";
        if (ch <= 0x20 || ch == 0x7f)
            return "it has a space or a control character";
        /* RFC 7622 §3.3.1: no account could have such a name. */
        if (strchr("\"&':<>", ch) != NULL)
            return "it has a character a JID may not contain";
        if (ch >= 'A' && ch <= 'Z')
            *p = (char)(ch - 'A' + 'a');
    }
    return NULL;
}

/* An absolute URI (RFC 3986 §3.1: the scheme is a letter, then letters, digits,
 * '+', '-' or '.'), kept as written: XEP-0157 publishes it to clients as is. */
static const char *
list_uri(struct ctx *c, char **s)
{
    (void)c;
    const char *p = *s, *colon = strchr(p, ':');
    if (colon == NULL)
        return "it has no scheme; write mailto:..., xmpp:... or https://...";
    bool scheme_ok = colon > p && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'));
    for (const char *q = p; q < colon && scheme_ok; q++) {
        unsigned char ch = (unsigned char)*q;
        scheme_ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.';
    }
    if (!scheme_ok)
        return "it does not start with a scheme (letters, then ':'), such as mailto:";
    if (colon[1] == '\0')
        return "nothing follows the scheme";
    for (; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return "it has a space or a control character (write a space as %20)";
    return NULL;
}

/* ---- paths ---- */

static char *
path_join(const char *dir, const char *name)
{
    size_t dlen = strlen(dir), nlen = strlen(name);
    bool slash = dlen > 0 && dir[dlen - 1] != '/';
    char *p = yb_malloc(dlen + slash + nlen + 1);
    if (p != NULL) {
        memcpy(p, dir, dlen);
        if (slash)
            p[dlen] = '/';
        memcpy(p + dlen + slash, name, nlen + 1);
    }
    return p;
}

/* A relative path in the file names something next to the file, whatever the
 * server's working directory is. */
static char *
resolve_path(struct ctx *c, const char *value)
{
    if (value[0] == '/' || c->base_dir == NULL)
        return yb_strdup(value);
    while (value[0] == '.' && value[1] == '/') {
        value += 2;
        while (*value == '/')
            value++;
    }
    if (value[0] == '\0' || strcmp(value, ".") == 0)
        return yb_strdup(c->base_dir);
    return path_join(c->base_dir, value);
}

/* ---- values ---- */

static void parse_mapping(struct ctx *c, const yaml_node_t *node, const struct section *s,
                          void *obj, size_t *lines);
static void parse_hosts(struct ctx *c, const struct key *k, const yaml_node_t *kn,
                        const yaml_node_t *v, void *obj);
static void parse_listeners(struct ctx *c, const struct key *k, const yaml_node_t *kn,
                            const yaml_node_t *v, void *obj);
static void parse_components(struct ctx *c, const struct key *k, const yaml_node_t *kn,
                             const yaml_node_t *v, void *obj);
static void parse_remotes(struct ctx *c, const struct key *k, const yaml_node_t *kn,
                          const yaml_node_t *v, void *obj);

static yaml_node_t *
node_at(struct ctx *c, int index)
{
    return yaml_document_get_node(c->doc, index);
}

static void
parse_list_key(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v,
               void *obj)
{
    const struct list_kind *kind = &list_kinds[k->type];
    if (v->type != YAML_SEQUENCE_NODE) {
        expected(c, k, kn, v);
        return;
    }
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    char **list = yb_calloc(n, sizeof *list);
    if (list == NULL) {
        ctx_oom(c);
        return;
    }
    /* Counted from the start: unfilled slots are NULL, which config_free() accepts. */
    *(char ***)field(obj, k->offset) = list;
    *(size_t *)field(obj, k->count_offset) = n;
    for (size_t i = 0; i < n && !ctx_stop(c); i++) {
        const yaml_node_t *item = node_at(c, v->data.sequence.items.start[i]);
        char got[SHOW_SIZE];
        if (item->type != YAML_SCALAR_NODE || is_null(item) || has_nul(item)) {
            ctx_error(c, item_line(c, item), "key '%s': expected %s, got %s", k->name, kind->item,
                      is_null(item) ? "nothing" : show(got, item));
            continue;
        }
        list[i] = yb_strdup(scalar(item));
        if (list[i] == NULL) {
            ctx_oom(c);
            return;
        }
        const char *why = kind->normalize(c, &list[i]);
        if (why != NULL)
            ctx_error(c, node_line(item), "key '%s': %s is not %s: %s", k->name, show(got, item),
                      kind->item, why);
    }
}

static void
parse_section(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v,
              void *obj)
{
    /* "c2s:" with every line under it commented out means "all defaults". */
    if (is_null(v))
        return;
    if (v->type != YAML_MAPPING_NODE) {
        expected(c, k, kn, v);
        return;
    }
    size_t lines[CONFIG_MAX_KEYS] = {0};
    parse_mapping(c, v, k->nested, obj, lines);
}

static void
parse_scalar(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v,
             void *obj)
{
    const char *s = scalar_value(c, k, kn, v);
    if (s == NULL)
        return;
    size_t line = value_line(kn, v);
    char got[SHOW_SIZE];
    switch (k->type) {
    case KEY_PATH: {
        if (s[0] == '\0') {
            expected(c, k, kn, v);
            return;
        }
        if (s[0] == '~') {
            ctx_error(c, line, "key '%s': %s: '~' is not expanded; write the full path", k->name,
                      show(got, v));
            return;
        }
        char *p = resolve_path(c, s);
        if (p == NULL) {
            ctx_oom(c);
            return;
        }
        set_string(obj, k, p);
        return;
    }
    case KEY_WORD:
    case KEY_ENUM: {
        int i = choice_index(k->choices, s);
        if (i < 0) {
            expected(c, k, kn, v);
        } else if (k->type == KEY_ENUM) {
            set_integer(obj, k, i);
        } else {
            char *d = yb_strdup(s);
            if (d == NULL)
                ctx_oom(c);
            set_string(obj, k, d);
        }
        return;
    }
    case KEY_BOOL: {
        bool b;
        if (parse_bool(s, &b))
            set_integer(obj, k, b);
        else
            expected(c, k, kn, v);
        return;
    }
    case KEY_UNSIGNED:
    case KEY_SIZE:
    case KEY_INT: {
        long long n;
        if (parse_integer(s, &n) && n >= k->min && n <= k->max)
            set_integer(obj, k, n);
        else
            expected(c, k, kn, v);
        return;
    }
    case KEY_DOMAIN: {
        char *d = yb_strdup(s);
        if (d == NULL) {
            ctx_oom(c);
            return;
        }
        const char *why = normalize_domain(d);
        if (why != NULL) {
            ctx_error(c, line, "key '%s': %s is not a valid domain: %s", k->name, show(got, v),
                      why);
            yb_free(d);
            return;
        }
        set_string(obj, k, d);
        return;
    }
    case KEY_STRING: {
        if (s[0] == '\0') {
            expected(c, k, kn, v);
            return;
        }
        char *d = yb_strdup(s);
        if (d == NULL)
            ctx_oom(c);
        set_string(obj, k, d);
        return;
    }
    case KEY_ADDRESS: {
        unsigned char bin[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET6, s, bin) != 1 && inet_pton(AF_INET, s, bin) != 1) {
            expected(c, k, kn, v);
            return;
        }
        char *d = yb_strdup(s);
        if (d == NULL)
            ctx_oom(c);
        set_string(obj, k, d);
        return;
    }
    default:
        assert(!"not a scalar key");
    }
}

static void
parse_value(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v,
            void *obj)
{
    switch (k->type) {
    case KEY_JID_LIST:
    case KEY_CIDR_LIST:
    case KEY_NAME_LIST:
    case KEY_URI_LIST:
        parse_list_key(c, k, kn, v, obj);
        break;
    case KEY_SECTION:
        parse_section(c, k, kn, v, obj);
        break;
    case KEY_HOSTS:
        parse_hosts(c, k, kn, v, obj);
        break;
    case KEY_LISTENERS:
        parse_listeners(c, k, kn, v, obj);
        break;
    case KEY_COMPONENTS:
        parse_components(c, k, kn, v, obj);
        break;
    case KEY_REMOTES:
        parse_remotes(c, k, kn, v, obj);
        break;
    default:
        parse_scalar(c, k, kn, v, obj);
        break;
    }
}

/* ---- mappings ---- */

/* Levenshtein distance, ASCII case-insensitive; long words count as far apart. */
static size_t
distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32)
        return SIZE_MAX;
    size_t row[33];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = strncasecmp(a + i - 1, b + j - 1, 1) != 0;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const struct key *
find_key(const struct section *s, const char *name)
{
    for (size_t i = 0; i < s->n_keys; i++)
        if (strcmp(s->keys[i].name, name) == 0)
            return &s->keys[i];
    return NULL;
}

static void
unknown_key(struct ctx *c, const struct section *s, const yaml_node_t *kn)
{
    const char *name = scalar(kn);
    char shown[SHOW_SIZE], hint[SHOW_SIZE] = "";
    if (strcmp(name, "<<") == 0) {
        snprintf(hint, sizeof hint, " (YAML merge keys are not supported)");
    } else {
        /* One letter off from a key here ("admin" in a host) is a typo of it, even
         * when another section has a key of exactly that name. */
        for (size_t i = 0; i < s->n_keys; i++) {
            if (distance(name, s->keys[i].name) == 1) {
                snprintf(hint, sizeof hint, " (did you mean '%s'?)", s->keys[i].name);
                break;
            }
        }
        for (size_t i = 0; hint[0] == '\0' && i < sizeof all_sections / sizeof all_sections[0];
             i++) {
            if (all_sections[i] != s && find_key(all_sections[i], name) != NULL) {
                snprintf(hint, sizeof hint, " (it belongs %s)", all_sections[i]->where);
                break;
            }
        }
        size_t best = 3;
        for (size_t i = 0; hint[0] == '\0' && i < s->n_keys; i++) {
            size_t d = distance(name, s->keys[i].name);
            if (d < best && d < strlen(name)) {
                best = d;
                snprintf(hint, sizeof hint, " (did you mean '%s'?)", s->keys[i].name);
            }
        }
    }
    ctx_error(c, node_line(kn), "unknown key %s %s%s", show(shown, kn), s->where, hint);
}

/* Fills obj from a mapping according to s. lines[i] gets the line of s->keys[i]. */
static void
parse_mapping(struct ctx *c, const yaml_node_t *node, const struct section *s, void *obj,
              size_t *lines)
{
    assert(node->type == YAML_MAPPING_NODE && s->n_keys <= CONFIG_MAX_KEYS);
    int before = c->n_errors;
    for (const yaml_node_pair_t *p = node->data.mapping.pairs.start;
         p < node->data.mapping.pairs.top && !ctx_stop(c); p++) {
        const yaml_node_t *kn = node_at(c, p->key), *v = node_at(c, p->value);
        if (kn->type != YAML_SCALAR_NODE || has_nul(kn)) {
            ctx_error(c, node_line(kn), "keys must be plain words, not %s",
                      kn->type == YAML_SCALAR_NODE ? "text with a NUL byte" : "a list or mapping");
            continue;
        }
        const struct key *k = find_key(s, scalar(kn));
        if (k == NULL) {
            unknown_key(c, s, kn);
            continue;
        }
        size_t i = (size_t)(k - s->keys);
        /* libyaml keeps both; a silent "last one wins" hides typos in long files. */
        if (lines[i] != 0) {
            ctx_error(c, node_line(kn), "duplicate key '%s' (first at line %zu)", k->name,
                      lines[i]);
            continue;
        }
        lines[i] = node_line(kn);
        parse_value(c, k, kn, v, obj);
    }
    for (size_t i = 0; i < s->n_keys && !ctx_stop(c); i++)
        if (s->keys[i].required && lines[i] == 0)
            ctx_error(c, node_line(node), "missing key '%s' %s", s->keys[i].name, s->where);
    if (c->n_errors == before && s->check != NULL)
        s->check(c, node, obj, lines);
}

static size_t
key_line(const struct section *s, const size_t *lines, const char *name)
{
    const struct key *k = find_key(s, name);
    assert(k != NULL);
    return lines[k - s->keys];
}

static void
host_check(struct ctx *c, const yaml_node_t *node, void *obj, const size_t *lines)
{
    const struct config_host *h = obj;
    (void)node;
    if ((h->certificate == NULL) != (h->key == NULL)) {
        size_t line = key_line(&host_section, lines, h->key ? "key" : "certificate");
        ctx_error(c, line, "host '%s': certificate and key must be given together", h->domain);
    }
    if (h->registration == REGISTRATION_NETWORKS && h->n_registration_networks == 0)
        ctx_error(c, key_line(&host_section, lines, "registration"),
                  "host '%s': registration is 'networks' but registration_networks lists none, "
                  "so nobody could register; list the networks, or set registration to closed",
                  h->domain);
    if (h->registration != REGISTRATION_NETWORKS && h->n_registration_networks > 0)
        ctx_error(c, key_line(&host_section, lines, "registration_networks"),
                  "host '%s': registration_networks is only used with registration: networks "
                  "(here it is '%s', so the list would be ignored); set registration: networks "
                  "or remove the list",
                  h->domain, registrations[h->registration]);
}

static void
listener_check(struct ctx *c, const yaml_node_t *node, void *obj, const size_t *lines)
{
    struct config_listener *l = obj;
    (void)node;
    if (l->kind == LISTENER_COMPONENT) {
        /* XEP-0114 streams are plaintext and a component is normally a local
         * program: the default is 5347 on loopback only. */
        if (l->tls == LISTENER_TLS_DIRECT)
            ctx_error(c, key_line(&listener_section, lines, "tls"),
                      "a component listener takes no tls setting: XEP-0114 streams are "
                      "plaintext; keep the listener on a loopback or private address");
        if (key_line(&listener_section, lines, "address") == 0) {
            char *d = yb_strdup("127.0.0.1");
            if (d == NULL) {
                ctx_oom(c);
                return;
            }
            yb_free(l->address);
            l->address = d;
        }
        if (l->port < 0)
            l->port = 5347;
        return;
    }
    if (l->kind == LISTENER_S2S) {
        if (l->port < 0)
            l->port = l->tls == LISTENER_TLS_DIRECT ? 5270 : 5269;
        return;
    }
    if (l->port < 0)
        l->port = l->tls == LISTENER_TLS_DIRECT ? 5223 : 5222;
}

static void
c2s_check(struct ctx *c, const yaml_node_t *node, void *obj, const size_t *lines)
{
    const struct config *cfg = obj;
    if (cfg->auth_fail_delay_max_ms < cfg->auth_fail_delay_ms) {
        size_t line = key_line(&c2s_section, lines, "auth_fail_delay_max_ms");
        if (line == 0)
            line = key_line(&c2s_section, lines, "auth_fail_delay_ms");
        ctx_error(c, line ? line : node_line(node),
                  "key 'auth_fail_delay_max_ms': %u is less than auth_fail_delay_ms (%u)",
                  cfg->auth_fail_delay_max_ms, cfg->auth_fail_delay_ms);
    }
}

/* ---- lists of mappings ---- */

/* The number of entries of a list, or 0 after reporting that v is not a list. */
static size_t
list_length(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        expected(c, k, kn, v);
        return 0;
    }
    return (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
}

/* Fills array[i] from the i-th mapping of the sequence v, over its section's defaults,
 * then calls each_item on it. The caller allocated the array zeroed and set its count,
 * so config_free() cleans up whatever happens here. */
static void
parse_list(struct ctx *c, const struct key *k, const yaml_node_t *v, void *array, size_t elem_size,
           void (*each_item)(struct ctx *, const yaml_node_t *, void *, const size_t *, void *),
           void *state)
{
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    for (size_t i = 0; i < n && !ctx_stop(c); i++) {
        const yaml_node_t *item = node_at(c, v->data.sequence.items.start[i]);
        void *elem = (char *)array + i * elem_size;
        apply_defaults(c, k->nested, elem);
        if (item->type != YAML_MAPPING_NODE) {
            char got[SHOW_SIZE];
            ctx_error(c, item_line(c, item), "each entry of '%s' must be a mapping, not %s",
                      k->name, is_null(item) ? "nothing" : show(got, item));
            continue;
        }
        size_t lines[CONFIG_MAX_KEYS] = {0};
        int before = c->n_errors;
        parse_mapping(c, item, k->nested, elem, lines);
        if (c->n_errors == before && !c->oom)
            each_item(c, item, elem, lines, state);
    }
}

/* Remembers a name with the line it came from; reports the second one. */
static void
check_unique(struct ctx *c, struct hashmap *seen, const char *name, size_t line, const char *what)
{
    void *first = hashmap_get(seen, name);
    if (first != NULL)
        ctx_error(c, line, "duplicate %s '%s' (first at line %zu)", what, name,
                  (size_t)(uintptr_t)first);
    else if (hashmap_set(seen, name, (void *)(uintptr_t)line) != 0)
        ctx_oom(c);
}

static void
host_item(struct ctx *c, const yaml_node_t *node, void *elem, const size_t *lines, void *state)
{
    const struct config_host *h = elem;
    (void)node;
    check_unique(c, state, h->domain, key_line(&host_section, lines, "domain"), "host");
}

/* A list of mappings that fills an array of struct config: allocates it (count
 * elements of elem_size at *array, n at *count) and parses each item, checking
 * uniqueness with each_item. Returns the number of elements (0: none, or an error). */
static size_t
parse_objects(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v,
              void **array, size_t *count, size_t elem_size,
              void (*each_item)(struct ctx *, const yaml_node_t *, void *, const size_t *, void *))
{
    size_t n = list_length(c, k, kn, v);
    if (n == 0)
        return 0;
    if ((*array = yb_calloc(n, elem_size)) == NULL) {
        ctx_oom(c);
        return 0;
    }
    *count = n;
    struct hashmap seen;
    hashmap_init(&seen);
    parse_list(c, k, v, *array, elem_size, each_item, &seen);
    hashmap_fini(&seen);
    return n;
}

static void
parse_hosts(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v,
            void *obj)
{
    struct config *cfg = obj;
    void *arr = NULL;
    if (parse_objects(c, k, kn, v, &arr, &cfg->n_hosts, sizeof *cfg->hosts, host_item) == 0 &&
        v->type == YAML_SEQUENCE_NODE && v->data.sequence.items.start == v->data.sequence.items.top)
        ctx_error(c, value_line(kn, v), "key 'hosts': at least one host is needed");
    cfg->hosts = arr;
}

static void
listener_item(struct ctx *c, const yaml_node_t *node, void *elem, const size_t *lines, void *state)
{
    const struct config_listener *l = elem;
    (void)lines;
    /* Port 0 asks the system for any free port: never a clash. */
    if (l->port == 0)
        return;
    /* Compare addresses in canonical form, so "::" and "0::0" clash. */
    unsigned char bin[sizeof(struct in6_addr)];
    char text[INET6_ADDRSTRLEN], name[INET6_ADDRSTRLEN + 16];
    int family = inet_pton(AF_INET6, l->address, bin) == 1 ? AF_INET6 : AF_INET;
    if (family == AF_INET)
        inet_pton(AF_INET, l->address, bin);
    inet_ntop(family, bin, text, sizeof text);
    snprintf(name, sizeof name, "[%s]:%d", text, l->port);
    check_unique(c, state, name, node_line(node), "listener");
}

static void
parse_listeners(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v,
                void *obj)
{
    struct config *cfg = obj;
    void *arr = NULL;
    parse_objects(c, k, kn, v, &arr, &cfg->n_listeners, sizeof *cfg->listeners, listener_item);
    cfg->listeners = arr;
}

static void
component_item(struct ctx *c, const yaml_node_t *node, void *elem, const size_t *lines, void *state)
{
    const struct config_component *cc = elem;
    (void)node;
    check_unique(c, state, cc->domain, key_line(&component_section, lines, "domain"), "component");
}

static void
parse_components(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v,
                 void *obj)
{
    struct config *cfg = obj;
    void *arr = NULL;
    parse_objects(c, k, kn, v, &arr, &cfg->n_components, sizeof *cfg->components, component_item);
    cfg->components = arr;
}

static void
remote_check(struct ctx *c, const yaml_node_t *node, void *obj, const size_t *lines)
{
    struct config_remote *r = obj;
    (void)node;
    if (r->port < 0)
        r->port = r->direct_tls ? 5270 : 5269;
    else if (r->host == NULL)
        ctx_error(c, key_line(&remote_section, lines, "port"),
                  "key 'port' needs a 'host' (without one, DNS gives the port)");
}

static void
remote_item(struct ctx *c, const yaml_node_t *node, void *elem, const size_t *lines, void *state)
{
    const struct config_remote *r = elem;
    (void)node;
    check_unique(c, state, r->domain, key_line(&remote_section, lines, "domain"), "remote");
}

static void
parse_remotes(struct ctx *c, const struct key *k, const yaml_node_t *kn, const yaml_node_t *v,
              void *obj)
{
    struct config *cfg = obj;
    void *arr = NULL;
    parse_objects(c, k, kn, v, &arr, &cfg->n_remotes, sizeof *cfg->remotes, remote_item);
    cfg->remotes = arr;
}

/* Once the hosts are known: a component may not take a host's domain (the router
 * would never reach it). */
static void
check_components(struct ctx *c, const struct config *cfg, const size_t *lines)
{
    for (size_t i = 0; i < cfg->n_components; i++)
        if (config_find_host(cfg, cfg->components[i].domain) != NULL)
            ctx_error(c, key_line(&top_section, lines, "components"),
                      "component '%s' is also a host; a component needs a domain of its own "
                      "(e.g. a subdomain such as irc.%s)",
                      cfg->components[i].domain, cfg->components[i].domain);
}

/* ---- the document ---- */

static void
syntax_error(struct ctx *c, const yaml_parser_t *p, const char *yaml, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR) {
        ctx_oom(c);
        return;
    }
    size_t line = p->problem_mark.line + 1;
    if (p->error == YAML_READER_ERROR) {
        /* Encoding errors carry a byte offset, not a mark. */
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += yaml[i] == '\n';
    }
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->context != NULL)
        ctx_error(c, line, "YAML syntax error: %s (%s at line %zu)", problem, p->context,
                  p->context_mark.line + 1);
    else
        ctx_error(c, line, "YAML syntax error: %s", problem);
}

/* libyaml's scanner does work proportional to the flow nesting depth for every token,
 * so a megabyte of "[[[[" takes many minutes to load as a document. Walk the events
 * first, which stops a few hundred bytes past the limit. Reports syntax errors too. */
static bool
check_depth(struct ctx *c, const char *yaml, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t event;
    bool ok = true;
    int depth = 0;
    if (!yaml_parser_initialize(&parser)) {
        ctx_oom(c);
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    for (bool end = false; !end;) {
        if (!yaml_parser_parse(&parser, &event)) {
            syntax_error(c, &parser, yaml, len);
            ok = false;
            break;
        }
        switch (event.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > CONFIG_MAX_DEPTH) {
                ctx_error(c, event.start_mark.line + 1, "nested deeper than %d levels",
                          CONFIG_MAX_DEPTH);
                ok = false;
                end = true;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_STREAM_END_EVENT:
            end = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    return ok;
}

static void
parse_document(struct ctx *c, const char *yaml, size_t len, void *cfg, size_t *lines)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!check_depth(c, yaml, len))
        return;
    if (!yaml_parser_initialize(&parser)) {
        ctx_oom(c);
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(c, &parser, yaml, len);
        yaml_parser_delete(&parser);
        return;
    }
    c->doc = &doc;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    /* An empty file, one with only comments, or a bare "---": all defaults. */
    if (root != NULL && !is_null(root)) {
        if (root->type == YAML_MAPPING_NODE)
            parse_mapping(c, root, &top_section, cfg, lines);
        else
            ctx_error(c, node_line(root), "expected a mapping of settings (key: value), not %s",
                      root->type == YAML_SEQUENCE_NODE ? "a list" : "a single value");
    }
    yaml_document_delete(&doc);
    c->doc = NULL;
    if (c->n_errors == 0 && root != NULL) {
        if (!yaml_parser_load(&parser, &doc)) {
            syntax_error(c, &parser, yaml, len);
        } else {
            const yaml_node_t *second = yaml_document_get_root_node(&doc);
            if (second != NULL)
                ctx_error(c, node_line(second), "only one YAML document is allowed");
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&parser);
}

static struct config_host *
add_default_host(struct ctx *c, struct config *cfg)
{
    cfg->hosts = yb_calloc(1, sizeof *cfg->hosts);
    if (cfg->hosts == NULL) {
        ctx_oom(c);
        return NULL;
    }
    cfg->n_hosts = 1;
    apply_defaults(c, &host_section, &cfg->hosts[0]);
    cfg->hosts[0].domain = yb_strdup("localhost");
    if (cfg->hosts[0].domain == NULL)
        ctx_oom(c);
    return &cfg->hosts[0];
}

static void
add_default_listeners(struct ctx *c, struct config *cfg)
{
    cfg->listeners = yb_calloc(2, sizeof *cfg->listeners);
    if (cfg->listeners == NULL) {
        ctx_oom(c);
        return;
    }
    cfg->n_listeners = 2;
    for (size_t i = 0; i < 2; i++) {
        apply_defaults(c, &listener_section, &cfg->listeners[i]);
        cfg->listeners[i].tls = i == 0 ? LISTENER_TLS_STARTTLS : LISTENER_TLS_DIRECT;
        cfg->listeners[i].port = i == 0 ? 5222 : 5223;
    }
}

/* The defaults that depend on other keys, once the whole file is read. */
static void
finish(struct ctx *c, struct config *cfg, const size_t *lines)
{
    if (cfg->database == NULL && (cfg->database = path_join(cfg->data_dir, "yerba.sqlite")) == NULL)
        ctx_oom(c);
    if (cfg->admin_socket == NULL &&
        (cfg->admin_socket = path_join(cfg->data_dir, "yerbad.sock")) == NULL)
        ctx_oom(c);
    if (c->oom)
        return;
    /* bind(2) fails later, with a worse message, on a path that does not fit. */
    size_t sock_len = strlen(cfg->admin_socket);
    if (sock_len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        size_t line = key_line(&top_section, lines, "admin_socket");
        char shown[SHOW_SIZE];
        ctx_error(c, line ? line : key_line(&top_section, lines, "data_dir"),
                  "admin_socket %s is longer than %zu bytes, the limit for a Unix socket%s",
                  show_bytes(shown, cfg->admin_socket, sock_len),
                  sizeof(((struct sockaddr_un *)0)->sun_path) - 1,
                  line ? "" : "; set admin_socket to a shorter path");
    }
    if (key_line(&top_section, lines, "hosts") == 0)
        add_default_host(c, cfg);
    if (key_line(&top_section, lines, "listeners") == 0)
        add_default_listeners(c, cfg);
    check_components(c, cfg, lines);
}

struct config *
config_load_string(const char *yaml, size_t len, const char *name, struct buf *err)
{
    struct ctx c = {
        .name = name != NULL ? name : "<string>", .text = yaml, .text_len = len, .err = err};
    size_t lines[CONFIG_MAX_KEYS] = {0};
    struct config *cfg = yb_calloc(1, sizeof *cfg);
    if (cfg == NULL) {
        ctx_oom(&c);
        return NULL;
    }
    if (name != NULL) {
        const char *slash = strrchr(name, '/');
        if ((cfg->path = yb_strdup(name)) == NULL ||
            (slash != NULL &&
             (c.base_dir = yb_strndup(name, slash == name ? 1 : (size_t)(slash - name))) == NULL))
            ctx_oom(&c);
    }
    if (!c.oom)
        apply_defaults(&c, &top_section, cfg);
    if (c.oom)
        goto fail;
    if (len > CONFIG_MAX_BYTES)
        ctx_error(&c, 0, "larger than %d bytes; is this the right file?", CONFIG_MAX_BYTES);
    else
        parse_document(&c, yaml, len, cfg, lines);
    if (c.n_errors == 0)
        finish(&c, cfg, lines);
    if (c.n_errors != 0)
        goto fail;
    yb_free(c.base_dir);
    return cfg;
fail:
    yb_free(c.base_dir);
    config_free(cfg);
    return NULL;
}

struct config *
config_load(const char *path, struct buf *err)
{
    if (path == NULL)
        return config_load_string("", 0, NULL, err);
    struct buf data = BUF_INIT;
    struct config *cfg = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (err != NULL)
            buf_printf(err, "%s: cannot open: %s\n", path, strerror(errno));
        return NULL;
    }
    /* Read one byte past the limit so config_load_string() sees "too large". */
    while (data.len <= CONFIG_MAX_BYTES) {
        if (buf_reserve(&data, 64 * 1024) != 0) {
            if (err != NULL)
                buf_printf(err, "%s: out of memory\n", path);
            goto out;
        }
        size_t n = fread(data.data + data.len, 1, data.cap - data.len - 1, f);
        data.len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        if (err != NULL)
            buf_printf(err, "%s: cannot read: %s\n", path, strerror(errno));
        goto out;
    }
    cfg = config_load_string(data.data != NULL ? data.data : "", data.len, path, err);
out:
    fclose(f);
    buf_fini(&data);
    return cfg;
}

/* Frees what the keys of s own in obj, as the tables say, so a new key cannot be
 * forgotten here. Unset strings and lists are NULL; a list's count covers every slot. */
static void
free_fields(const struct section *s, void *obj)
{
    for (size_t i = 0; i < s->n_keys; i++) {
        const struct key *k = &s->keys[i];
        switch (k->type) {
        case KEY_PATH:
        case KEY_WORD:
        case KEY_DOMAIN:
        case KEY_ADDRESS:
        case KEY_STRING:
            yb_free(*(char **)field(obj, k->offset));
            break;
        case KEY_JID_LIST:
        case KEY_CIDR_LIST:
        case KEY_NAME_LIST:
        case KEY_URI_LIST: {
            char **list = *(char ***)field(obj, k->offset);
            size_t n = *(size_t *)field(obj, k->count_offset);
            for (size_t j = 0; j < n; j++)
                yb_free(list[j]);
            yb_free(list);
            break;
        }
        case KEY_SECTION:
            free_fields(k->nested, obj);
            break;
        case KEY_HOSTS: {
            struct config *cfg = obj;
            for (size_t j = 0; j < cfg->n_hosts; j++)
                free_fields(k->nested, &cfg->hosts[j]);
            yb_free(cfg->hosts);
            break;
        }
        case KEY_LISTENERS: {
            struct config *cfg = obj;
            for (size_t j = 0; j < cfg->n_listeners; j++)
                free_fields(k->nested, &cfg->listeners[j]);
            yb_free(cfg->listeners);
            break;
        }
        case KEY_COMPONENTS: {
            struct config *cfg = obj;
            for (size_t j = 0; j < cfg->n_components; j++) {
                struct config_component *cc = &cfg->components[j];
                if (cc->secret != NULL)
                    memset(cc->secret, 0, strlen(cc->secret));
                free_fields(k->nested, cc);
            }
            yb_free(cfg->components);
            break;
        }
        case KEY_REMOTES: {
            struct config *cfg = obj;
            for (size_t j = 0; j < cfg->n_remotes; j++)
                free_fields(k->nested, &cfg->remotes[j]);
            yb_free(cfg->remotes);
            break;
        }
        case KEY_ENUM:
        case KEY_BOOL:
        case KEY_UNSIGNED:
        case KEY_SIZE:
        case KEY_INT:
            break;
        }
    }
}

void
config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    free_fields(&top_section, cfg);
    yb_free(cfg->path);
    yb_free(cfg);
}

const struct config_host *
config_find_host(const struct config *cfg, const char *domain)
{
    assert(cfg != NULL && domain != NULL);
    for (size_t i = 0; i < cfg->n_hosts; i++)
        if (strcasecmp(cfg->hosts[i].domain, domain) == 0)
            return &cfg->hosts[i];
    return NULL;
}

const struct config_component *
config_find_component(const struct config *cfg, const char *domain)
{
    assert(cfg != NULL && domain != NULL);
    for (size_t i = 0; i < cfg->n_components; i++)
        if (strcasecmp(cfg->components[i].domain, domain) == 0)
            return &cfg->components[i];
    return NULL;
}

const struct config_remote *
config_find_remote(const struct config *cfg, const char *domain)
{
    assert(cfg != NULL && domain != NULL);
    for (size_t i = 0; i < cfg->n_remotes; i++)
        if (strcasecmp(cfg->remotes[i].domain, domain) == 0)
            return &cfg->remotes[i];
    return NULL;
}
