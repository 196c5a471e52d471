/* SPDX-License-Identifier: MIT
 *
 * mod_adhoc.c: XEP-0050 Ad-Hoc Commands on each host, and the XEP-0133 Service
 * Administration commands it offers to the host's admins (config: admins): add,
 * delete and change the password of users, list and count online and registered
 * users, end user sessions, announce to online users, and set/edit/delete the
 * message of the day (kept in the kv store "motd" of user "" on the host, and sent
 * once to each account when one of its sessions becomes available). Commands are
 * listed (disco#items on the commands node) only to those who may run them; others
 * get forbidden. A command session lives until it completes, is canceled or is
 * idle for ADHOC_SESSION_TIMEOUT_MS.
 */
#include <stdlib.h>
#include <string.h>

#include "dataform.h"
#include "module_api.h"

#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_ADMIN    "http://jabber.org/protocol/admin"

#define ADHOC_SESSION_TIMEOUT_MS (10 * 60 * 1000)
#define ADHOC_MAX_SESSIONS       256 /* open sessions on the server */
#define ADHOC_EXPIRED_RING       64  /* ended session ids remembered for session-expired */
#define MOTD_STORE               "motd"
#define MOTD_KEY                 "motd"
#define MOTD_SEEN_KEY            "seen"
#define MOTD_MAX_LEN             4096

struct run;

struct command {
    const char *node;
    const char *name;
    /* Builds the form of the first stage and answers with stage_form(); NULL: the
     * command runs at once. */
    void (*form)(struct run *r);
    /* Runs with the submitted form (NULL for form-less commands); answers with
     * run_complete() or run_error(). */
    void (*run)(struct run *r, const struct dataform *submitted);
};

struct adhoc_session {
    char id[17];
    const struct command *cmd;
    char *domain;
    char *owner; /* full JID of the requester: sessions are not shared */
    struct dataform *offered;
    uint64_t touched_ms;
    bool busy; /* a request of this session is being answered */
    struct adhoc_session *next;
};

/* One command request being answered (possibly after storage or account calls). */
struct run {
    struct iq_request *req;
    const struct command *cmd;
    char *domain;
    char *requester; /* full JID, for logs */
    char sessionid[17];
    struct adhoc_session *sess; /* the session this request belongs to, or NULL */
    /* multi-account operations */
    size_t pending, n_ok;
    struct buf failed;
};

static struct adhoc_session *sessions;
static size_t n_sessions;
static char expired[ADHOC_EXPIRED_RING][17];
static size_t expired_next;

/* ---- sessions ---- */

static void
session_free(struct adhoc_session *s)
{
    dataform_free(s->offered);
    yb_free(s->domain);
    yb_free(s->owner);
    yb_free(s);
}

/* Unlinks and frees s, remembering its id so that later use gets session-expired. */
static void
session_end(struct adhoc_session *s)
{
    for (struct adhoc_session **p = &sessions; *p != NULL; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            n_sessions--;
            break;
        }
    }
    memcpy(expired[expired_next], s->id, sizeof s->id);
    expired_next = (expired_next + 1) % ADHOC_EXPIRED_RING;
    session_free(s);
}

static bool
session_timed_out(const struct adhoc_session *s, uint64_t now)
{
    return !s->busy && now - s->touched_ms > ADHOC_SESSION_TIMEOUT_MS;
}

static void
sessions_purge(void)
{
    uint64_t now = clock_mono_ms();
    struct adhoc_session *s = sessions;
    while (s != NULL) {
        struct adhoc_session *next = s->next;
        if (session_timed_out(s, now))
            session_end(s);
        s = next;
    }
}

