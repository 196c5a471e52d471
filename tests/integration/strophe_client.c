/* SPDX-License-Identifier: MIT
 *
 * strophe_client.c: a small XMPP client built on libstrophe (Debian
 * libstrophe-dev), driven by tests/integration/test_strophe.py. It logs in with
 * a JID and password (libstrophe picks the SASL mechanism: the strongest SCRAM
 * the server offers), optionally sends initial presence and messages, fetches
 * the roster, prints what it receives as one line per event on stdout, and
 * exits. It never decides whether the server behaved: the test does.
 *
 * Output lines:  AUTH <mechanism>   CONNECTED <bound jid> secure=<0|1>
 *                ROSTER <jid> <subscription> <name|->   ROSTER-END
 *                MESSAGE <from> <type> <body with newlines as spaces>
 *                DISCONNECTED <reason>   TIMEOUT
 * Exit status: 0 done, 1 usage, 2 could not connect or log in, 3 timed out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <strophe.h>

#define MAX_SENDS 16

struct options {
    const char *jid;
    const char *password;
    const char *host;
    unsigned short port;
    const char *cafile;
    int legacy_ssl;
    int presence;
    int roster;
    int wait_messages;
    int timeout_s;
    int verbose;
    int n_sends;
    const char *send_to[MAX_SENDS];
    const char *send_body[MAX_SENDS];
};

struct state {
    const struct options *opt;
    xmpp_ctx_t *ctx;
    int connected;
    int failed;
    int finished;
    int barrier_done;
    int n_messages;
    int disconnect_sent;
};

static void
usage(void)
{
    fprintf(stderr, "usage: strophe_client --jid JID --password PW --host HOST --port PORT\n"
                    "         [--cafile FILE] [--legacy-ssl] [--presence] [--roster]\n"
                    "         [--send TO BODY]... [--wait-messages N] [--timeout SECONDS] [-v]\n");
}

static void
print_flat(const char *s)
{
    for (; s && *s; s++)
        putchar(*s == '\n' || *s == '\r' ? ' ' : *s);
}

/* libstrophe logs "SASL <mech> auth successful"; that is the only place the
 * chosen mechanism is visible, so the test can check which one was used. */
static void
log_handler(void *userdata, xmpp_log_level_t level, const char *area, const char *msg)
{
    const struct options *opt = userdata;
    const char *p = strstr(msg, "SASL ");
    const char *q = p ? strstr(p, " auth successful") : NULL;

    if (p && q && q > p + 5) {
        printf("AUTH %.*s\n", (int)(q - (p + 5)), p + 5);
        fflush(stdout);
    }
    if (opt->verbose || level >= XMPP_LEVEL_WARN)
        fprintf(stderr, "strophe %s: %s\n", area, msg);
}

static void
maybe_finish(xmpp_conn_t *conn, struct state *st)
{
    if (st->disconnect_sent || !st->barrier_done)
        return;
    if (st->n_messages < st->opt->wait_messages)
        return;
    st->disconnect_sent = 1;
    xmpp_disconnect(conn);
}

static int
on_message(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    struct state *st = userdata;
    char *body = xmpp_message_get_body(stanza);
    const char *from = xmpp_stanza_get_from(stanza);
    const char *type = xmpp_stanza_get_type(stanza);

    printf("MESSAGE %s %s ", from ? from : "-", type ? type : "normal");
    print_flat(body ? body : "");
    putchar('\n');
    fflush(stdout);
    if (body)
        xmpp_free(st->ctx, body);
    if (type == NULL || strcmp(type, "error") != 0)
        st->n_messages++;
    maybe_finish(conn, st);
    return 1;
}

/* The roster result doubles as a barrier: the server handles a session's
 * stanzas in order, so once it answers, every message we sent was routed. */
static int
on_roster(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    struct state *st = userdata;
    const char *type = xmpp_stanza_get_type(stanza);
    xmpp_stanza_t *query, *item;

    if (st->opt->roster) {
        if (type == NULL || strcmp(type, "result") != 0) {
            printf("ROSTER-ERROR %s\n", type ? type : "-");
        } else {
            query = xmpp_stanza_get_child_by_name(stanza, "query");
            for (item = query ? xmpp_stanza_get_children(query) : NULL; item;
                 item = xmpp_stanza_get_next(item)) {
                const char *name = xmpp_stanza_get_name(item);
                const char *ijid, *sub, *iname;
                if (name == NULL || strcmp(name, "item") != 0)
                    continue;
                ijid = xmpp_stanza_get_attribute(item, "jid");
                sub = xmpp_stanza_get_attribute(item, "subscription");
                iname = xmpp_stanza_get_attribute(item, "name");
                printf("ROSTER %s %s %s\n", ijid ? ijid : "-", sub ? sub : "none",
                       iname ? iname : "-");
            }
            printf("ROSTER-END\n");
        }
        fflush(stdout);
    }
    st->barrier_done = 1;
    maybe_finish(conn, st);
    return 0;
}

static void
send_roster_get(xmpp_conn_t *conn, struct state *st)
{
    xmpp_stanza_t *iq = xmpp_iq_new(st->ctx, "get", "roster1");
    xmpp_stanza_t *query = xmpp_stanza_new(st->ctx);

    xmpp_stanza_set_name(query, "query");
    xmpp_stanza_set_ns(query, XMPP_NS_ROSTER);
    xmpp_stanza_add_child(iq, query);
    xmpp_stanza_release(query);
    xmpp_id_handler_add(conn, on_roster, "roster1", st);
    xmpp_send(conn, iq);
    xmpp_stanza_release(iq);
}

