/* SPDX-License-Identifier: MIT
 *
 * admin.c: the local admin socket yerbactl talks to (a Unix socket, mode 0600).
 * Protocol: one request line per connection, fields separated by TAB; the answer is
 * zero or more lines of output, then "ok" or "error <message>", then the server
 * closes. Passwords travel over this socket and are never logged.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"

#define ADMIN_MAX_REQUEST 4096
#define ADMIN_MAX_FIELDS  8

static uv_pipe_t *admin_pipe;
static char *admin_path;

struct admin_client {
    uv_pipe_t pipe;
    struct buf in;
    struct buf out;
    bool busy; /* a request is being answered */
    bool closing;
};

static void
client_closed(uv_handle_t *h)
{
    struct admin_client *c = h->data;
    if (c->in.data != NULL)
        memset(c->in.data, 0, c->in.cap);
    buf_fini(&c->in);
    buf_fini(&c->out);
    yb_free(c);
}

static void
client_close(struct admin_client *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void
written(uv_write_t *w, int status)
{
    (void)status;
    struct admin_client *c = w->data;
    yb_free(w);
    client_close(c);
}

/* Sends what was gathered in c->out plus the status line, then closes. */
static void
finish(struct admin_client *c, int rc, const char *message)
{
    if (rc == 0)
        buf_puts(&c->out, "ok\n");
    else
        buf_printf(&c->out, "error %s\n", message ? message : yb_strerror(rc));
    uv_write_t *w = yb_malloc(sizeof *w);
    w->data = c;
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    if (uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, written) != 0) {
        yb_free(w);
        client_close(c);
    }
}

static void
finish_status(void *ud, int status)
{
    struct admin_client *c = ud;
    const char *msg = status == YB_EEXIST   ? "account exists"
                      : status == YB_ENOENT ? "no such account"
                      : status == YB_EINVAL ? "invalid password"
                                            : NULL;
    finish(c, status, msg);
}

/* Parses an account JID served here. Returns: new jid or NULL (message set). */
static struct jid *
account_jid(const char *s, const char **err)
{
    struct jid *j = jid_new(s);
    if (j == NULL || j->node == NULL || j->resource != NULL) {
        *err = "expected an account JID (user@host)";
        jid_free(j);
        return NULL;
    }
    if (!host_is_local(j->domain)) {
        *err = "that host is not served here";
        jid_free(j);
        return NULL;
    }
    return j;
}

struct list_req {
    struct storage_req req;
    char *host;
    struct admin_client *c;
    struct buf lines;
};

static int
list_one(void *ud, const char *host, const char *user)
{
    struct buf *b = ud;
    buf_printf(b, "%s@%s\n", user, host);
    return 0;
}

static int
list_work(struct db *db, struct storage_req *r)
{
    struct list_req *lr = (struct list_req *)r;
    return db_account_list(db, lr->host, list_one, &lr->lines);
}

static void
list_done(struct storage_req *r)
{
    struct list_req *lr = (struct list_req *)r;
    buf_append(&lr->c->out, lr->lines.data, lr->lines.len);
    finish(lr->c, r->status, NULL);
    buf_fini(&lr->lines);
    yb_free(lr->host);
    yb_free(lr);
}

static void
cmd_sessions(struct admin_client *c)
{
    struct list_node *n;
    LIST_FOREACH(n, &srv->streams)
    {
        struct session *s = LIST_ENTRY(n, struct session, link);
        if (s->jid == NULL || s->user == NULL || s->conn == NULL)
            continue;
        buf_printf(&c->out, "%s\t%s\t%s\t%s\t%d\n", s->jid->full, conn_peer_ip(s->conn),
                   s->tls ? (s->tls13 ? "TLSv1.3" : "TLSv1.2") : "plaintext",
                   s->available ? "available" : "unavailable", s->priority);
    }
    finish(c, 0, NULL);
}