static struct adhoc_session *
session_find(const char *id)
{
    for (struct adhoc_session *s = sessions; s != NULL; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static bool
session_was_expired(const char *id)
{
    for (size_t i = 0; i < ADHOC_EXPIRED_RING; i++)
        if (expired[i][0] != '\0' && strcmp(expired[i], id) == 0)
            return true;
    return false;
}

/* ---- replies ---- */

static struct run *
run_new(struct iq_request *req, const struct command *cmd, const char *domain)
{
    iq_request_keep(req);
    struct run *r = yb_calloc(1, sizeof *r);
    r->req = req;
    r->cmd = cmd;
    r->domain = yb_strdup(domain);
    r->requester = yb_strdup(iq_request_from(req)->full);
    buf_init(&r->failed);
    return r;
}

static void
run_free(struct run *r)
{
    buf_fini(&r->failed);
    yb_free(r->domain);
    yb_free(r->requester);
    yb_free(r);
}

/* XEP-0050 §4.6: a general condition plus, where given, a specific one in the
 * commands namespace. */
static void
reply_error(struct iq_request *req, enum stanza_error_cond c, const char *specific,
            const char *text)
{
    struct stanza *err = stanza_error_reply(iq_request_stanza(req), c, text);
    struct xml_node *e = stanza_child(err, "error", NULL);
    if (specific != NULL && e != NULL)
        node_add_child(e, specific, NS_COMMANDS);
    iq_reply(req, err);
}

/* A result iq with <command node sessionid status/>; *cmd_out is the element. */
static struct stanza *
command_reply(struct run *r, const char *status, struct xml_node **cmd_out)
{
    struct stanza *res = iq_result_new(r->req, NULL);
    struct xml_node *c = node_add_child(stanza_root(res), "command", NS_COMMANDS);
    node_set_attr(c, "node", r->cmd->node);
    node_set_attr(c, "sessionid", r->sessionid);
    node_set_attr(c, "status", status);
    *cmd_out = c;
    return res;
}

/* Answers the first stage: status executing, the one allowed action (complete),
 * and the form, which the session keeps to validate the submission. Consumes: f. */
static void
stage_form(struct run *r, struct dataform *f)
{
    struct xml_node *c;
    struct stanza *res = command_reply(r, "executing", &c);
    struct xml_node *actions = node_add_child(c, "actions", NS_COMMANDS);
    node_set_attr(actions, "execute", "complete");
    node_add_child(actions, "complete", NS_COMMANDS);
    dataform_to_xml(f, c);
    r->sess->offered = f;
    r->sess->busy = false;
    r->sess->touched_ms = clock_mono_ms();
    iq_reply(r->req, res);
    run_free(r);
}

/* Completes the command: status completed, an optional note (type info, warn or
 * error) and an optional result form. Ends the session. Consumes: result. */
static void
run_complete(struct run *r, const char *note_type, const char *note, struct dataform *result)
{
    struct xml_node *c;
    struct stanza *res = command_reply(r, "completed", &c);
    if (note != NULL) {
        struct xml_node *n = node_add_text_child(c, "note", NS_COMMANDS, note);
        node_set_attr(n, "type", note_type);
    }
    if (result != NULL) {
        dataform_to_xml(result, c);
        dataform_free(result);
    }
    if (r->sess != NULL)
        session_end(r->sess);
    iq_reply(r->req, res);
    run_free(r);
}

/* Fails the request. A bad payload leaves the session open for another
 * submission; any other error ends it. */
static void
run_error(struct run *r, enum stanza_error_cond c, const char *specific, const char *text)
{
    if (r->sess != NULL) {
        if (specific != NULL && strcmp(specific, "bad-payload") == 0) {
            r->sess->busy = false;
            r->sess->touched_ms = clock_mono_ms();
        } else {
            session_end(r->sess);
        }
    }
    reply_error(r->req, c, specific, text);
    run_free(r);
}

/* A result form (XEP-0133: FORM_TYPE plus the answer's fields). */
static struct dataform *
result_form(void)
{
    struct dataform *f = dataform_new(DATAFORM_RESULT);
    dataform_set_form_type(f, NS_ADMIN);
    return f;
}

static struct dataform *
admin_form(const char *title, const char *instructions)
{
    struct dataform *f = dataform_new(DATAFORM_FORM);
    dataform_set_title(f, title);
    dataform_set_instructions(f, instructions);
    dataform_set_form_type(f, NS_ADMIN);
    return f;
}

static void
add_required(struct dataform *f, enum dataform_field_type t, const char *var, const char *label)
{
    dataform_add_field(f, t, var, label)->required = true;
}

/* All values of a text-multi field joined with newlines (XEP-0004 §3.3). Returns:
 * new string (yb_free), "" when absent. */
static char *
joined_value(const struct dataform *f, const char *var)
{
    const struct dataform_field *fl = dataform_find(f, var);
    struct buf b = BUF_INIT;
    buf_puts(&b, "");
    for (size_t i = 0; fl != NULL && i < fl->n_values; i++) {
        if (i > 0)
            buf_putc(&b, '\n');
        buf_puts(&b, fl->values[i]);
    }
    return buf_steal(&b);
}

/* Parses an account JID of this host. Returns: new jid, or NULL after answering
 * bad-payload. full_ok: a resource is allowed. */
static struct jid *
account_jid(struct run *r, const char *s, bool full_ok)
{
    struct jid *j = s ? jid_new(s) : NULL;
    const char *why = NULL;
    if (j == NULL)
        why = "malformed JID";
    else if (j->node == NULL || strcmp(j->domain, r->domain) != 0)
        why = "not an account of this host";
    else if (j->resource != NULL && !full_ok)
        why = "a bare JID is expected";
    if (why != NULL) {
        jid_free(j);
        run_error(r, SE_BAD_REQUEST, "bad-payload", why);
        return NULL;
    }
    return j;
}

/* ---- add-user, change-user-password ---- */

static void
add_user_form(struct run *r)
{
    struct dataform *f = admin_form("Adding a User", "Fill out this form to add a user.");
    add_required(f, FIELD_JID_SINGLE, "accountjid", "The Jabber ID for the account to be added");
    add_required(f, FIELD_TEXT_PRIVATE, "password", "The password for this account");
    add_required(f, FIELD_TEXT_PRIVATE, "password-verify", "Retype password");
    stage_form(r, f);
}

static void
account_op_done(void *ud, int status)
{
    struct run *r = ud;
    switch (status) {
    case 0:
        log_info("adhoc", "%s ran %s", r->requester, r->cmd->node);
        run_complete(r, "info", "Done.", NULL);
        break;
    case YB_EEXIST:
        run_error(r, SE_CONFLICT, NULL, "the account already exists");
        break;
    case YB_ENOENT:
        run_error(r, SE_ITEM_NOT_FOUND, NULL, "no such account");
        break;
    case YB_EINVAL:
        run_error(r, SE_NOT_ACCEPTABLE, NULL, "password refused");
        break;
    default:
        run_error(r, SE_INTERNAL_SERVER_ERROR, NULL, NULL);
        break;
    }
}

static void
add_user_run(struct run *r, const struct dataform *f)
{
    const char *pw = dataform_value(f, "password");
    const char *pw2 = dataform_value(f, "password-verify");
    if (pw == NULL || pw2 == NULL || strcmp(pw, pw2) != 0) {
        run_error(r, SE_BAD_REQUEST, "bad-payload", "the passwords do not match");
        return;
    }
    struct jid *j = account_jid(r, dataform_value(f, "accountjid"), false);
    if (j == NULL)
        return;
    account_create(j->domain, j->node, pw, account_op_done, r);
    jid_free(j);
}

static void
change_password_form(struct run *r)
{
    struct dataform *f =
        admin_form("Changing a User Password", "Fill out this form to change a user's password.");
    add_required(f, FIELD_JID_SINGLE, "accountjid", "The Jabber ID for this account");
    add_required(f, FIELD_TEXT_PRIVATE, "password", "The password for this account");
    stage_form(r, f);
}

static void
change_password_run(struct run *r, const struct dataform *f)
{
    if (dataform_value(f, "password") == NULL) {
        run_error(r, SE_BAD_REQUEST, "bad-payload", "the password is empty");
        return;
    }
    struct jid *j = account_jid(r, dataform_value(f, "accountjid"), false);
    if (j == NULL)
        return;
    account_set_password(j->domain, j->node, dataform_value(f, "password"), account_op_done, r);
    jid_free(j);
}

/* ---- delete-user ---- */

static void
delete_user_form(struct run *r)
{
    struct dataform *f = admin_form("Deleting a User", "Fill out this form to delete a user.");
    add_required(f, FIELD_JID_MULTI, "accountjids", "The Jabber ID(s) to delete");
    stage_form(r, f);
}

static void
multi_finish(struct run *r, const char *verb)
{
    if (r->failed.len == 0) {
        char note[64];
        snprintf(note, sizeof note, "%s %zu account(s).", verb, r->n_ok);
        run_complete(r, "info", note, NULL);
        return;
    }
    struct buf note = BUF_INIT;
    buf_printf(&note, "%s %zu account(s); failed: %s", verb, r->n_ok, r->failed.data);
    run_complete(r, "error", note.data, NULL);
    buf_fini(&note);
}

struct delete_op {
    struct run *run;
    char *jid;
};

static void
delete_done(void *ud, int status)
{
    struct delete_op *op = ud;
    struct run *r = op->run;
    if (status == 0) {
        r->n_ok++;
        log_info("adhoc", "%s deleted %s", r->requester, op->jid);
    } else {
        buf_printf(&r->failed, "%s%s (%s)", r->failed.len ? ", " : "", op->jid,
                   status == YB_ENOENT ? "no such account" : yb_strerror(status));
    }
    yb_free(op->jid);
    yb_free(op);
    if (--r->pending == 0)
        multi_finish(r, "Deleted");
}

static void
delete_user_run(struct run *r, const struct dataform *f)
{
    const struct dataform_field *fl = dataform_find(f, "accountjids");
    struct jid **jids = yb_calloc(fl->n_values + 1, sizeof *jids);
    for (size_t i = 0; i < fl->n_values; i++) {
        if ((jids[i] = account_jid(r, fl->values[i], false)) == NULL) {
            for (size_t k = 0; k < i; k++)
                jid_free(jids[k]);
            yb_free(jids);
            return;
        }
    }
    /* One extra count until every operation started: a callback that runs at once
     * must not finish the command early. */
    r->pending = fl->n_values + 1;
    for (size_t i = 0; i < fl->n_values; i++) {
        struct delete_op *op = yb_calloc(1, sizeof *op);
        op->run = r;
        op->jid = yb_strdup(jids[i]->bare);
        account_delete(jids[i]->domain, jids[i]->node, delete_done, op);
        jid_free(jids[i]);
    }
    yb_free(jids);
    if (--r->pending == 0)
        multi_finish(r, "Deleted");
}

/* ---- end-user-session ---- */

struct collect {
    const char *bare, *full; /* match one of them */
    struct session **found;
    size_t n, cap;
};

static void
collect_session(void *ud, struct session *s)
{
    struct collect *c = ud;
    const struct jid *j = session_jid(s);
    if (c->full != NULL ? strcmp(j->full, c->full) != 0 : strcmp(j->bare, c->bare) != 0)
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        c->found = yb_realloc(c->found, c->cap * sizeof *c->found);
    }
    c->found[c->n++] = s;
}

static void
end_session_form(struct run *r)
{
    struct dataform *f =
        admin_form("Ending a User Session", "Fill out this form to end a user's session.");
    add_required(f, FIELD_JID_MULTI, "accountjids",
                 "The Jabber ID(s) for which to end sessions (bare: all sessions)");
    stage_form(r, f);
}

static void
end_session_run(struct run *r, const struct dataform *f)
{
    const struct dataform_field *fl = dataform_find(f, "accountjids");
    struct collect c = {0};
    for (size_t i = 0; i < fl->n_values; i++) {
        struct jid *j = account_jid(r, fl->values[i], true);
        if (j == NULL) {
            yb_free(c.found);
            return;
        }
        c.bare = j->bare;
        c.full = j->resource ? j->full : NULL;
        session_foreach(r->domain, collect_session, &c);
        jid_free(j);
    }
    char note[64];
    snprintf(note, sizeof note, "Ended %zu session(s).", c.n);
    log_info("adhoc", "%s ended %zu session(s)", r->requester, c.n);
    /* Answer first: the requester may be ending its own session. */
    run_complete(r, "info", note, NULL);
    for (size_t i = 0; i < c.n; i++)
        session_close_error(c.found[i], STE_POLICY_VIOLATION, "session ended by an administrator");
    yb_free(c.found);
}

/* ---- online users ---- */

struct online {
    struct hashmap seen; /* bare JID -> (void *)1 */
    char **bares;
    size_t n, cap;
};

static void
collect_online(void *ud, struct session *s)
{
    struct online *o = ud;
    const char *bare = session_jid(s)->bare;
    if (hashmap_get(&o->seen, bare) != NULL)
        return;
    hashmap_set(&o->seen, bare, (void *)1);
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 16;
        o->bares = yb_realloc(o->bares, o->cap * sizeof *o->bares);
    }
    o->bares[o->n++] = yb_strdup(bare);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
online_collect(const char *domain, struct online *o)
{
    memset(o, 0, sizeof *o);
    hashmap_init(&o->seen);
    session_foreach(domain, collect_online, o);
    if (o->n > 1)
        qsort(o->bares, o->n, sizeof *o->bares, cmp_str);
}

static void
online_fini(struct online *o)
{
    for (size_t i = 0; i < o->n; i++)
        yb_free(o->bares[i]);
    yb_free(o->bares);
    hashmap_fini(&o->seen);
}

static void
online_num_run(struct run *r, const struct dataform *f)
{
    (void)f;
    struct online o;
    online_collect(r->domain, &o);
    char num[32];
    snprintf(num, sizeof num, "%zu", o.n);
    online_fini(&o);
    struct dataform *res = result_form();
    dataform_field_add_value(
        dataform_add_field(res, FIELD_TEXT_SINGLE, "onlineusersnum", "The number of online users"),
        num);
    run_complete(r, NULL, NULL, res);
}

static void
online_list_form(struct run *r)
{
    struct dataform *f =
        admin_form("Requesting List of Online Users",
                   "Fill out this form to request the online users of this service.");
    struct dataform_field *fl =
        dataform_add_field(f, FIELD_LIST_SINGLE, "max_items", "Maximum number of items to show");
    static const char *const opts[] = {"25", "50", "75", "100", "150", "200"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        dataform_field_add_option(fl, opts[i], opts[i]);
    dataform_field_add_option(fl, "None", "none");
    stage_form(r, f);
}

static void
online_list_run(struct run *r, const struct dataform *f)
{
    const char *max = dataform_value(f, "max_items");
    size_t limit = SIZE_MAX;
    if (max != NULL && strcmp(max, "none") != 0)
        limit = (size_t)strtoul(max, NULL, 10); /* one of the offered options */
    struct online o;
    online_collect(r->domain, &o);
    struct dataform *res = result_form();
    struct dataform_field *fl =
        dataform_add_field(res, FIELD_JID_MULTI, "onlineuserjids", "The list of all online users");
    for (size_t i = 0; i < o.n && i < limit; i++)
        dataform_field_add_value(fl, o.bares[i]);
    online_fini(&o);
    run_complete(r, NULL, NULL, res);
}

/* ---- get-registered-users-num ---- */

static void
count_done(void *ud, int status, long n)
{
    struct run *r = ud;
    if (status != 0) {
        run_error(r, SE_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    char num[32];
    snprintf(num, sizeof num, "%ld", n);
    struct dataform *res = result_form();
    dataform_field_add_value(dataform_add_field(res, FIELD_TEXT_SINGLE, "registeredusersnum",
                                                "The number of registered users"),
                             num);
    run_complete(r, NULL, NULL, res);
}

static void
registered_num_run(struct run *r, const struct dataform *f)
{
    (void)f;
    account_count(r->domain, count_done, r);
}

/* ---- announce ---- */

struct broadcast {
    const char *domain;
    const char *subject;
    const char *body;
    const char *type;
    size_t n;
};

static void
send_to_session(void *ud, struct session *s)
{
    struct broadcast *b = ud;
    struct stanza *m = stanza_new("message", NS_CLIENT);
    char id[17];
    server_random_id(id);
    stanza_set_attr(m, "from", b->domain);
    stanza_set_attr(m, "to", session_jid(s)->full);
    stanza_set_attr(m, "type", b->type);
    stanza_set_attr(m, "id", id);
    if (b->subject != NULL && b->subject[0] != '\0')
        node_add_text_child(stanza_root(m), "subject", NULL, b->subject);
    node_add_text_child(stanza_root(m), "body", NULL, b->body);
    session_send(s, m);
    b->n++;
}

static void
announce_form(struct run *r)
{
    struct dataform *f = admin_form(
        "Making an Announcement",
        "Fill out this form to make an announcement to all active users of this service.");
    dataform_add_field(f, FIELD_TEXT_SINGLE, "subject", "Subject");
    add_required(f, FIELD_TEXT_MULTI, "announcement", "Announcement");
    stage_form(r, f);
}

static void
announce_run(struct run *r, const struct dataform *f)
{
    char *body = joined_value(f, "announcement");
    struct broadcast b = {.domain = r->domain,
                          .subject = dataform_value(f, "subject"),
                          .body = body,
                          .type = "headline"};
    session_foreach(r->domain, send_to_session, &b);
    log_info("adhoc", "%s announced to %zu session(s)", r->requester, b.n);
    char note[64];
    snprintf(note, sizeof note, "Sent to %zu session(s).", b.n);
    yb_free(body);
    run_complete(r, "info", note, NULL);
}

/* ---- message of the day ---- */

struct motd_req {
    struct storage_req req;
    struct run *run; /* NULL at login */
    char *domain;
    char *text;   /* set: the new MOTD (NULL: delete) */
    char **nodes; /* set: accounts online now, marked as having seen it */
    size_t n_nodes;
    struct buf got; /* get: the current MOTD */
    char *full_jid; /* login: the session to send it to */
    char *node;     /* login: its account */
    bool deliver;   /* login: the account has not seen this MOTD */
};

static void
motd_req_free(struct motd_req *m)
{
    for (size_t i = 0; i < m->n_nodes; i++)
        yb_free(m->nodes[i]);
    yb_free(m->nodes);
    buf_fini(&m->got);
    yb_free(m->domain);
    yb_free(m->text);
    yb_free(m->full_jid);
    yb_free(m->node);
    yb_free(m);
}

static struct motd_req *
motd_req_new(struct run *r, const char *domain, storage_work_fn work, storage_done_fn done)
{
    struct motd_req *m = yb_calloc(1, sizeof *m);
    m->req.work = work;
    m->req.done = done;
    m->run = r;
    m->domain = yb_strdup(domain);
    buf_init(&m->got);
    return m;
}

static void
motd_submit(struct motd_req *m)
{
    if (module_storage_submit(&m->req) != 0) {
        m->req.status = YB_ECLOSED;
        m->req.done(&m->req);
    }
}

static int
motd_get_work(struct db *db, struct storage_req *sr)
{
    struct motd_req *m = (struct motd_req *)sr;
    int rc = db_kv_get(db, m->domain, "", MOTD_STORE, MOTD_KEY, &m->got);
    return rc == YB_ENOENT ? 0 : rc;
}

static void
motd_form(struct run *r, const char *current)
{
    struct dataform *f = admin_form("Setting the Message of the Day",
                                    "Fill out this form to set the message of the day.");
    struct dataform_field *fl =
        dataform_add_field(f, FIELD_TEXT_MULTI, "motd", "Message of the Day");
    fl->required = true;
    /* XEP-0004 §3.3: text-multi carries one <value/> per line. */
    for (const char *p = current; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = yb_strndup(p, len);
        dataform_field_add_value(fl, line);
        yb_free(line);
        p = nl ? nl + 1 : p + len;
    }
    stage_form(r, f);
}

static void
motd_get_done(struct storage_req *sr)
{
    struct motd_req *m = (struct motd_req *)sr;
    if (sr->status != 0)
        run_error(m->run, SE_INTERNAL_SERVER_ERROR, NULL, NULL);
    else
        motd_form(m->run, m->got.len ? m->got.data : NULL);
    motd_req_free(m);
}

static void
set_motd_form(struct run *r)
{
    motd_form(r, NULL);
}

static void
edit_motd_form(struct run *r)
{
    motd_submit(motd_req_new(r, r->domain, motd_get_work, motd_get_done));
}

static int
motd_set_work(struct db *db, struct storage_req *sr)
{
    struct motd_req *m = (struct motd_req *)sr;
    if (m->text == NULL)
        return db_kv_delete(db, m->domain, "", MOTD_STORE, MOTD_KEY);
    int rc = db_kv_set(db, m->domain, "", MOTD_STORE, MOTD_KEY, m->text, strlen(m->text));
    for (size_t i = 0; rc == 0 && i < m->n_nodes; i++)
        rc = db_kv_set(db, m->domain, m->nodes[i], MOTD_STORE, MOTD_SEEN_KEY, m->text,
                       strlen(m->text));
    return rc;
}

static void
motd_set_done(struct storage_req *sr)
{
    struct motd_req *m = (struct motd_req *)sr;
    if (sr->status != 0) {
        run_error(m->run, SE_INTERNAL_SERVER_ERROR, NULL, NULL);
    } else if (m->text == NULL) {
        log_info("adhoc", "%s deleted the message of the day of %s", m->run->requester, m->domain);
        run_complete(m->run, "info", "The message of the day was deleted.", NULL);
    } else {
        /* XEP-0133 §4.25: sent at once to the users online now. */
        struct broadcast b = {.domain = m->domain, .body = m->text, .type = "normal"};
        session_foreach(m->domain, send_to_session, &b);
        log_info("adhoc", "%s set the message of the day of %s", m->run->requester, m->domain);
        run_complete(m->run, "info", "The message of the day was set.", NULL);
    }
    motd_req_free(m);
}

static void
motd_set_run(struct run *r, const struct dataform *f)
{
    char *text = joined_value(f, "motd");
    if (strlen(text) > MOTD_MAX_LEN) {
        yb_free(text);
        run_error(r, SE_BAD_REQUEST, "bad-payload", "the message of the day is too long");
        return;
    }
    struct motd_req *m = motd_req_new(r, r->domain, motd_set_work, motd_set_done);
    m->text = text;
    struct online o;
    online_collect(r->domain, &o);
    m->nodes = yb_calloc(o.n + 1, sizeof *m->nodes);
    for (size_t i = 0; i < o.n; i++)
        m->nodes[m->n_nodes++] = yb_strndup(o.bares[i], strcspn(o.bares[i], "@"));
    online_fini(&o);
    motd_submit(m);
}

static void
delete_motd_run(struct run *r, const struct dataform *f)
{
    (void)f;
    motd_submit(motd_req_new(r, r->domain, motd_set_work, motd_set_done));
}

/* At login: the MOTD, unless this account has seen this very text already. */
static int
motd_login_work(struct db *db, struct storage_req *sr)
{
    struct motd_req *m = (struct motd_req *)sr;
    int rc = db_kv_get(db, m->domain, "", MOTD_STORE, MOTD_KEY, &m->got);
    if (rc != 0)
        return rc == YB_ENOENT ? 0 : rc;
    struct buf seen = BUF_INIT;
    rc = db_kv_get(db, m->domain, m->node, MOTD_STORE, MOTD_SEEN_KEY, &seen);
    bool same = rc == 0 && seen.len == m->got.len && memcmp(seen.data, m->got.data, seen.len) == 0;
    buf_fini(&seen);
    if (rc != 0 && rc != YB_ENOENT)
        return rc;
    if (same)
        return 0;
    m->deliver = true;
    return db_kv_set(db, m->domain, m->node, MOTD_STORE, MOTD_SEEN_KEY, m->got.data, m->got.len);
}

struct find_full {
    const char *full;
    struct session *found;
};

static void
find_full(void *ud, struct session *s)
{
    struct find_full *f = ud;
    if (strcmp(session_jid(s)->full, f->full) == 0)
        f->found = s;
}

static void
motd_login_done(struct storage_req *sr)
{
    struct motd_req *m = (struct motd_req *)sr;
    if (sr->status == 0 && m->deliver) {
        struct find_full f = {.full = m->full_jid};
        session_foreach(m->domain, find_full, &f);
        if (f.found != NULL) {
            struct broadcast b = {.domain = m->domain, .body = m->got.data, .type = "normal"};
            send_to_session(&b, f.found);
        }
    } else if (sr->status != 0) {
        log_error("adhoc", "reading the message of the day for %s failed: %s", m->full_jid,
                  yb_strerror(sr->status));
    }
    motd_req_free(m);
}

static enum hook_result
on_session_available(struct event *ev, void *ud)
{
    (void)ud;
    const struct jid *j = session_jid(ev->session);
    struct motd_req *m = motd_req_new(NULL, j->domain, motd_login_work, motd_login_done);
    m->full_jid = yb_strdup(j->full);
    m->node = yb_strdup(j->node);
    motd_submit(m);
    return HOOK_PASS;
}

/* ---- the command table ---- */

#define ADMIN_NODE(x) NS_ADMIN "#" x

static const struct command commands[] = {
    {ADMIN_NODE("add-user"), "Add User", add_user_form, add_user_run},
    {ADMIN_NODE("delete-user"), "Delete User", delete_user_form, delete_user_run},
    {ADMIN_NODE("change-user-password"), "Change User Password", change_password_form,
     change_password_run},
    {ADMIN_NODE("end-user-session"), "End User Session", end_session_form, end_session_run},
    {ADMIN_NODE("get-registered-users-num"), "Get Number of Registered Users", NULL,
     registered_num_run},
    {ADMIN_NODE("get-online-users-num"), "Get Number of Online Users", NULL, online_num_run},
    {ADMIN_NODE("get-online-users-list"), "Get List of Online Users", online_list_form,
     online_list_run},
    {ADMIN_NODE("announce"), "Send Announcement to Online Users", announce_form, announce_run},
    {ADMIN_NODE("set-motd"), "Set Message of the Day", set_motd_form, motd_set_run},
    {ADMIN_NODE("edit-motd"), "Edit Message of the Day", edit_motd_form, motd_set_run},
    {ADMIN_NODE("delete-motd"), "Delete Message of the Day", NULL, delete_motd_run},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const struct command *
command_find(const char *node)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].node, node) == 0)
            return &commands[i];
    return NULL;
}

/* Every command here is an admin command (XEP-0133). */
static bool
may_run(const char *domain, const struct jid *from)
{
    return from != NULL && host_is_admin(domain, from->bare);
}

/* ---- the <command/> iq ---- */

static bool
action_known(const char *a)
{
    static const char *const known[] = {"execute", "cancel", "prev", "next", "complete"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(a, known[i]) == 0)
            return true;
    return false;
}

static void
start(struct iq_request *req, const struct command *cmd, const char *domain)
{
    sessions_purge();
    struct run *r = run_new(req, cmd, domain);
    server_random_id(r->sessionid);
    if (cmd->form == NULL) {
        cmd->run(r, NULL);
        return;
    }
    if (n_sessions >= ADHOC_MAX_SESSIONS) {
        run_error(r, SE_RESOURCE_CONSTRAINT, NULL, "too many open command sessions");
        return;
    }
    struct adhoc_session *s = yb_calloc(1, sizeof *s);
    memcpy(s->id, r->sessionid, sizeof s->id);
    s->cmd = cmd;
    s->domain = yb_strdup(domain);
    s->owner = yb_strdup(iq_request_from(req)->full);
    s->touched_ms = clock_mono_ms();
    s->busy = true;
    s->next = sessions;
    sessions = s;
    n_sessions++;
    r->sess = s;
    cmd->form(r);
}

static void
cancel(struct run *r)
{
    struct xml_node *c;
    struct stanza *res = command_reply(r, "canceled", &c);
    session_end(r->sess);
    iq_reply(r->req, res);
    run_free(r);
}

static void
resume(struct iq_request *req, const struct command *cmd, const char *domain, const char *sid,
       const char *action)
{
    struct adhoc_session *s = session_find(sid);
    if (s != NULL && session_timed_out(s, clock_mono_ms())) {
        session_end(s);
        s = NULL;
    }
    if (s == NULL) {
        /* XEP-0050 §4.6: an id that was ours but ended is session-expired. */
        if (session_was_expired(sid))
            reply_error(req, SE_NOT_ALLOWED, "session-expired", NULL);
        else
            reply_error(req, SE_BAD_REQUEST, "bad-sessionid", NULL);
        return;
    }
    if (s->cmd != cmd || strcmp(s->domain, domain) != 0 ||
        strcmp(s->owner, iq_request_from(req)->full) != 0) {
        reply_error(req, SE_BAD_REQUEST, "bad-sessionid", NULL);
        return;
    }
    if (s->busy) {
        reply_error(req, SE_UNEXPECTED_REQUEST, NULL, "the previous request is still running");
        return;
    }
    struct run *r = run_new(req, cmd, domain);
    memcpy(r->sessionid, s->id, sizeof s->id);
    r->sess = s;
    s->busy = true;
    s->touched_ms = clock_mono_ms();
    if (strcmp(action, "cancel") == 0) {
        cancel(r);
        return;
    }
    /* Single-stage forms: only complete (which execute stands for) is allowed. */
    if (strcmp(action, "execute") != 0 && strcmp(action, "complete") != 0) {
        s->busy = false;
        reply_error(req, SE_BAD_REQUEST, "bad-action", NULL);
        run_free(r);
        return;
    }
    struct xml_node *x = node_child(iq_request_payload(req), "x", NS_DATA);
    if (x == NULL) {
        run_error(r, SE_BAD_REQUEST, "bad-payload", "a submitted form is expected");
        return;
    }
    const char *why = NULL;
    struct dataform *f = dataform_parse(x, &why);
    if (f != NULL && f->type == DATAFORM_CANCEL) {
        dataform_free(f);
        cancel(r);
        return;
    }
    if (f == NULL || f->type != DATAFORM_SUBMIT ||
        dataform_validate(f, s->offered, false, &why) != 0) {
        dataform_free(f);
        run_error(r, SE_BAD_REQUEST, "bad-payload", why ? why : "a submitted form is expected");
        return;
    }
    cmd->run(r, f);
    dataform_free(f);
}

static enum hook_result
on_command(struct iq_request *req, void *ud)
{
    (void)ud;
    struct xml_node *p = iq_request_payload(req);
    const struct jid *from = iq_request_from(req);
    const struct jid *to = iq_request_to(req);
    const char *domain = to != NULL ? to->domain : from->domain;
    const char *node = node_attr(p, "node");
    const char *action = node_attr(p, "action");
    const char *sid = node_attr(p, "sessionid");
    if (action == NULL)
        action = "execute"; /* XEP-0050 §6.1: the default */
    if (node == NULL) {
        iq_reply_error(req, SE_BAD_REQUEST, "the command has no node");
        return HOOK_HANDLED;
    }
    if (!action_known(action)) {
        reply_error(req, SE_BAD_REQUEST, "malformed-action", NULL);
        return HOOK_HANDLED;
    }
    const struct command *cmd = command_find(node);
    if (cmd == NULL) {
        iq_reply_error(req, SE_ITEM_NOT_FOUND, NULL);
        return HOOK_HANDLED;
    }
    if (!may_run(domain, from)) {
        iq_reply_error(req, SE_FORBIDDEN, NULL);
        return HOOK_HANDLED;
    }
    if (sid != NULL && sid[0] != '\0') {
        resume(req, cmd, domain, sid, action);
    } else if (strcmp(action, "execute") == 0) {
        start(req, cmd, domain);
    } else {
        /* Only execute can start a command. */
        reply_error(req, SE_BAD_REQUEST, "bad-action", NULL);
    }
    return HOOK_HANDLED;
}

/* ---- service discovery (XEP-0050 §2) ---- */

static bool
is_host_query(const struct event *ev)
{
    return ev->node != NULL && ev->to != NULL && ev->to->node == NULL && ev->from != NULL;
}

static enum hook_result
on_disco_items(struct event *ev, void *ud)
{
    (void)ud;
    if (!is_host_query(ev) || strcmp(ev->node, NS_COMMANDS) != 0)
        return HOOK_PASS;
    if (may_run(ev->to->domain, ev->from)) {
        for (size_t i = 0; i < N_COMMANDS; i++) {
            struct xml_node *it = node_add_child(ev->reply, "item", NULL);
            node_set_attr(it, "jid", ev->to->domain);
            node_set_attr(it, "node", commands[i].node);
            node_set_attr(it, "name", commands[i].name);
        }
    }
    return HOOK_HANDLED; /* an empty list for those who may run nothing */
}

static void
add_identity(struct xml_node *q, const char *type, const char *name)
{
    struct xml_node *id = node_add_child(q, "identity", NULL);
    node_set_attr(id, "category", "automation");
    node_set_attr(id, "type", type);
    if (name != NULL)
        node_set_attr(id, "name", name);
}

static void
add_feature(struct xml_node *q, const char *ns)
{
    node_set_attr(node_add_child(q, "feature", NULL), "var", ns);
}

static enum hook_result
on_disco_info(struct event *ev, void *ud)
{
    (void)ud;
    if (!is_host_query(ev))
        return HOOK_PASS;
    if (strcmp(ev->node, NS_COMMANDS) == 0) {
        add_identity(ev->reply, "command-list", "Commands");
        add_feature(ev->reply, NS_COMMANDS);
        return HOOK_HANDLED;
    }
    const struct command *cmd = command_find(ev->node);
    if (cmd == NULL || !may_run(ev->to->domain, ev->from))
        return HOOK_PASS;
    add_identity(ev->reply, "command-node", cmd->name);
    add_feature(ev->reply, NS_COMMANDS);
    add_feature(ev->reply, NS_DATA);
    return HOOK_HANDLED;
}

static int
adhoc_load(struct module *m)
{
    int rc = module_add_feature(m, NS_COMMANDS);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_SET, IQ_TO_HOST, NS_COMMANDS, "command", on_command, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_DISCO_ITEMS, 0, on_disco_items, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_DISCO_INFO, 0, on_disco_info, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_SESSION_AVAILABLE, 0, on_session_available, NULL);
    return rc;
}

static void
adhoc_unload(struct module *m)
{
    (void)m;
    /* A busy session belongs to a request still waiting for storage or an account
     * operation: unlinked here, it is freed when that request ends. */
    while (sessions != NULL) {
        struct adhoc_session *s = sessions;
        sessions = s->next;
        s->next = NULL;
        if (!s->busy)
            session_free(s);
    }
    n_sessions = 0;
}

MODULE_DEFINE(adhoc, .summary = "XEP-0050 Ad-Hoc Commands with XEP-0133 Service Administration",
              .xeps = "0004@2.13.2,0050@1.3.0,0133@1.3.0",
              .notes = "XEP-0133: add-user, delete-user, change-user-password, end-user-session, "
                       "get-registered-users-num, get-online-users-num, get-online-users-list, "
                       "announce, set-motd, edit-motd, delete-motd; single-stage forms only "
                       "(prev/next get bad-action); the MOTD is sent once per account",
              .load = adhoc_load, .unload = adhoc_unload);
