/* SPDX-License-Identifier: MIT
 *
 * main.c: yerbad's entry point: options, configuration, first-run set-up (data
 * directory, self-signed certificates, an admin account with a printed password),
 * then the core loop in the foreground with logs on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "server.h"

static void
usage(FILE *f)
{
    fputs("usage: yerbad [-c FILE] [--check-config] [--version] [--list-xeps]\n"
          "  -c, --config FILE   read FILE (default: embedded defaults, host localhost,\n"
          "                      data in ./yerba-data)\n"
          "      --check-config  validate the configuration and exit\n"
          "      --version       print the version and exit\n"
          "      --list-xeps     print the supported XEPs (docs/xeps.md) and exit\n",
          f);
}

/* First run: an empty database gets admin@<first host> with a random password. */
static int
ensure_admin(const struct config *cfg)
{
    struct db *db;
    if (db_open(cfg->database, &db) != 0)
        return -1;
    int rc = 0;
    if (db_account_count(db, NULL) == 0 && cfg->n_hosts > 0) {
        unsigned char raw[12];
        RAND_bytes(raw, sizeof raw);
        char password[25];
        for (size_t i = 0; i < sizeof raw; i++)
            snprintf(password + 2 * i, 3, "%02x", raw[i]);
        rc = auth_set_password_sync(db, cfg->hosts[0].domain, "admin", password,
                                    cfg->scram_iterations, true);
        if (rc == 0)
            fprintf(stderr,
                    "\n  First run: created the account admin@%s with password %s\n"
                    "  (change it with: yerbactl passwd admin@%s NEWPASSWORD)\n\n",
                    cfg->hosts[0].domain, password, cfg->hosts[0].domain);
        memset(password, 0, sizeof password);
    }
    db_close(db);
    return rc;
}

static void
report_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    log_warn("server", "open handle: %s%s", uv_handle_type_name(uv_handle_get_type(h)),
             uv_is_closing(h) ? " (closing)" : "");
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},      {"list-xeps", no_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool check_only = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            check_only = true;
            break;
        case 'V':
            printf("yerbad %s\n", YERBA_VERSION);
            return 0;
        case 'X':
            return xeps_write_markdown(stdout) == 0 ? 0 : 1;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    yb_alloc_abort_on_oom();
    struct buf err = BUF_INIT;
    struct config *cfg = config_load(path, &err);
    if (cfg == NULL) {
        fputs(err.data ? err.data : "invalid configuration\n", stderr);
        buf_fini(&err);
        return 1;
    }
    buf_fini(&err);
    if (check_only) {
        printf("%s: configuration OK\n", path ? path : "(embedded defaults)");
        config_free(cfg);
        return 0;
    }
    enum log_level lvl;
    if (log_level_parse(cfg->log_level, &lvl) == 0)
        log_set_level(lvl);
    log_info("server", "yerbad %s starting (%s)", YERBA_VERSION, path ? path : "embedded defaults");
    if (fs_mkdirs(cfg->data_dir, 0700) != 0) {
        log_error("server", "cannot create data directory %s: %s", cfg->data_dir, strerror(errno));
        config_free(cfg);
        return 1;
    }
    if (server_prepare_certificates(cfg) != 0 || ensure_admin(cfg) != 0) {
        config_free(cfg);
        return 1;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    static struct server server;
    int rc = server_init(&server, &loop, cfg);
    if (rc == 0)
        rc = server_start(&server);
    if (rc == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    else
        server_stop(&server);
    server_fini(&server);
    /* Close callbacks of what server_fini() closed run here. */
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        log_warn("server", "event loop closed with handles still open");
        uv_walk(&loop, report_handle, NULL);
    }
    log_info("server", "stopped");
    return rc == 0 ? 0 : 1;
}