static void
cmd_stats(struct admin_client *c)
{
    int64_t up = (clock_wall_us() - srv->stats.started_us) / 1000000;
    buf_printf(&c->out,
               "uptime_seconds: %lld\nsessions: %zu\nstreams: %zu\nstanzas_routed: %llu\n"
               "logins: %llu\nauth_failures: %llu\nconnections: %llu\nloaded_accounts: %zu\n"
               "storage_pending: %zu\n",
               (long long)up, srv->n_sessions, srv->n_streams,
               (unsigned long long)srv->stats.stanzas_routed, (unsigned long long)srv->stats.logins,
               (unsigned long long)srv->stats.auth_failures,
               (unsigned long long)srv->stats.connections, hashmap_count(&srv->users),
               storage_pending(srv->storage));
    /* Refusals by limit (docs/config.md "Limits"). */
    const struct server_stats *st = &srv->stats;
    buf_printf(
        &c->out,
        "refused_address_connections: %llu\nrefused_connection_rate: %llu\n"
        "refused_unauthenticated: %llu\nevicted_unauthenticated: %llu\naccounts_blocked: %llu\n"
        "refused_account_blocked: %llu\nclosed_stanza_rate: %llu\n"
        "closed_byte_rate: %llu\nclosed_parser_limit: %llu\n"
        "closed_output_overflow: %llu\nrefused_resources: %llu\n",
        (unsigned long long)st->refused_address_connections,
        (unsigned long long)st->refused_connection_rate,
        (unsigned long long)st->refused_unauthenticated,
        (unsigned long long)st->evicted_unauthenticated, (unsigned long long)st->accounts_blocked,
        (unsigned long long)st->refused_account_blocked, (unsigned long long)st->closed_stanza_rate,
        (unsigned long long)st->closed_byte_rate, (unsigned long long)st->closed_parser_limit,
        (unsigned long long)st->closed_output_overflow, (unsigned long long)st->refused_resources);
    buf_printf(&c->out, "refused_roster_items: %llu\nrefused_subscriptions: %llu\n",
               (unsigned long long)st->module_counters[STAT_REFUSED_ROSTER_ITEMS],
               (unsigned long long)st->module_counters[STAT_REFUSED_SUBSCRIPTIONS]);
    buf_printf(&c->out, "components_connected: %zu\n", component_connected_count());
    buf_printf(&c->out, "s2s_streams: %zu\n", s2s_open_streams());
    finish(c, 0, NULL);
}

static void
cmd_kick(struct admin_client *c, const char *target)
{
    struct jid *j = jid_new(target);
    if (j == NULL || j->node == NULL) {
        jid_free(j);
        finish(c, YB_EINVAL, "expected a JID");
        return;
    }
    size_t n = 0;
    if (j->resource != NULL) {
        struct session *s = session_find(j);
        if (s != NULL) {
            c2s_stream_error(s, STE_POLICY_VIOLATION, "disconnected by an administrator");
            session_unbind(s);
            n = 1;
        }
    } else {
        struct user *u = user_find_loaded(j->bare);
        n = u ? u->n_sessions : 0;
        user_end_sessions(j->bare, STE_POLICY_VIOLATION, "disconnected by an administrator");
    }
    jid_free(j);
    if (n == 0) {
        finish(c, YB_ENOENT, "no such session");
        return;
    }
    buf_printf(&c->out, "kicked %zu session%s\n", n, n == 1 ? "" : "s");
    finish(c, 0, NULL);
}

