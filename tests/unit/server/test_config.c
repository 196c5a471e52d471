/* SPDX-License-Identifier: MIT
 *
 * test_config.c: the configuration loader (src/server/config.c): embedded defaults,
 * a full file, every class of error with its "file:line:", relative paths, the
 * shipped yerba.example.yaml, and allocation failures at every step.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "config.h"
#include "test.h"

/* A temporary directory holding at most a few files, removed by tmp_fini(). */
struct tmp {
    char dir[64];
    char files[4][160];
    size_t n_files;
    char subdir[160];
};

static bool
tmp_init(struct tmp *t)
{
    memset(t, 0, sizeof *t);
    strcpy(t->dir, "/tmp/yerba-test-config-XXXXXX");
    return mkdtemp(t->dir) != NULL;
}

/* Writes text to dir/name (name may be "sub/x.yaml": sub is created) and returns
 * the path, valid until tmp_fini(). */
static const char *
tmp_write(struct tmp *t, const char *name, const char *text)
{
    const char *slash = strchr(name, '/');
    if (slash != NULL) {
        snprintf(t->subdir, sizeof t->subdir, "%s/%.*s", t->dir, (int)(slash - name), name);
        mkdir(t->subdir, 0700);
    }
    if (t->n_files == sizeof t->files / sizeof t->files[0])
        return NULL;
    char path[sizeof t->files[0]];
    snprintf(path, sizeof path, "%s/%s", t->dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return NULL;
    fputs(text, f);
    fclose(f);
    return strcpy(t->files[t->n_files++], path);
}

static void
tmp_fini(struct tmp *t)
{
    for (size_t i = 0; i < t->n_files; i++)
        unlink(t->files[i]);
    if (t->subdir[0] != '\0')
        rmdir(t->subdir);
    rmdir(t->dir);
}

static struct config *
load(const char *yaml, struct buf *err)
{
    return config_load_string(yaml, strlen(yaml), "t.yaml", err);
}

/* Loading yaml must fail with want somewhere in the messages. */
#define ASSERT_LOAD_ERROR(yaml, want)                                                              \
    do {                                                                                           \
        struct buf err_ = BUF_INIT;                                                                \
        struct config *cfg_ = load((yaml), &err_);                                                 \
        bool ok_ = cfg_ == NULL && err_.data != NULL && strstr(err_.data, (want)) != NULL;         \
        config_free(cfg_);                                                                         \
        if (!ok_) {                                                                                \
            fprintf(stderr, "%s:%d: %s: wanted \"%s\", got: %s\n", __FILE__, __LINE__,             \
                    test__current, (want), err_.data ? err_.data : "(no error)\n");                \
            test__failed = 1;                                                                      \
        }                                                                                          \
        buf_fini(&err_);                                                                           \
    } while (0)

static void
check_defaults_except_paths(const struct config *cfg)
{
    ASSERT_STR_EQ(cfg->log_level, "info");
    ASSERT_EQ(cfg->io_threads, 0);
    ASSERT_EQ(cfg->n_hosts, 1);
    ASSERT_STR_EQ(cfg->hosts[0].domain, "localhost");
    ASSERT_NULL(cfg->hosts[0].certificate);
    ASSERT_NULL(cfg->hosts[0].key);
    ASSERT_EQ(cfg->hosts[0].n_admins, 0);
    ASSERT_EQ(cfg->hosts[0].offline_quota, 1000);
    ASSERT_EQ(cfg->hosts[0].resource_conflict, CONFLICT_REPLACE);
    ASSERT_EQ(cfg->hosts[0].max_resources, 10);
    ASSERT_EQ(cfg->hosts[0].registration, REGISTRATION_CLOSED);
    ASSERT_EQ(cfg->hosts[0].n_registration_networks, 0);
    ASSERT_EQ(cfg->hosts[0].n_reserved_usernames, 0);
    ASSERT_EQ(cfg->hosts[0].registrations_per_hour, 5);
    ASSERT_EQ(cfg->hosts[0].n_contact_abuse, 0);
    ASSERT_EQ(cfg->hosts[0].n_contact_admin, 0);
    ASSERT_EQ(cfg->hosts[0].n_contact_feedback, 0);
    ASSERT_EQ(cfg->hosts[0].n_contact_sales, 0);
    ASSERT_EQ(cfg->hosts[0].n_contact_security, 0);
    ASSERT_EQ(cfg->hosts[0].n_contact_support, 0);
    ASSERT_EQ(cfg->hosts[0].vcard_max_size, 65536);
    ASSERT_EQ(cfg->n_listeners, 2);
    ASSERT_EQ(cfg->listeners[0].kind, LISTENER_C2S);
    ASSERT_EQ(cfg->listeners[0].tls, LISTENER_TLS_STARTTLS);
    ASSERT_STR_EQ(cfg->listeners[0].address, "::");
    ASSERT_EQ(cfg->listeners[0].port, 5222);
    ASSERT_EQ(cfg->listeners[1].kind, LISTENER_C2S);
    ASSERT_EQ(cfg->listeners[1].tls, LISTENER_TLS_DIRECT);
    ASSERT_STR_EQ(cfg->listeners[1].address, "::");
    ASSERT_EQ(cfg->listeners[1].port, 5223);
    ASSERT_TRUE(cfg->require_tls);
    ASSERT_TRUE(cfg->allow_plain);
    ASSERT_EQ(cfg->scram_iterations, 4096);
    ASSERT_EQ(cfg->auth_timeout_s, 30);
    ASSERT_EQ(cfg->max_stanza_bytes, 262144);
    ASSERT_EQ(cfg->max_output_bytes, 1048576);
    ASSERT_EQ(cfg->auth_fail_delay_ms, 250);
    ASSERT_EQ(cfg->auth_fail_delay_max_ms, 8000);
    ASSERT_EQ(cfg->ping_interval_s, 300);
    ASSERT_EQ(cfg->ping_timeout_s, 60);
    ASSERT_FALSE(cfg->compression);
    ASSERT_FALSE(cfg->hide_version);
    ASSERT_EQ(cfg->max_connections_per_address, 50);
    ASSERT_EQ(cfg->connections_per_minute, 300);
    ASSERT_EQ(cfg->connection_burst, 100);
    ASSERT_EQ(cfg->max_unauthenticated_streams, 2000);
    ASSERT_EQ(cfg->account_max_failures, 10);
    ASSERT_EQ(cfg->account_block_s, 300);
    ASSERT_EQ(cfg->stanzas_per_second, 200);
    ASSERT_EQ(cfg->stanza_burst, 2000);
    ASSERT_EQ(cfg->bytes_per_second, 1048576);
    ASSERT_EQ(cfg->byte_burst, 16777216);
    ASSERT_EQ(cfg->max_roster_items, 1000);
    ASSERT_EQ(cfg->max_xml_depth, 64);
    ASSERT_EQ(cfg->max_attributes, 64);
    ASSERT_EQ(cfg->max_stream_header_bytes, 8192);
}

TEST(defaults_without_file)
{
    struct buf err = BUF_INIT;
    struct config *cfg = config_load(NULL, &err);
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(err.len, 0);
    ASSERT_NULL(cfg->path);
    ASSERT_STR_EQ(cfg->data_dir, "./yerba-data");
    ASSERT_STR_EQ(cfg->database, "./yerba-data/yerba.sqlite");
    ASSERT_STR_EQ(cfg->admin_socket, "./yerba-data/yerbad.sock");
    check_defaults_except_paths(cfg);
    config_free(cfg);
    buf_fini(&err);
}

/* Nothing to read is not an error: every key is optional. */
TEST(empty_documents_give_defaults)
{
    static const char *const texts[] = {"", "# only a comment\n", "---\n", "--- ~\n", "\n\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct buf err = BUF_INIT;
        struct config *cfg = load(texts[i], &err);
        ASSERT_NOT_NULL(cfg);
        ASSERT_EQ(err.len, 0);
        ASSERT_STR_EQ(cfg->path, "t.yaml");
        ASSERT_STR_EQ(cfg->data_dir, "./yerba-data");
        check_defaults_except_paths(cfg);
        config_free(cfg);
        buf_fini(&err);
    }
}

TEST(empty_file_gives_defaults)
{
    struct tmp t;
    ASSERT_TRUE(tmp_init(&t));
    const char *path = tmp_write(&t, "empty.yaml", "");
    struct buf err = BUF_INIT;
    struct config *cfg = config_load(path, &err);
    ASSERT_NOT_NULL(cfg);
    ASSERT_STR_EQ(cfg->path, path);
    check_defaults_except_paths(cfg);
    config_free(cfg);
    buf_fini(&err);
    tmp_fini(&t);
}

static const char full_yaml[] = "# a full configuration\n"
                                "data_dir: /var/lib/yerba\n"
                                "database: /var/lib/yerba/db.sqlite\n"
                                "admin_socket: /run/yerba/ctl.sock\n"
                                "log_level: debug\n"
                                "io_threads: 4\n"
                                "hide_version: yes\n"
                                "hosts:\n"
                                "  - domain: Example.COM.\n"
                                "    certificate: /etc/yerba/example.crt\n"
                                "    key: /etc/yerba/example.key\n"
                                "    admins: [Alice@Example.com, bob@example.com]\n"
                                "    offline_quota: 0\n"
                                "    resource_conflict: refuse\n"
                                "    max_resources: 3\n"
                                "    registration: networks\n"
                                "    registration_networks: [10.0.0.0/8, 127.0.0.1, "
                                "'FD00:0::/8', '::1', 0.0.0.0/0]\n"
                                "    reserved_usernames: [Admin, root, 'h\xc3\xa9']\n"
                                "    registrations_per_hour: 0\n"
                                "    contact:\n"
                                "      abuse: [mailto:abuse@example.com, "
                                "'https://example.com/abuse']\n"
                                "      admin: [xmpp:admin@example.com]\n"
                                "      security: ['mailto:security@example.com']\n"
                                "    vcard_max_size: 1024\n"
                                "  - domain: chat.example.org\n"
                                "listeners:\n"
                                "  - type: c2s\n"
                                "    tls: direct\n"
                                "    address: 127.0.0.1\n"
                                "    port: 5300\n"
                                "  - {type: c2s, address: '::1', port: 0}\n"
                                "  - {type: c2s, address: '::1', port: 0}\n"
                                "  - type: c2s\n"
                                "c2s:\n"
                                "  require_tls: no\n"
                                "  allow_plain: off\n"
                                "  scram_iterations: \"10000\"\n"
                                "  auth_timeout: 60\n"
                                "  max_stanza_size: 65536\n"
                                "  max_output_size: 2097152\n"
                                "  auth_fail_delay_ms: 100\n"
                                "  auth_fail_delay_max_ms: 100\n"
                                "  ping_interval: 0\n"
                                "  ping_timeout: 3600\n"
                                "  compression: true\n";

static void
check_full(const struct config *cfg)
{
    ASSERT_STR_EQ(cfg->data_dir, "/var/lib/yerba");
    ASSERT_STR_EQ(cfg->database, "/var/lib/yerba/db.sqlite");
    ASSERT_STR_EQ(cfg->admin_socket, "/run/yerba/ctl.sock");
    ASSERT_STR_EQ(cfg->log_level, "debug");
    ASSERT_EQ(cfg->io_threads, 4);

    ASSERT_EQ(cfg->n_hosts, 2);
    const struct config_host *h = &cfg->hosts[0];
    ASSERT_STR_EQ(h->domain, "example.com");
    ASSERT_STR_EQ(h->certificate, "/etc/yerba/example.crt");
    ASSERT_STR_EQ(h->key, "/etc/yerba/example.key");
    ASSERT_EQ(h->n_admins, 2);
    ASSERT_STR_EQ(h->admins[0], "alice@example.com");
    ASSERT_STR_EQ(h->admins[1], "bob@example.com");
    ASSERT_EQ(h->offline_quota, 0);
    ASSERT_EQ(h->resource_conflict, CONFLICT_REFUSE);
    ASSERT_EQ(h->max_resources, 3);
    ASSERT_EQ(h->registration, REGISTRATION_NETWORKS);
    ASSERT_EQ(h->n_registration_networks, 5);
    ASSERT_STR_EQ(h->registration_networks[0], "10.0.0.0/8");
    ASSERT_STR_EQ(h->registration_networks[1], "127.0.0.1/32");
    ASSERT_STR_EQ(h->registration_networks[2], "fd00::/8");
    ASSERT_STR_EQ(h->registration_networks[3], "::1/128");
    ASSERT_STR_EQ(h->registration_networks[4], "0.0.0.0/0");
    ASSERT_EQ(h->n_reserved_usernames, 3);
    ASSERT_STR_EQ(h->reserved_usernames[0], "admin");
    ASSERT_STR_EQ(h->reserved_usernames[1], "root");
    ASSERT_STR_EQ(h->reserved_usernames[2], "h\xc3\xa9");
    ASSERT_EQ(h->registrations_per_hour, 0);
    ASSERT_EQ(h->n_contact_abuse, 2);
    ASSERT_STR_EQ(h->contact_abuse[0], "mailto:abuse@example.com");
    ASSERT_STR_EQ(h->contact_abuse[1], "https://example.com/abuse");
    ASSERT_EQ(h->n_contact_admin, 1);
    ASSERT_STR_EQ(h->contact_admin[0], "xmpp:admin@example.com");
    ASSERT_EQ(h->n_contact_feedback, 0);
    ASSERT_EQ(h->n_contact_sales, 0);
    ASSERT_EQ(h->n_contact_security, 1);
    ASSERT_STR_EQ(h->contact_security[0], "mailto:security@example.com");
    ASSERT_EQ(h->n_contact_support, 0);
    ASSERT_EQ(h->vcard_max_size, 1024);
    h = &cfg->hosts[1];
    ASSERT_STR_EQ(h->domain, "chat.example.org");
    ASSERT_NULL(h->certificate);
    ASSERT_EQ(h->n_admins, 0);
    ASSERT_EQ(h->offline_quota, 1000);
    ASSERT_EQ(h->resource_conflict, CONFLICT_REPLACE);
    ASSERT_EQ(h->max_resources, 10);
    ASSERT_EQ(h->registration, REGISTRATION_CLOSED);
    ASSERT_EQ(h->n_registration_networks, 0);
    ASSERT_EQ(h->registrations_per_hour, 5);
    ASSERT_EQ(h->n_contact_abuse, 0);
    ASSERT_EQ(h->vcard_max_size, 65536);

    ASSERT_EQ(cfg->n_listeners, 4);
    ASSERT_EQ(cfg->listeners[0].tls, LISTENER_TLS_DIRECT);
    ASSERT_STR_EQ(cfg->listeners[0].address, "127.0.0.1");
    ASSERT_EQ(cfg->listeners[0].port, 5300);
    /* Port 0 twice is no clash: each gets its own free port. */
    ASSERT_EQ(cfg->listeners[1].tls, LISTENER_TLS_STARTTLS);
    ASSERT_STR_EQ(cfg->listeners[1].address, "::1");
    ASSERT_EQ(cfg->listeners[1].port, 0);
    ASSERT_EQ(cfg->listeners[2].port, 0);
    /* The port follows tls when absent. */
    ASSERT_STR_EQ(cfg->listeners[3].address, "::");
    ASSERT_EQ(cfg->listeners[3].port, 5222);

    ASSERT_FALSE(cfg->require_tls);
    ASSERT_FALSE(cfg->allow_plain);
    ASSERT_EQ(cfg->scram_iterations, 10000);
    ASSERT_EQ(cfg->auth_timeout_s, 60);
    ASSERT_EQ(cfg->max_stanza_bytes, 65536);
    ASSERT_EQ(cfg->max_output_bytes, 2097152);
    ASSERT_EQ(cfg->auth_fail_delay_ms, 100);
    ASSERT_EQ(cfg->auth_fail_delay_max_ms, 100);
    ASSERT_EQ(cfg->ping_interval_s, 0);
    ASSERT_EQ(cfg->ping_timeout_s, 3600);
    ASSERT_TRUE(cfg->compression);
    ASSERT_TRUE(cfg->hide_version);

    ASSERT_TRUE(config_find_host(cfg, "example.com") == &cfg->hosts[0]);
    ASSERT_TRUE(config_find_host(cfg, "CHAT.example.org") == &cfg->hosts[1]);
    ASSERT_NULL(config_find_host(cfg, "localhost"));
    ASSERT_NULL(config_find_host(cfg, "example"));
}

TEST(full_file)
{
    struct tmp t;
    ASSERT_TRUE(tmp_init(&t));
    const char *path = tmp_write(&t, "yerba.yaml", full_yaml);
    struct buf err = BUF_INIT;
    struct config *cfg = config_load(path, &err);
    if (cfg == NULL)
        fprintf(stderr, "%s", err.data);
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(err.len, 0);
    ASSERT_STR_EQ(cfg->path, path);
    check_full(cfg);
    config_free(cfg);
    buf_fini(&err);
    tmp_fini(&t);
}

TEST(relative_paths_follow_the_file)
{
    struct tmp t;
    ASSERT_TRUE(tmp_init(&t));
    const char *path = tmp_write(&t, "etc/yerba.yaml",
                                 "data_dir: data\n"
                                 "database: ./db/x.sqlite\n"
                                 "admin_socket: /tmp/abs.sock\n"
                                 "hosts:\n"
                                 "  - domain: a.example\n"
                                 "    certificate: .//certs/a.crt\n"
                                 "    key: ../keys/a.key\n");
    char want[256];
    struct buf err = BUF_INIT;
    struct config *cfg = config_load(path, &err);
    ASSERT_NOT_NULL(cfg);
    snprintf(want, sizeof want, "%s/etc/data", t.dir);
    ASSERT_STR_EQ(cfg->data_dir, want);
    snprintf(want, sizeof want, "%s/etc/db/x.sqlite", t.dir);
    ASSERT_STR_EQ(cfg->database, want);
    ASSERT_STR_EQ(cfg->admin_socket, "/tmp/abs.sock");
    snprintf(want, sizeof want, "%s/etc/certs/a.crt", t.dir);
    ASSERT_STR_EQ(cfg->hosts[0].certificate, want);
    snprintf(want, sizeof want, "%s/etc/../keys/a.key", t.dir);
    ASSERT_STR_EQ(cfg->hosts[0].key, want);
    config_free(cfg);
    buf_fini(&err);
    tmp_fini(&t);
}

/* Derived defaults follow data_dir; the built-in data_dir stays relative to the cwd. */
TEST(derived_paths)
{
    struct buf err = BUF_INIT;
    struct config *cfg = config_load_string("data_dir: d/\n", 12, "/etc/y/y.yaml", &err);
    ASSERT_NOT_NULL(cfg);
    ASSERT_STR_EQ(cfg->data_dir, "/etc/y/d/");
    ASSERT_STR_EQ(cfg->database, "/etc/y/d/yerba.sqlite");
    ASSERT_STR_EQ(cfg->admin_socket, "/etc/y/d/yerbad.sock");
    config_free(cfg);

    cfg = config_load_string("data_dir: .\n", 12, "/y.yaml", &err);
    ASSERT_NOT_NULL(cfg);
    ASSERT_STR_EQ(cfg->data_dir, "/");
    ASSERT_STR_EQ(cfg->database, "/yerba.sqlite");
    config_free(cfg);

    cfg = config_load_string("log_level: warn\n", 16, "/etc/y/y.yaml", &err);
    ASSERT_NOT_NULL(cfg);
    ASSERT_STR_EQ(cfg->data_dir, "./yerba-data");
    ASSERT_STR_EQ(cfg->database, "./yerba-data/yerba.sqlite");
    config_free(cfg);

    /* A name without a directory leaves relative paths relative to the cwd. */
    cfg = config_load_string("data_dir: d\n", 12, "y.yaml", &err);
    ASSERT_NOT_NULL(cfg);
    ASSERT_STR_EQ(cfg->data_dir, "d");
    config_free(cfg);
    ASSERT_EQ(err.len, 0);
    buf_fini(&err);
}

/* The shipped example must load, and what it spells out must be the real defaults. */
TEST(example_file_is_valid)
{
    struct buf err = BUF_INIT;
    struct config *cfg = config_load("../../../yerba.example.yaml", &err);
    if (cfg == NULL)
        fprintf(stderr, "%s", err.data ? err.data : "");
    ASSERT_NOT_NULL(cfg);
    ASSERT_STR_EQ(cfg->data_dir, "../../../yerba-data");
    ASSERT_STR_EQ(cfg->database, "../../../yerba-data/yerba.sqlite");
    ASSERT_STR_EQ(cfg->admin_socket, "../../../yerba-data/yerbad.sock");
    check_defaults_except_paths(cfg);
    config_free(cfg);
    buf_fini(&err);
}

TEST(missing_file)
{
    struct buf err = BUF_INIT;
    ASSERT_NULL(config_load("/nonexistent/yerba.yaml", &err));
    ASSERT_NOT_NULL(strstr(err.data, "/nonexistent/yerba.yaml: cannot open: "));
    buf_fini(&err);

    struct tmp t;
    ASSERT_TRUE(tmp_init(&t));
    ASSERT_NULL(config_load(t.dir, &err));
    ASSERT_NOT_NULL(strstr(err.data, "cannot read"));
    buf_fini(&err);
    tmp_fini(&t);
}

TEST(unknown_keys)
{
    ASSERT_LOAD_ERROR("log_level: info\nfoo: 1\n", "t.yaml:2: unknown key 'foo' at the top level");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    quota: 5\n",
                      "t.yaml:3: unknown key 'quota' in hosts");
    ASSERT_LOAD_ERROR("listeners:\n  - type: c2s\n    bind: '::'\n",
                      "t.yaml:3: unknown key 'bind' in listeners");
    ASSERT_LOAD_ERROR("c2s:\n  require_tls: true\n  tls: true\n",
                      "t.yaml:3: unknown key 'tls' in c2s (it belongs in listeners)");
    ASSERT_LOAD_ERROR("c2s:\n  requre_tls: true\n",
                      "t.yaml:2: unknown key 'requre_tls' in c2s (did you mean 'require_tls'?)");
    ASSERT_LOAD_ERROR("require_tls: false\n",
                      "t.yaml:1: unknown key 'require_tls' at the top level (it belongs in c2s)");
    ASSERT_LOAD_ERROR("Data_Dir: x\n", "(did you mean 'data_dir'?)");
    ASSERT_LOAD_ERROR("base: &b {log_level: info}\n<<: *b\n", "merge keys are not supported");
    ASSERT_LOAD_ERROR("\"a\\x01b\": 1\n", "unknown key 'a\\x01b'");
    ASSERT_LOAD_ERROR("? [a]\n: 1\n", "t.yaml:1: keys must be plain words");
}

