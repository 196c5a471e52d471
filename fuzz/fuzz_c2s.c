/* SPDX-License-Identifier: MIT
 *
 * fuzz_c2s.c: libFuzzer target for a whole client-to-server session: the real server
 * core (c2s.c, sasl.c, sessions, router, modules, SQLite storage) on an in-memory
 * connection (fake_net.c), fed the input as what a client sends.
 *
 * Input: the first byte chooses the start and the cuts, the rest is the client's
 * bytes. Bit 0 set: start in the post-auth state (a canned STARTTLS, SASL PLAIN
 * login as fuzz@localhost, the restarted stream's header and, unless bit 4 is set,
 * resource bind); clear: the fresh pre-TLS stream, so the input itself is the
 * header, features negotiation, STARTTLS, SASL... The rest is cut into reads at
 * each 0xFF byte (never valid in UTF-8, so it is not needed as data; the byte is
 * dropped), and each piece again into 1-8 reads (bits 1-3); after every read the
 * loop runs until the server is idle (storage and hashing done). Separate reads
 * matter: what follows <starttls/>, <success/> or <compressed/> in the same read is
 * dropped, as on a real connection. Then the client sends EOF.
 *
 * Checked, besides "no crash, no leak, no sanitizer report": every stream the
 * server wrote (a restart after STARTTLS, SASL or compression begins a new one) is a
 * stream header, then complete elements, then maybe </stream:stream>; namespaces
 * declared, UTF-8 valid, no text between top-level elements. Any violation aborts.
 *
 * The server starts once per process with a database in a fresh /tmp/yb-fuzz-*
 * directory (removed at exit) holding fuzz@localhost and peer@localhost (password as
 * the name, 1 PBKDF2 iteration so logins are cheap). State carries over between
 * inputs through the database (rosters, offline messages, registrations), as on a
 * real server.
 */
#include <dirent.h>
#include <expat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_net.h"
#include "log.h"
#include "server.h"
#include "storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static struct server server;
static char tmpdir[] = "/tmp/yb-fuzz-XXXXXX";
static struct session *last_session; /* of the connection being accepted */

#define HEADER                                                                                     \
    "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "                    \
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

/* ---- the server ---- */

static void
remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[sizeof tmpdir + 300];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
}

static void
die(const char *what)
{
    fprintf(stderr, "fuzz_c2s: %s\n", what);
    abort();
}

static void
create_accounts(const char *database)
{
    struct db *db;
    if (db_open(database, &db) != 0)
        die("cannot create the database");
    static const char *const users[] = {"fuzz", "peer"};
    for (size_t i = 0; i < 2; i++)
        if (auth_set_password_sync(db, "localhost", users[i], users[i], 1, true) != 0)
            die("cannot create the accounts");
    db_close(db);
}

static void
start_server(void)
{
    if (mkdtemp(tmpdir) == NULL)
        die("mkdtemp failed");
    atexit(remove_tmpdir);
    log_set_level(getenv("FUZZ_C2S_SHOW") != NULL ? LOG_DEBUG : LOG_ERROR);
    /* Limits that depend on time or accumulate per address would make an input's
     * outcome depend on the inputs before it: off. No delays, no s2s (no DNS). */
    struct buf yaml = BUF_INIT;
    buf_printf(&yaml,
               "data_dir: %s\n"
               "database: %s/yerba.db\n"
               "admin_socket: %s/admin.sock\n"
               "log_level: error\n"
               "hosts:\n"
               "  - domain: localhost\n"
               "    registration: open\n"
               "listeners: []\n"
               "c2s:\n"
               "  require_tls: false\n"
               "  auth_fail_delay_ms: 0\n"
               "  auth_fail_delay_max_ms: 0\n"
               "  compression: true\n"
               "  max_stanza_size: 65536\n"
               "s2s:\n"
               "  enabled: false\n"
               "limits:\n"
               "  max_connections_per_address: 0\n"
               "  connections_per_minute: 0\n"
               "  max_unauthenticated_streams: 0\n"
               "  account_max_failures: 0\n"
               "  stanzas_per_second: 0\n"
               "  bytes_per_second: 0\n",
               tmpdir, tmpdir, tmpdir);
    struct buf err = BUF_INIT;
    struct config *cfg = config_load_string(yaml.data, yaml.len, "/etc/yerba/yerba.yaml", &err);
    if (cfg == NULL) {
        fprintf(stderr, "%s", err.data ? err.data : "");
        die("config refused");
    }
    buf_fini(&yaml);
    buf_fini(&err);
    create_accounts(cfg->database);
    if (uv_loop_init(&loop) != 0 || server_init(&server, &loop, cfg) != 0)
        die("server_init failed");
}

/* Runs the loop until nothing is left to do now: no storage request or thread-pool
 * job (password hashing) in flight and no callback due. Timers further away (auth
 * timeout, pings) are not waited for. */
static void
run_until_idle(void)
{
    for (int i = 0; i < 100000; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        bool busy = storage_pending(server.storage) > 0 || loop.active_reqs.count > 0;
        if (!busy && (!uv_loop_alive(&loop) || uv_backend_timeout(&loop) != 0))
            return;
        if (busy)
            uv_run(&loop, UV_RUN_ONCE); /* sleeps until a worker posts back */
    }
    die("the loop never became idle");
}

static const struct conn_handler *
accept_c2s(void *ud, struct conn *c, void **conn_ud)
{
    const struct conn_handler *h = c2s_accept(ud, c, conn_ud);
    last_session = h != NULL ? *conn_ud : NULL;
    return h;
}