static void
handle_request(struct admin_client *c, char *line)
{
    char *argv[ADMIN_MAX_FIELDS];
    int argc = 0;
    for (char *p = line; argc < ADMIN_MAX_FIELDS;) {
        argv[argc++] = p;
        p = strchr(p, '\t');
        if (p == NULL)
            break;
        *p++ = '\0';
    }
    const char *cmd = argv[0];
    const char *err = NULL;
    /* Never log argv: it may hold a password. */
    log_info("admin", "command %s", cmd);
    if ((strcmp(cmd, "adduser") == 0 || strcmp(cmd, "passwd") == 0) && argc == 3) {
        struct jid *j = account_jid(argv[1], &err);
        if (j == NULL) {
            finish(c, YB_EINVAL, err);
            return;
        }
        if (argv[2][0] == '\0') {
            jid_free(j);
            finish(c, YB_EINVAL, "empty password");
            return;
        }
        auth_set_password(j->domain, j->node, argv[2], cmd[0] == 'a', finish_status, c);
        jid_free(j);
    } else if (strcmp(cmd, "deluser") == 0 && argc == 2) {
        struct jid *j = account_jid(argv[1], &err);
        if (j == NULL) {
            finish(c, YB_EINVAL, err);
            return;
        }
        user_end_sessions(j->bare, STE_NOT_AUTHORIZED, "account deleted");
        auth_delete_user(j->domain, j->node, finish_status, c);
        jid_free(j);
    } else if (strcmp(cmd, "users") == 0 && argc <= 2) {
        struct list_req *lr = yb_calloc(1, sizeof *lr);
        lr->req.work = list_work;
        lr->req.done = list_done;
        lr->host = argc == 2 && argv[1][0] ? yb_strdup(argv[1]) : NULL;
        lr->c = c;
        buf_init(&lr->lines);
        if (storage_submit(srv->storage, &lr->req) != 0) {
            lr->req.status = YB_ECLOSED;
            list_done(&lr->req);
        }
    } else if (strcmp(cmd, "sessions") == 0 && argc == 1) {
        cmd_sessions(c);
    } else if (strcmp(cmd, "s2s") == 0 && argc == 1) {
        s2s_admin_list(&c->out);
        finish(c, 0, NULL);
    } else if (strcmp(cmd, "components") == 0 && argc == 1) {
        component_admin_list(&c->out);
        finish(c, 0, NULL);
    } else if (strcmp(cmd, "kick") == 0 && argc == 2) {
        cmd_kick(c, argv[1]);
    } else if (strcmp(cmd, "stats") == 0 && argc == 1) {
        cmd_stats(c);
    } else if (strcmp(cmd, "reload") == 0 && argc == 1) {
        struct buf e = BUF_INIT;
        int rc = server_reload(srv, &e);
        if (rc != 0 && e.data != NULL)
            buf_append(&c->out, e.data, e.len);
        finish(c, rc, rc ? "the new configuration was refused" : NULL);
        buf_fini(&e);
    } else if (strcmp(cmd, "stop") == 0 && argc == 1) {
        finish(c, 0, NULL);
        server_stop(srv);
    } else {
        finish(c, YB_EINVAL, "unknown command or wrong arguments");
    }
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct admin_client *c = h->data;
    buf_reserve(&c->in, 1024);
    *b = uv_buf_init(c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len - 1));
}

static void
read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct admin_client *c = st->data;
    if (nread < 0) {
        if (!c->busy)
            client_close(c);
        return;
    }
    c->in.len += (size_t)nread;
    c->in.data[c->in.len] = '\0';
    char *nl = memchr(c->in.data, '\n', c->in.len);
    if (nl == NULL) {
        if (c->in.len > ADMIN_MAX_REQUEST)
            client_close(c);
        return;
    }
    *nl = '\0';
    uv_read_stop(st);
    c->busy = true;
    handle_request(c, c->in.data);
}

static void
on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    struct admin_client *c = yb_calloc(1, sizeof *c);
    uv_pipe_init(srv->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
        client_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
}

static bool
socket_is_live(const char *path)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a.sun_path)
        return false;
    memcpy(a.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    bool live = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return live;
}

int
admin_start(const char *path)
{
    admin_pipe = yb_calloc(1, sizeof *admin_pipe);
    uv_pipe_init(srv->loop, admin_pipe, 0);
    /* A stale socket from a crashed run is removed; a live one means another
     * server uses this data directory. (Start-up only: a blocking local connect.) */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        if (socket_is_live(path)) {
            log_error("admin", "another server is running with admin socket %s", path);
            uv_close((uv_handle_t *)admin_pipe, (uv_close_cb)yb_free);
            admin_pipe = NULL;
            return YB_EEXIST;
        }
        unlink(path);
    }
    mode_t old = umask(0177);
    int rc = uv_pipe_bind(admin_pipe, path);
    umask(old);
    if (rc == 0)
        rc = chmod(path, 0600) == 0 ? 0 : uv_translate_sys_error(errno);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)admin_pipe, 16, on_connection);
    if (rc != 0) {
        log_error("admin", "cannot listen on %s: %s", path, uv_strerror(rc));
        uv_close((uv_handle_t *)admin_pipe, (uv_close_cb)yb_free);
        admin_pipe = NULL;
        return YB_EIO;
    }
    admin_path = yb_strdup(path);
    log_info("admin", "admin socket %s", path);
    return 0;
}

void
admin_stop(void)
{
    if (admin_pipe == NULL)
        return;
    uv_close((uv_handle_t *)admin_pipe, (uv_close_cb)yb_free);
    admin_pipe = NULL;
    unlink(admin_path);
    yb_free(admin_path);
    admin_path = NULL;
}