TEST(type_errors)
{
    ASSERT_LOAD_ERROR(
        "listeners:\n  - type: c2s\n    port: abc\n",
        "t.yaml:3: key 'port': expected a decimal integer from 0 to 65535, got 'abc'");
    ASSERT_LOAD_ERROR("io_threads: [1]\n", "t.yaml:1: key 'io_threads': expected a decimal "
                                           "integer from 0 to 64, got a list");
    ASSERT_LOAD_ERROR("io_threads: 010\n", "t.yaml:1: key 'io_threads': expected a decimal");
    ASSERT_LOAD_ERROR("io_threads: 0x10\n", "got '0x10'");
    ASSERT_LOAD_ERROR("io_threads: 1.5\n", "got '1.5'");
    ASSERT_LOAD_ERROR("c2s:\n  require_tls: maybe\n",
                      "t.yaml:2: key 'require_tls': expected true or false");
    ASSERT_LOAD_ERROR("log_level: verbose\n",
                      "t.yaml:1: key 'log_level': expected one of debug, info, warn, error, got "
                      "'verbose'");
    ASSERT_LOAD_ERROR("listeners:\n  - type: bosh\n",
                      "t.yaml:2: key 'type': expected one of c2s, component, s2s");
    ASSERT_LOAD_ERROR("listeners:\n  - {type: c2s, tls: yes}\n", "key 'tls': expected one of "
                                                                 "starttls, direct, got 'yes'");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    resource_conflict: kick\n",
                      "t.yaml:3: key 'resource_conflict': expected one of replace, refuse");
    ASSERT_LOAD_ERROR("listeners:\n  - {type: c2s, address: localhost}\n",
                      "t.yaml:2: key 'address': expected an IPv4 or IPv6 address, got 'localhost'");
    ASSERT_LOAD_ERROR("hosts: example.com\n", "t.yaml:1: key 'hosts': expected a list of hosts");
    ASSERT_LOAD_ERROR("hosts:\n  - example.com\n",
                      "t.yaml:2: each entry of 'hosts' must be a mapping, not 'example.com'");
    ASSERT_LOAD_ERROR("listeners: {type: c2s}\n", "key 'listeners': expected a list of listeners");
    ASSERT_LOAD_ERROR("c2s: [require_tls]\n",
                      "t.yaml:1: key 'c2s': expected a mapping, got a list");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    admins: alice@a.example\n",
                      "t.yaml:3: key 'admins': expected a list of bare JIDs");
    ASSERT_LOAD_ERROR("data_dir: {a: b}\n", "key 'data_dir': expected a path, got a mapping");
    ASSERT_LOAD_ERROR("data_dir: ''\n", "key 'data_dir': expected a path, got ''");
    ASSERT_LOAD_ERROR("data_dir: ~/yerba\n", "t.yaml:1: key 'data_dir': '~/yerba': '~' is not "
                                             "expanded");
    ASSERT_LOAD_ERROR("data_dir: \"a\\0b\"\n", "t.yaml:1: key 'data_dir': the value contains a "
                                               "NUL byte");
    ASSERT_LOAD_ERROR("- a\n- b\n", "t.yaml:1: expected a mapping of settings");
    ASSERT_LOAD_ERROR("just words\n", "t.yaml:1: expected a mapping of settings");
}