static void
send_str(struct conn *c, const char *s)
{
    fake_conn_input(c, s, strlen(s));
    run_until_idle();
}

static void
on_account_reset(void *ud, int status)
{
    *(int *)ud = status;
}

/* The canned login: STARTTLS, PLAIN, maybe bind. Returns false if it did not end
 * in the expected state. */
static bool
try_login(struct conn *c, struct session *s, bool bind)
{
    send_str(c, HEADER "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    send_str(c, HEADER);
    /* base64("\0fuzz\0fuzz") */
    send_str(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                "AGZ1enoAZnV6eg==</auth>");
    send_str(c, HEADER);
    if (!bind)
        return !fake_conn_gone(c) && s->state == C2S_AUTHENTICATED;
    send_str(c, "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                "<resource>fuzz</resource></bind></iq>");
    return !fake_conn_gone(c) && s->state == C2S_BOUND;
}

/* An earlier input may have unregistered fuzz@localhost (XEP-0077) or changed its
 * password: put the account back as it was. */
static void
reset_account(void)
{
    int status = 1;
    auth_set_password("localhost", "fuzz", "fuzz", true, on_account_reset, &status);
    run_until_idle();
    if (status == YB_EEXIST) {
        status = 1;
        auth_set_password("localhost", "fuzz", "fuzz", false, on_account_reset, &status);
        run_until_idle();
    }
    if (status != 0)
        die("cannot reset fuzz@localhost");
}

static struct conn *
connect_client(bool login, bool bind)
{
    struct conn *c = fake_conn_accept(server.net, accept_c2s, &server);
    if (c == NULL)
        die("c2s_accept refused the connection");
    if (!login)
        return c;
    struct session *s = last_session;
    if (try_login(c, s, bind))
        return c;
    fake_conn_eof(c);
    run_until_idle();
    fake_conn_free(c);
    reset_account();
    c = fake_conn_accept(server.net, accept_c2s, &server);
    if (c == NULL || !try_login(c, last_session, bind))
        die("the canned login fails");
    return c;
}

/* ---- the output check ---- */

struct check {
    int depth;
    bool root_seen;
    bool bad;
};

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    struct check *k = ud;
    if (k->depth == 0) {
        if (strcmp(name, "http://etherx.jabber.org/streams\001stream") != 0)
            k->bad = true;
        k->root_seen = true;
    }
    k->depth++;
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
    (void)name;
    struct check *k = ud;
    k->depth--;
}

static void XMLCALL
on_text(void *ud, const XML_Char *s, int len)
{
    struct check *k = ud;
    if (k->depth != 1)
        return;
    for (int i = 0; i < len; i++)
        if (strchr(" \t\r\n", s[i]) == NULL)
            k->bad = true; /* text between top-level elements */
}

static void
report(const char *why, const char *data, size_t len)
{
    fprintf(stderr, "fuzz_c2s: %s; the stream was:\n%.*s\n", why, (int)len, data);
    abort();
}

/* One stream the server wrote: empty, or a document whose root is <stream:stream>,
 * complete or cut after a complete top-level child. */
static void
check_stream(const char *data, size_t len)
{
    if (len == 0)
        return;
    XML_Parser p = XML_ParserCreateNS(NULL, '\001');
    struct check k = {0};
    XML_SetUserData(p, &k);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    if (XML_Parse(p, data, (int)len, 0) == XML_STATUS_ERROR)
        report(XML_ErrorString(XML_GetErrorCode(p)), data, len);
    if (!k.root_seen || k.bad)
        report("not a stream header then elements", data, len);
    if (k.depth > 1)
        report("an incomplete element", data, len);
    static const char end[] = "</stream:stream>";
    if (k.depth == 1 && XML_Parse(p, end, sizeof end - 1, 0) == XML_STATUS_ERROR)
        report(XML_ErrorString(XML_GetErrorCode(p)), data, len);
    if (XML_Parse(p, "", 0, 1) == XML_STATUS_ERROR || k.bad)
        report("not well-formed at the end", data, len);
    XML_ParserFree(p);
}

static void
check_output(const struct conn *c)
{
    size_t len;
    const char *out = fake_conn_output(c, &len);
    size_t n = fake_conn_streams(c);
    if (getenv("FUZZ_C2S_SHOW") != NULL) /* for writing seeds: what the server said */
        fprintf(stderr, "---- %zu stream(s):\n%.*s\n", n, (int)len, out);
    for (size_t i = 0; i < n; i++) {
        size_t from = fake_conn_stream_start(c, i);
        size_t to = i + 1 < n ? fake_conn_stream_start(c, i + 1) : len;
        check_stream(out + from, to - from);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool started;
    if (!started) {
        start_server();
        started = true;
    }
    if (size == 0)
        return 0;
    bool login = data[0] & 1, bind = !(data[0] & 0x10);
    size_t reads = 1 + ((data[0] >> 1) & 7);
    data++;
    size--;
    struct conn *c = connect_client(login, bind);
    while (size > 0) {
        const uint8_t *sep = memchr(data, 0xff, size);
        size_t piece = sep != NULL ? (size_t)(sep - data) : size;
        for (size_t i = 0; i < reads; i++) {
            size_t from = piece * i / reads, to = piece * (i + 1) / reads;
            if (to > from)
                fake_conn_input(c, (const char *)data + from, to - from);
            run_until_idle();
        }
        if (sep == NULL)
            break;
        data = sep + 1;
        size -= piece + 1;
    }
    fake_conn_eof(c);
    run_until_idle();
    if (!fake_conn_gone(c))
        die("the connection outlived the peer's EOF");
    check_output(c);
    fake_conn_free(c);
    return 0;
}