static void
on_connection(xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
              xmpp_stream_error_t *stream_error, void *userdata)
{
    struct state *st = userdata;
    const struct options *opt = st->opt;
    int i;

    if (event == XMPP_CONN_CONNECT) {
        st->connected = 1;
        printf("CONNECTED %s secure=%d\n", xmpp_conn_get_bound_jid(conn),
               xmpp_conn_is_secured(conn));
        fflush(stdout);
        xmpp_handler_add(conn, on_message, NULL, "message", NULL, st);
        if (opt->roster)
            send_roster_get(conn, st);
        if (opt->presence) {
            xmpp_stanza_t *pres = xmpp_presence_new(st->ctx);
            xmpp_send(conn, pres);
            xmpp_stanza_release(pres);
        }
        for (i = 0; i < opt->n_sends; i++) {
            xmpp_stanza_t *msg = xmpp_message_new(st->ctx, "chat", opt->send_to[i], NULL);
            xmpp_message_set_body(msg, opt->send_body[i]);
            xmpp_send(conn, msg);
            xmpp_stanza_release(msg);
        }
        if (!opt->roster)
            send_roster_get(conn, st);
        return;
    }
    if (stream_error)
        printf("DISCONNECTED stream-error %d %s\n", (int)stream_error->type,
               stream_error->text ? stream_error->text : "");
    else
        printf("DISCONNECTED error=%d\n", error);
    fflush(stdout);
    if (!st->connected)
        st->failed = 1;
    st->finished = 1;
}

static int
parse_args(int argc, char **argv, struct options *opt)
{
    int i;

    memset(opt, 0, sizeof(*opt));
    opt->host = "127.0.0.1";
    opt->port = 5222;
    opt->timeout_s = 10;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has1 = i + 1 < argc;
        if (strcmp(a, "--jid") == 0 && has1)
            opt->jid = argv[++i];
        else if (strcmp(a, "--password") == 0 && has1)
            opt->password = argv[++i];
        else if (strcmp(a, "--host") == 0 && has1)
            opt->host = argv[++i];
        else if (strcmp(a, "--port") == 0 && has1)
            opt->port = (unsigned short)atoi(argv[++i]);
        else if (strcmp(a, "--cafile") == 0 && has1)
            opt->cafile = argv[++i];
        else if (strcmp(a, "--timeout") == 0 && has1)
            opt->timeout_s = atoi(argv[++i]);
        else if (strcmp(a, "--wait-messages") == 0 && has1)
            opt->wait_messages = atoi(argv[++i]);
        else if (strcmp(a, "--send") == 0 && i + 2 < argc && opt->n_sends < MAX_SENDS) {
            opt->send_to[opt->n_sends] = argv[++i];
            opt->send_body[opt->n_sends] = argv[++i];
            opt->n_sends++;
        } else if (strcmp(a, "--legacy-ssl") == 0)
            opt->legacy_ssl = 1;
        else if (strcmp(a, "--presence") == 0)
            opt->presence = 1;
        else if (strcmp(a, "--roster") == 0)
            opt->roster = 1;
        else if (strcmp(a, "-v") == 0)
            opt->verbose = 1;
        else
            return -1;
    }
    return opt->jid && opt->password ? 0 : -1;
}

int
main(int argc, char **argv)
{
    struct options opt;
    struct state st;
    xmpp_log_t log;
    xmpp_conn_t *conn;
    time_t deadline;
    long flags = XMPP_CONN_FLAG_MANDATORY_TLS;
    int rc;

    if (parse_args(argc, argv, &opt) != 0) {
        usage();
        return 1;
    }
    memset(&st, 0, sizeof(st));
    st.opt = &opt;
    log.handler = log_handler;
    log.userdata = &opt;

    xmpp_initialize();
    st.ctx = xmpp_ctx_new(NULL, &log);
    xmpp_ctx_set_verbosity(st.ctx, opt.verbose ? 3 : 1);
    conn = xmpp_conn_new(st.ctx);
    if (opt.legacy_ssl)
        flags = XMPP_CONN_FLAG_LEGACY_SSL;
    xmpp_conn_set_flags(conn, flags);
    if (opt.cafile)
        xmpp_conn_set_cafile(conn, opt.cafile);
    xmpp_conn_set_jid(conn, opt.jid);
    xmpp_conn_set_pass(conn, opt.password);

    rc = xmpp_connect_client(conn, opt.host, opt.port, on_connection, &st);
    if (rc != XMPP_EOK) {
        printf("DISCONNECTED connect-failed %d\n", rc);
        rc = 2;
        goto done;
    }
    deadline = time(NULL) + opt.timeout_s;
    while (!st.finished && time(NULL) < deadline)
        xmpp_run_once(st.ctx, 100);
    if (!st.finished) {
        printf("TIMEOUT\n");
        rc = 3;
    } else {
        rc = st.failed ? 2 : 0;
    }
done:
    fflush(stdout);
    xmpp_conn_release(conn);
    xmpp_ctx_free(st.ctx);
    xmpp_shutdown();
    return rc;
}