/* "key:" with nothing after it is YAML's null; blame the key's line, not the next. */
TEST(null_values)
{
    ASSERT_LOAD_ERROR("data_dir:\nlog_level: info\n",
                      "t.yaml:1: key 'data_dir': expected a path, got nothing");
    ASSERT_LOAD_ERROR("log_level: ~\n", "t.yaml:1: key 'log_level': expected one of");
    ASSERT_LOAD_ERROR("hosts:\n", "t.yaml:1: key 'hosts': expected a list of hosts");
    ASSERT_LOAD_ERROR("listeners: null\n", "key 'listeners': expected a list");
    ASSERT_LOAD_ERROR("hosts:\n  -\n", "t.yaml:2: each entry of 'hosts' must be a mapping, not "
                                       "nothing");
    ASSERT_LOAD_ERROR("hosts:\n  -\nc2s:\n", "t.yaml:2: each entry of 'hosts' must be a mapping");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n  -\n  # comment\n\n  - domain: b.example\n",
                      "t.yaml:3: each entry of 'hosts' must be a mapping, not nothing");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    admins:\n      - a@b\n      -\n"
                      "listeners: []\n",
                      "t.yaml:5: key 'admins': expected a bare JID (user@domain), got nothing");
    ASSERT_LOAD_ERROR("hosts: [{domain: a.example}, , {domain: b.example}]\n",
                      "t.yaml:1: YAML syntax error");
    ASSERT_LOAD_ERROR("hosts:\n  - {domain: a.example, admins: [a@b, ~]}\n",
                      "t.yaml:2: key 'admins': expected a bare JID (user@domain), got nothing");
    /* Quoted, "null" is a string. */
    struct buf err = BUF_INIT;
    struct config *cfg = load("data_dir: 'null'\nc2s:\n", &err);
    ASSERT_NOT_NULL(cfg);
    ASSERT_STR_EQ(cfg->data_dir, "null");
    ASSERT_TRUE(cfg->require_tls);
    config_free(cfg);
    buf_fini(&err);
}

