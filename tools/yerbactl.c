/* SPDX-License-Identifier: MIT
 *
 * yerbactl.c: the admin command line. With the server running it talks to the
 * admin socket named in the config; account commands also work while the server is
 * down, directly on the database.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fs.h"
#include "server.h"

static void
usage(FILE *f)
{
    fputs("usage: yerbactl [-c FILE] COMMAND [ARGS]\n"
          "commands:\n"
          "  adduser JID PASSWORD   create an account\n"
          "  deluser JID            delete an account and all its data\n"
          "  passwd JID PASSWORD    change a password\n"
          "  users [HOST]           list accounts\n"
          "  sessions               list online sessions (server running)\n"
          "  components             list external components and their state\n"
          "  s2s                    list server-to-server links: direction, local and remote\n"
          "                         domain, state, authentication, TLS, peer, stanzas\n"
          "  kick JID               end the sessions of JID (full or bare)\n"
          "  stats                  live statistics\n"
          "  reload                 re-read the configuration\n"
          "  stop                   stop the server\n",
          f);
}

/* Returns the connected socket, or -1 when no server listens there. */
static int
connect_admin(const char *path)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a.sun_path)
        return -1;
    memcpy(a.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int
remote(int fd, int argc, char **argv)
{
    struct buf req = BUF_INIT;
    for (int i = 0; i < argc; i++) {
        if (strchr(argv[i], '\t') || strchr(argv[i], '\n')) {
            fprintf(stderr, "yerbactl: arguments may not contain tabs or newlines\n");
            return 2;
        }
        buf_printf(&req, "%s%s", i ? "\t" : "", argv[i]);
    }
    buf_putc(&req, '\n');
    size_t off = 0;
    while (off < req.len) {
        ssize_t n = write(fd, req.data + off, req.len - off);
        if (n <= 0) {
            perror("yerbactl: write");
            return 1;
        }
        off += (size_t)n;
    }
    memset(req.data, 0, req.len);
    buf_fini(&req);
    struct buf resp = BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        buf_append(&resp, chunk, (size_t)n);
    close(fd);
    if (resp.len == 0) {
        fprintf(stderr, "yerbactl: no answer from the server\n");
        return 1;
    }
    /* The last line is the status. */
    resp.data[resp.len - 1] = '\0';
    char *last = strrchr(resp.data, '\n');
    char *status = last ? last + 1 : resp.data;
    if (last)
        fwrite(resp.data, 1, (size_t)(last - resp.data) + 1, stdout);
    int rc = strcmp(status, "ok") == 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "yerbactl: %s\n", strncmp(status, "error ", 6) == 0 ? status + 6 : status);
    buf_fini(&resp);
    return rc;
}

static int
print_account(void *ud, const char *host, const char *user)
{
    (void)ud;
    printf("%s@%s\n", user, host);
    return 0;
}

/* The server is down: account commands on the database itself. */
static int
local(const struct config *cfg, int argc, char **argv)
{
    const char *cmd = argv[0];
    bool is_add = strcmp(cmd, "adduser") == 0, is_pw = strcmp(cmd, "passwd") == 0;
    bool is_del = strcmp(cmd, "deluser") == 0, is_list = strcmp(cmd, "users") == 0;
    if (!is_add && !is_pw && !is_del && !is_list) {
        fprintf(stderr, "yerbactl: the server is not running (no answer on %s)\n",
                cfg->admin_socket);
        return 1;
    }
    if (((is_add || is_pw) && argc != 3) || (is_del && argc != 2) || (is_list && argc > 2)) {
        usage(stderr);
        return 2;
    }
    struct db *db;
    if (fs_mkdirs(cfg->data_dir, 0700) != 0 || db_open(cfg->database, &db) != 0) {
        fprintf(stderr, "yerbactl: cannot open %s\n", cfg->database);
        return 1;
    }
    int rc = 0;
    if (is_list) {
        rc = db_account_list(db, argc == 2 ? argv[1] : NULL, print_account, NULL);
    } else {
        struct jid *j = jid_new(argv[1]);
        if (j == NULL || j->node == NULL || j->resource != NULL ||
            config_find_host(cfg, j->domain) == NULL) {
            fprintf(stderr, "yerbactl: %s is not an account JID on a host of this server\n",
                    argv[1]);
            jid_free(j);
            db_close(db);
            return 1;
        }
        if (is_del)
            rc = db_account_delete(db, j->domain, j->node);
        else if (argv[2][0] == '\0')
            rc = YB_EINVAL;
        else
            rc = auth_set_password_sync(db, j->domain, j->node, argv[2], cfg->scram_iterations,
                                        is_add);
        jid_free(j);
    }
    db_close(db);
    if (rc != 0) {
        const char *msg = rc == YB_EEXIST   ? "account exists"
                          : rc == YB_ENOENT ? "no such account"
                                            : yb_strerror(rc);
        fprintf(stderr, "yerbactl: %s\n", msg);
        return 1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    const char *path = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "+c:h")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    struct buf err = BUF_INIT;
    struct config *cfg = config_load(path, &err);
    if (cfg == NULL) {
        fputs(err.data ? err.data : "invalid configuration\n", stderr);
        buf_fini(&err);
        return 1;
    }
    buf_fini(&err);
    log_set_level(LOG_WARN);
    int fd = connect_admin(cfg->admin_socket);
    int rc = fd >= 0 ? remote(fd, argc, argv) : local(cfg, argc, argv);
    config_free(cfg);
    return rc;
}