TEST(range_errors)
{
    ASSERT_LOAD_ERROR("io_threads: 65\n", "t.yaml:1: key 'io_threads': expected a decimal integer "
                                          "from 0 to 64, got '65'");
    ASSERT_LOAD_ERROR("io_threads: -1\n", "got '-1'");
    ASSERT_LOAD_ERROR("io_threads: 99999999999999999999999999\n", "from 0 to 64");
    ASSERT_LOAD_ERROR("listeners:\n  - type: c2s\n    port: 65536\n",
                      "t.yaml:3: key 'port': expected a decimal integer from 0 to 65535");
    ASSERT_LOAD_ERROR("c2s:\n  scram_iterations: 4095\n",
                      "t.yaml:2: key 'scram_iterations': expected a decimal integer from 4096 to "
                      "1000000");
    ASSERT_LOAD_ERROR("c2s:\n  auth_timeout: 0\n", "key 'auth_timeout': expected a decimal "
                                                   "integer from 1 to 3600");
    ASSERT_LOAD_ERROR("c2s:\n  max_stanza_size: 1023\n", "from 1024 to 16777216");
    ASSERT_LOAD_ERROR("c2s:\n  max_output_size: 1073741825\n", "from 65536 to 1073741824");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    max_resources: 0\n",
                      "t.yaml:3: key 'max_resources': expected a decimal integer from 1");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    offline_quota: -5\n",
                      "key 'offline_quota': expected a decimal integer from 0");
    ASSERT_LOAD_ERROR("c2s:\n  auth_fail_delay_ms: 500\n  auth_fail_delay_max_ms: 400\n",
                      "t.yaml:3: key 'auth_fail_delay_max_ms': 400 is less than "
                      "auth_fail_delay_ms (500)");
    ASSERT_LOAD_ERROR("c2s:\n  auth_fail_delay_ms: 9000\n",
                      "t.yaml:2: key 'auth_fail_delay_max_ms': 8000 is less than");
}

TEST(bad_domains)
{
    ASSERT_LOAD_ERROR("hosts:\n  - domain: ''\n", "t.yaml:2: key 'domain': '' is not a valid "
                                                  "domain: it is empty");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a b\n", "'a b' is not a valid domain: only letters");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a@b\n", "'a@b' is not a valid domain");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a/b\n", "'a/b' is not a valid domain");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a..b\n", "it has an empty label");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: .\n", "it has an empty label");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: caf\xc3\xa9.example\n",
                      "'caf\\xc3\\xa9.example' is not a valid domain: it is not ASCII");
    char yaml[1200] = "hosts:\n  - domain: ";
    memset(yaml + strlen(yaml), 'a', 64);
    strcat(yaml, ".example\n");
    ASSERT_LOAD_ERROR(yaml, "it has a label longer than 63 bytes");
    strcpy(yaml, "hosts:\n  - domain: ");
    for (int i = 0; i < 16; i++)
        strcat(yaml, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");
    strcat(yaml, "x\n");
    ASSERT_LOAD_ERROR(yaml, "it is longer than 1023 bytes");
}

TEST(bad_admins)
{
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    admins:\n      - alice\n",
                      "t.yaml:4: key 'admins': 'alice' is not a bare JID (user@domain): it has no "
                      "'@'");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    admins: [a@a.example/res]\n",
                      "it has a /resource");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    admins: ['@a.example']\n",
                      "the part before '@' is empty");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    admins: [a@b@c]\n", "more than one '@'");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    admins: ['a b@c']\n",
                      "a character a JID may not contain");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    admins: ['a@']\n", "it is empty");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    admins: [[a@b]]\n",
                      "key 'admins': expected a bare JID (user@domain), got a list");
}

TEST(duplicates)
{
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n  - domain: b.example\n"
                      "  - domain: A.Example.\n",
                      "t.yaml:4: duplicate host 'a.example' (first at line 2)");
    ASSERT_LOAD_ERROR("listeners:\n  - {type: c2s, port: 5222}\n"
                      "  - {type: c2s, address: '0::0'}\n",
                      "t.yaml:3: duplicate listener '[::]:5222' (first at line 2)");
    ASSERT_LOAD_ERROR("listeners:\n  - {type: c2s, address: 10.0.0.1, port: 7}\n"
                      "  - {type: c2s, address: 10.0.0.1, port: 7, tls: direct}\n",
                      "duplicate listener '[10.0.0.1]:7'");
    ASSERT_LOAD_ERROR("log_level: info\nio_threads: 1\nlog_level: warn\n",
                      "t.yaml:3: duplicate key 'log_level' (first at line 1)");
    ASSERT_LOAD_ERROR("c2s: {auth_timeout: 5, auth_timeout: 6}\n", "duplicate key 'auth_timeout'");
}

TEST(required_and_paired_keys)
{
    ASSERT_LOAD_ERROR("hosts:\n  - certificate: a.crt\n    key: a.key\n",
                      "t.yaml:2: missing key 'domain' in hosts");
    ASSERT_LOAD_ERROR("listeners:\n  - port: 5222\n", "t.yaml:2: missing key 'type' in listeners");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    certificate: a.crt\n",
                      "t.yaml:3: host 'a.example': certificate and key must be given together");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    max_resources: 2\n    key: a.key\n",
                      "t.yaml:4: host 'a.example': certificate and key must be given together");
    ASSERT_LOAD_ERROR("hosts: []\n", "t.yaml:1: key 'hosts': at least one host is needed");
}

TEST(empty_listener_list)
{
    struct buf err = BUF_INIT;
    struct config *cfg = load("listeners: []\n", &err);
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(cfg->n_listeners, 0);
    config_free(cfg);
    buf_fini(&err);
}

TEST(yaml_syntax_errors)
{
    ASSERT_LOAD_ERROR("log_level: info\nhosts:\n  - domain: a\n   bad: [\n",
                      "t.yaml:4: YAML syntax error: ");
    ASSERT_LOAD_ERROR("a: b\nc: d: e\n", "t.yaml:2: YAML syntax error: mapping values are not "
                                         "allowed in this context");
    ASSERT_LOAD_ERROR("log_level: \"info\n", "YAML syntax error: found unexpected end of stream");
    ASSERT_LOAD_ERROR("log_level: *nowhere\n",
                      "t.yaml:1: YAML syntax error: found undefined alias");
    /* Bad UTF-8 is reported by offset; the line is counted from it. */
    ASSERT_LOAD_ERROR("log_level: info\nio_threads: 1\ndata_dir: \xff\n",
                      "t.yaml:3: YAML syntax error: invalid leading UTF-8 octet");
    ASSERT_LOAD_ERROR("log_level: info\n---\nlog_level: warn\n",
                      "t.yaml:3: only one YAML document is allowed");
}

/* Deep flow nesting is slow in libyaml: refused before the document is built. */
TEST(deep_nesting)
{
    ASSERT_LOAD_ERROR("hosts: [{domain: a, admins: [[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]}]\n",
                      "t.yaml:1: nested deeper than 16 levels");
    size_t depth = 200000;
    char *yaml = malloc(2 * depth + 8);
    ASSERT_NOT_NULL(yaml);
    memcpy(yaml, "a: ", 3);
    memset(yaml + 3, '[', depth);
    memset(yaml + 3 + depth, ']', depth);
    strcpy(yaml + 3 + 2 * depth, "\n");
    ASSERT_LOAD_ERROR(yaml, "t.yaml:1: nested deeper than 16 levels");
    free(yaml);
}

TEST(several_errors_are_reported)
{
    struct buf err = BUF_INIT;
    ASSERT_NULL(load("io_threads: 100\nlog_level: loud\nc2s:\n  auth_timeout: 0\n", &err));
    ASSERT_NOT_NULL(strstr(err.data, "t.yaml:1: key 'io_threads'"));
    ASSERT_NOT_NULL(strstr(err.data, "t.yaml:2: key 'log_level'"));
    ASSERT_NOT_NULL(strstr(err.data, "t.yaml:4: key 'auth_timeout'"));
    buf_fini(&err);

    struct buf yaml = BUF_INIT;
    for (int i = 0; i < 50; i++)
        buf_printf(&yaml, "bad%d: 1\n", i);
    ASSERT_NULL(load(yaml.data, &err));
    ASSERT_NOT_NULL(strstr(err.data, "t.yaml:20: unknown key 'bad19'"));
    ASSERT_NULL(strstr(err.data, "bad20"));
    ASSERT_NOT_NULL(strstr(err.data, "t.yaml: too many errors"));
    buf_fini(&err);
    buf_fini(&yaml);
}

/* Loads yaml, which must be valid; the caller frees the result. */
static struct config *
load_ok(const char *yaml)
{
    struct buf err = BUF_INIT;
    struct config *cfg = load(yaml, &err);
    if (cfg == NULL)
        fprintf(stderr, "%s", err.data ? err.data : "");
    buf_fini(&err);
    return cfg;
}

TEST(registration)
{
    struct config *cfg = load_ok("hosts:\n  - domain: a.example\n    registration: open\n"
                                 "    registrations_per_hour: 100000\n"
                                 "    registration_networks: []\n");
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(cfg->hosts[0].registration, REGISTRATION_OPEN);
    ASSERT_EQ(cfg->hosts[0].registrations_per_hour, 100000);
    ASSERT_EQ(cfg->hosts[0].n_registration_networks, 0);
    config_free(cfg);

    /* Canonical text: IPv6 compressed and lowercased, the prefix always written. */
    cfg = load_ok("hosts:\n  - domain: a.example\n    registration: networks\n"
                  "    registration_networks:\n      - 192.168.1.10/24\n"
                  "      - '2001:DB8:0:0::/32'\n      - ::/0\n      - \"::ffff:10.0.0.1\"\n"
                  "      - 10.1.2.3/32\n");
    ASSERT_NOT_NULL(cfg);
    const struct config_host *h = &cfg->hosts[0];
    ASSERT_EQ(h->n_registration_networks, 5);
    ASSERT_STR_EQ(h->registration_networks[0], "192.168.1.10/24");
    ASSERT_STR_EQ(h->registration_networks[1], "2001:db8::/32");
    ASSERT_STR_EQ(h->registration_networks[2], "::/0");
    ASSERT_STR_EQ(h->registration_networks[3], "::ffff:10.0.0.1/128");
    ASSERT_STR_EQ(h->registration_networks[4], "10.1.2.3/32");
    config_free(cfg);
}

TEST(registration_errors)
{
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: yes\n",
                      "t.yaml:3: key 'registration': expected one of closed, open, networks, got "
                      "'yes'");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    max_resources: 2\n"
                      "    registration: networks\n",
                      "t.yaml:4: host 'a.example': registration is 'networks' but "
                      "registration_networks lists none");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks: []\n",
                      "t.yaml:3: host 'a.example': registration is 'networks' but");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: open\n"
                      "    registration_networks: [10.0.0.0/8]\n",
                      "t.yaml:4: host 'a.example': registration_networks is only used with "
                      "registration: networks (here it is 'open', so the list would be ignored)");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration_networks: ['::1']\n",
                      "t.yaml:3: host 'a.example': registration_networks is only used with "
                      "registration: networks (here it is 'closed'");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks:\n      - 10.0.0.0/8\n      - 10.0.0.0/33\n",
                      "t.yaml:6: key 'registration_networks': '10.0.0.0/33' is not a network "
                      "(address/prefix): the prefix length of an IPv4 network must be from 0 "
                      "to 32");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks: ['fd00::/129']\n",
                      "t.yaml:4: key 'registration_networks': 'fd00::/129' is not a network "
                      "(address/prefix): the prefix length of an IPv6 network must be from 0 "
                      "to 128");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks: [10.0.0.0/-1]\n",
                      "must be from 0 to 32");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks: [10.0.0.0/08]\n",
                      "'10.0.0.0/08' is not a network (address/prefix): the prefix length after "
                      "'/' must be a decimal number");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks: [10.0.0.0/]\n",
                      "must be a decimal number");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks: [10.0.0/8]\n",
                      "t.yaml:4: key 'registration_networks': '10.0.0/8' is not a network "
                      "(address/prefix): it does not start with an IPv4 or IPv6 address");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks: [localhost]\n",
                      "host names are not accepted");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks: [/8]\n",
                      "the address before '/' is missing");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks: ['10.0.0.0/8/8']\n",
                      "must be a decimal number");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks: 10.0.0.0/8\n",
                      "t.yaml:4: key 'registration_networks': expected a list of networks "
                      "(address/prefix");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registration: networks\n"
                      "    registration_networks:\n      -\n",
                      "t.yaml:5: key 'registration_networks': expected a network "
                      "(address/prefix), got nothing");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registrations_per_hour: 100001\n",
                      "t.yaml:3: key 'registrations_per_hour': expected a decimal integer from 0 "
                      "to 100000");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    registrations_per_hour: -1\n",
                      "t.yaml:3: key 'registrations_per_hour': expected a decimal integer");
}

TEST(reserved_usernames)
{
    struct config *cfg =
        load_ok("hosts:\n  - domain: a.example\n    reserved_usernames: [ROOT, 'no', '123']\n");
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(cfg->hosts[0].n_reserved_usernames, 3);
    ASSERT_STR_EQ(cfg->hosts[0].reserved_usernames[0], "root");
    ASSERT_STR_EQ(cfg->hosts[0].reserved_usernames[1], "no");
    ASSERT_STR_EQ(cfg->hosts[0].reserved_usernames[2], "123");
    config_free(cfg);

    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    reserved_usernames:\n"
                      "      - admin@a.example\n",
                      "t.yaml:4: key 'reserved_usernames': 'admin@a.example' is not a username: "
                      "write only the part before '@'");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    reserved_usernames: ['']\n",
                      "t.yaml:3: key 'reserved_usernames': '' is not a username: it is empty");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    reserved_usernames: ['a b']\n",
                      "'a b' is not a username: it has a space or a control character");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    reserved_usernames: [\"a\\tb\"]\n",
                      "'a\\x09b' is not a username: it has a space");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    reserved_usernames: [a/b]\n",
                      "'a/b' is not a username: it has a '/'");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    reserved_usernames: ['a<b']\n",
                      "it has a character a JID may not contain");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    reserved_usernames: [[root]]\n",
                      "key 'reserved_usernames': expected a username, got a list");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    reserved_usernames: root\n",
                      "t.yaml:3: key 'reserved_usernames': expected a list of usernames");
    char yaml[1200] = "hosts:\n  - domain: a.example\n    reserved_usernames: [";
    memset(yaml + strlen(yaml), 'a', 1024);
    strcat(yaml, "]\n");
    ASSERT_LOAD_ERROR(yaml, "is not a username: it is longer than 1023 bytes");
}

TEST(contact)
{
    struct config *cfg = load_ok("hosts:\n  - domain: a.example\n    contact:\n"
                                 "      feedback: ['https://a.example/feedback?x=1']\n"
                                 "      sales: [tel:+1-201-555-0123]\n"
                                 "      support: [xmpp:support@a.example?join, "
                                 "MAILTO:help@a.example]\n"
                                 "  - domain: b.example\n    contact:\n");
    ASSERT_NOT_NULL(cfg);
    const struct config_host *h = &cfg->hosts[0];
    ASSERT_EQ(h->n_contact_feedback, 1);
    ASSERT_STR_EQ(h->contact_feedback[0], "https://a.example/feedback?x=1");
    ASSERT_EQ(h->n_contact_sales, 1);
    ASSERT_STR_EQ(h->contact_sales[0], "tel:+1-201-555-0123");
    ASSERT_EQ(h->n_contact_support, 2);
    ASSERT_STR_EQ(h->contact_support[1], "MAILTO:help@a.example");
    ASSERT_EQ(h->n_contact_abuse, 0);
    /* "contact:" with nothing under it: no addresses, as with c2s. */
    ASSERT_EQ(cfg->hosts[1].n_contact_support, 0);
    config_free(cfg);

    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    contact:\n"
                      "      abuse: [abuse@a.example]\n",
                      "t.yaml:4: key 'abuse': 'abuse@a.example' is not a URI (scheme:...): it has "
                      "no scheme; write mailto:");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    contact:\n"
                      "      admin:\n        - xmpp:a@a.example\n        - ':x'\n",
                      "t.yaml:6: key 'admin': ':x' is not a URI (scheme:...): it does not start "
                      "with a scheme");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    contact: {sales: ['1http:x']}\n",
                      "it does not start with a scheme");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    contact: {sales: ['mail to:x']}\n",
                      "it does not start with a scheme");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    contact: {security: ['mailto:']}\n",
                      "'mailto:' is not a URI (scheme:...): nothing follows the scheme");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    contact: {support: ['https://a b']}\n",
                      "it has a space or a control character (write a space as %20)");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    contact:\n      abuse: mailto:a@b\n",
                      "t.yaml:4: key 'abuse': expected a list of URIs");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    contact:\n      legal: [mailto:a@b]\n",
                      "t.yaml:4: unknown key 'legal' in contact");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    contact: [mailto:a@b]\n",
                      "t.yaml:3: key 'contact': expected a mapping, got a list");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    abuse: [mailto:a@b]\n",
                      "t.yaml:3: unknown key 'abuse' in hosts (it belongs in contact)");
    /* One letter from a host key is a typo, though contact has an "admin". */
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    admin: [a@a.example]\n",
                      "t.yaml:3: unknown key 'admin' in hosts (did you mean 'admins'?)");
}

TEST(new_ranges)
{
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    vcard_max_size: 1023\n",
                      "t.yaml:3: key 'vcard_max_size': expected a decimal integer from 1024 to "
                      "16777216");
    ASSERT_LOAD_ERROR("hosts:\n  - domain: a.example\n    vcard_max_size: 16777217\n",
                      "from 1024 to 16777216");
    ASSERT_LOAD_ERROR("c2s:\n  ping_interval: 86401\n",
                      "t.yaml:2: key 'ping_interval': expected a decimal integer from 0 to 86400");
    ASSERT_LOAD_ERROR("c2s:\n  ping_timeout: 0\n",
                      "t.yaml:2: key 'ping_timeout': expected a decimal integer from 1 to 3600");
    ASSERT_LOAD_ERROR("c2s:\n  ping_timeout: 3601\n", "from 1 to 3600, got '3601'");
    ASSERT_LOAD_ERROR("c2s:\n  compression: zlib\n",
                      "t.yaml:2: key 'compression': expected true or false");
    ASSERT_LOAD_ERROR("hide_version: 1\n", "t.yaml:1: key 'hide_version': expected true or false");
    ASSERT_LOAD_ERROR("compression: true\n",
                      "t.yaml:1: unknown key 'compression' at the top level (it belongs in c2s)");

    struct config *cfg = load_ok("hide_version: on\nc2s:\n  ping_interval: 86400\n"
                                 "  ping_timeout: 1\n  compression: no\n"
                                 "hosts:\n  - domain: a.example\n    vcard_max_size: 16777216\n");
    ASSERT_NOT_NULL(cfg);
    ASSERT_TRUE(cfg->hide_version);
    ASSERT_EQ(cfg->ping_interval_s, 86400);
    ASSERT_EQ(cfg->ping_timeout_s, 1);
    ASSERT_FALSE(cfg->compression);
    ASSERT_EQ(cfg->hosts[0].vcard_max_size, 16777216);
    config_free(cfg);
}

TEST(limits)
{
    struct config *cfg = load_ok("limits:\n"
                                 "  max_connections_per_address: 0\n"
                                 "  connections_per_minute: 6\n"
                                 "  connection_burst: 1\n"
                                 "  max_unauthenticated_streams: 3\n"
                                 "  account_max_failures: 0\n"
                                 "  account_block: 86400\n"
                                 "  stanzas_per_second: 0\n"
                                 "  stanza_burst: 10000000\n"
                                 "  bytes_per_second: 1073741824\n"
                                 "  byte_burst: 1024\n"
                                 "  max_roster_items: 0\n"
                                 "  max_xml_depth: 4\n"
                                 "  max_attributes: 1024\n"
                                 "  max_stream_header_size: 512\n");
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(cfg->max_connections_per_address, 0);
    ASSERT_EQ(cfg->connections_per_minute, 6);
    ASSERT_EQ(cfg->connection_burst, 1);
    ASSERT_EQ(cfg->max_unauthenticated_streams, 3);
    ASSERT_EQ(cfg->account_max_failures, 0);
    ASSERT_EQ(cfg->account_block_s, 86400);
    ASSERT_EQ(cfg->stanzas_per_second, 0);
    ASSERT_EQ(cfg->stanza_burst, 10000000);
    ASSERT_EQ(cfg->bytes_per_second, 1073741824);
    ASSERT_EQ(cfg->byte_burst, 1024);
    ASSERT_EQ(cfg->max_roster_items, 0);
    ASSERT_EQ(cfg->max_xml_depth, 4);
    ASSERT_EQ(cfg->max_attributes, 1024);
    ASSERT_EQ(cfg->max_stream_header_bytes, 512);
    /* Untouched c2s keys keep their defaults. */
    ASSERT_EQ(cfg->max_stanza_bytes, 262144);
    config_free(cfg);

    /* An empty section is all defaults. */
    cfg = load_ok("limits:\n");
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(cfg->max_connections_per_address, 50);
    ASSERT_EQ(cfg->max_stream_header_bytes, 8192);
    config_free(cfg);

    ASSERT_LOAD_ERROR("limits:\n  connection_burst: 0\n",
                      "t.yaml:2: key 'connection_burst': expected a decimal integer from 1 to "
                      "1000000");
    ASSERT_LOAD_ERROR("limits:\n  account_block: 0\n", "from 1 to 86400");
    ASSERT_LOAD_ERROR("limits:\n  stanza_burst: 0\n", "from 1 to 10000000");
    ASSERT_LOAD_ERROR("limits:\n  byte_burst: 1023\n", "from 1024 to 1073741824");
    ASSERT_LOAD_ERROR("limits:\n  max_xml_depth: 3\n", "from 4 to 1024");
    ASSERT_LOAD_ERROR("limits:\n  max_attributes: 1025\n", "from 8 to 1024");
    ASSERT_LOAD_ERROR("limits:\n  max_stream_header_size: 511\n", "from 512 to 65536");
    ASSERT_LOAD_ERROR("limits:\n  max_roster_items: -1\n", "key 'max_roster_items'");
    ASSERT_LOAD_ERROR("limits:\n  stanzas_per_second: fast\n", "key 'stanzas_per_second'");
    ASSERT_LOAD_ERROR("limits:\n  max_stanza_size: 4096\n",
                      "t.yaml:2: unknown key 'max_stanza_size' in limits (it belongs in c2s)");
    ASSERT_LOAD_ERROR("c2s:\n  max_roster_items: 5\n",
                      "t.yaml:2: unknown key 'max_roster_items' in c2s (it belongs in limits)");
    ASSERT_LOAD_ERROR("max_xml_depth: 5\n",
                      "unknown key 'max_xml_depth' at the top level (it belongs in limits)");
    ASSERT_LOAD_ERROR("limits: 5\n", "t.yaml:1: key 'limits'");
}

TEST(booleans)
{
    static const struct {
        const char *text;
        bool value;
    } cases[] = {{"true", true},   {"True", true},   {"yes", true}, {"on", true},  {"'on'", true},
                 {"false", false}, {"FALSE", false}, {"no", false}, {"off", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[64];
        snprintf(yaml, sizeof yaml, "c2s:\n  allow_plain: %s\n", cases[i].text);
        struct buf err = BUF_INIT;
        struct config *cfg = load(yaml, &err);
        ASSERT_NOT_NULL(cfg);
        ASSERT_EQ(cfg->allow_plain, cases[i].value);
        config_free(cfg);
        buf_fini(&err);
    }
    ASSERT_LOAD_ERROR("c2s:\n  allow_plain: 1\n", "key 'allow_plain': expected true or false");
    ASSERT_LOAD_ERROR("c2s:\n  allow_plain: y\n", "got 'y'");
}

/* The key decides a value's type, so YAML's readings of "no" or "1.0" do not matter. */
TEST(values_are_read_by_key_type)
{
    struct buf err = BUF_INIT;
    struct config *cfg = load("hosts:\n  - domain: no\n  - domain: 1.0\n"
                              "    admins: [yes@on]\n",
                              &err);
    ASSERT_NOT_NULL(cfg);
    ASSERT_STR_EQ(cfg->hosts[0].domain, "no");
    ASSERT_STR_EQ(cfg->hosts[1].domain, "1.0");
    ASSERT_STR_EQ(cfg->hosts[1].admins[0], "yes@on");
    config_free(cfg);
    buf_fini(&err);
}

TEST(anchors_and_aliases)
{
    struct buf err = BUF_INIT;
    struct config *cfg = load("hosts:\n"
                              "  - domain: a.example\n"
                              "    admins: &admins [root@a.example]\n"
                              "  - domain: b.example\n"
                              "    admins: *admins\n",
                              &err);
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(cfg->hosts[1].n_admins, 1);
    ASSERT_STR_EQ(cfg->hosts[1].admins[0], "root@a.example");
    ASSERT_TRUE(cfg->hosts[0].admins[0] != cfg->hosts[1].admins[0]);
    config_free(cfg);
    buf_fini(&err);
    /* A list that contains itself is refused by the schema, not followed forever. */
    ASSERT_LOAD_ERROR("hosts: &h [*h]\n", "each entry of 'hosts' must be a mapping, not a list");
    ASSERT_LOAD_ERROR("hosts: [&h {domain: a.example}, *h]\n", "duplicate host 'a.example'");
}

TEST(admin_socket_length)
{
    char yaml[256];
    snprintf(yaml, sizeof yaml, "admin_socket: /%0120d\n", 0);
    ASSERT_LOAD_ERROR(yaml, "t.yaml:1: admin_socket '/000");
    snprintf(yaml, sizeof yaml, "data_dir: /%0110d\n", 0);
    ASSERT_LOAD_ERROR(yaml, "the limit for a Unix socket; set admin_socket");
}

TEST(too_large)
{
    size_t len = 1024 * 1024 + 1;
    char *yaml = malloc(len);
    ASSERT_NOT_NULL(yaml);
    memset(yaml, '#', len);
    struct buf err = BUF_INIT;
    ASSERT_NULL(config_load_string(yaml, len, "big.yaml", &err));
    ASSERT_NOT_NULL(strstr(err.data, "big.yaml: larger than"));
    buf_fini(&err);
    free(yaml);
}

TEST(s2s)
{
    struct buf err = BUF_INIT;
    struct config *cfg = load("listeners:\n  - {type: s2s}\n  - {type: s2s, tls: direct}\n"
                              "s2s:\n  require_tls: false\n  dns_servers: '127.0.0.1:5353'\n"
                              "  idle_timeout: 60\n  remotes:\n"
                              "    - {domain: B.Example, host: 127.0.0.1, port: 5299, "
                              "trust: self-signed, auth: dialback}\n"
                              "    - {domain: c.example, direct_tls: true}\n",
                              &err);
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(cfg->n_listeners, 2);
    ASSERT_EQ(cfg->listeners[0].kind, LISTENER_S2S);
    ASSERT_EQ(cfg->listeners[0].port, 5269);
    ASSERT_EQ(cfg->listeners[1].port, 5270);
    ASSERT_TRUE(cfg->s2s_enabled);
    ASSERT_FALSE(cfg->s2s_require_tls);
    ASSERT_STR_EQ(cfg->s2s_dns_servers, "127.0.0.1:5353");
    ASSERT_EQ(cfg->s2s_idle_timeout_s, 60);
    ASSERT_EQ(cfg->s2s_connect_timeout_s, 30);
    ASSERT_EQ(cfg->s2s_max_queue, 1000);
    const struct config_remote *r = config_find_remote(cfg, "b.example");
    ASSERT_NOT_NULL(r);
    ASSERT_STR_EQ(r->host, "127.0.0.1");
    ASSERT_EQ(r->port, 5299);
    ASSERT_EQ(r->trust, S2S_TRUST_SELF_SIGNED);
    ASSERT_EQ(r->auth, S2S_AUTH_DIALBACK);
    ASSERT_TRUE(r->require_tls);
    r = config_find_remote(cfg, "C.EXAMPLE");
    ASSERT_NOT_NULL(r);
    ASSERT_NULL(r->host);
    ASSERT_EQ(r->port, 5270);
    ASSERT_EQ(r->trust, S2S_TRUST_CA);
    ASSERT_NULL(config_find_remote(cfg, "d.example"));
    config_free(cfg);
    buf_fini(&err);
    ASSERT_LOAD_ERROR("s2s:\n  remotes:\n    - {domain: b.example, port: 5299}\n",
                      "t.yaml:3: key 'port' needs a 'host'");
    ASSERT_LOAD_ERROR("s2s:\n  remotes:\n    - {domain: b.example, trust: maybe}\n",
                      "key 'trust': expected one of ca, self-signed, dialback");
    ASSERT_LOAD_ERROR("s2s:\n  remotes:\n    - {domain: b.example}\n    - {domain: B.example}\n",
                      "duplicate remote 'b.example'");
    ASSERT_LOAD_ERROR("s2s:\n  connect_timeout: 1\n", "connect_timeout");
    ASSERT_LOAD_ERROR("s2s:\n  remotes:\n    - {host: 127.0.0.1}\n", "missing key 'domain'");
}

TEST(find_host)
{
    struct config *cfg = config_load(NULL, NULL);
    ASSERT_NOT_NULL(cfg);
    ASSERT_TRUE(config_find_host(cfg, "localhost") == &cfg->hosts[0]);
    ASSERT_TRUE(config_find_host(cfg, "LocalHost") == &cfg->hosts[0]);
    ASSERT_NULL(config_find_host(cfg, "localhost.localdomain"));
    ASSERT_NULL(config_find_host(cfg, ""));
    config_free(cfg);
    config_free(NULL);
}

/* Every allocation may fail: the loader must return NULL (saying so) or a complete
 * config, and leak nothing (LeakSanitizer checks the latter). */
TEST(allocation_failures)
{
    static const char *const texts[] = {
        full_yaml, "hosts: [{domain: a.example, admins: [x@y]}]\n", "io_threads: 99\nfoo: 1\n", "",
        "hosts: [{domain: a.example, registration: networks, registration_networks: ['::1', "
        "10.0.0.1/8], contact: {abuse: [mailto:a@b]}, reserved_usernames: [A]}]\n"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        bool done = false;
        for (long n = 0; n < 10000 && !done; n++) {
            struct buf err = BUF_INIT;
            yb_alloc_fail_after(n);
            struct config *cfg = config_load_string(texts[t], strlen(texts[t]), "t.yaml", &err);
            yb_alloc_fail_after(-1);
            if (cfg != NULL) {
                if (t == 0)
                    check_full(cfg);
                done = true;
            } else if (err.data != NULL && strstr(err.data, "out of memory") == NULL) {
                done = t == 2; /* that text fails for its own reasons once memory suffices */
                ASSERT_TRUE(done);
            }
            config_free(cfg);
            buf_fini(&err);
        }
        ASSERT_TRUE(done);
    }
}

TEST_MAIN(TEST_CASE(defaults_without_file), TEST_CASE(empty_documents_give_defaults),
          TEST_CASE(empty_file_gives_defaults), TEST_CASE(full_file),
          TEST_CASE(relative_paths_follow_the_file), TEST_CASE(derived_paths),
          TEST_CASE(example_file_is_valid), TEST_CASE(missing_file), TEST_CASE(unknown_keys),
          TEST_CASE(type_errors), TEST_CASE(null_values), TEST_CASE(range_errors),
          TEST_CASE(limits), TEST_CASE(bad_domains), TEST_CASE(bad_admins), TEST_CASE(duplicates),
          TEST_CASE(required_and_paired_keys), TEST_CASE(empty_listener_list),
          TEST_CASE(yaml_syntax_errors), TEST_CASE(deep_nesting),
          TEST_CASE(several_errors_are_reported), TEST_CASE(registration),
          TEST_CASE(registration_errors), TEST_CASE(reserved_usernames), TEST_CASE(contact),
          TEST_CASE(new_ranges), TEST_CASE(booleans), TEST_CASE(values_are_read_by_key_type),
          TEST_CASE(anchors_and_aliases), TEST_CASE(admin_socket_length), TEST_CASE(too_large),
          TEST_CASE(find_host), TEST_CASE(s2s), TEST_CASE(allocation_failures))
