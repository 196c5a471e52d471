/* SPDX-License-Identifier: MIT
 *
 * resolve.c: asynchronous DNS with c-ares driven by the libuv loop: one uv_poll_t per
 * c-ares socket and one uv_timer_t for c-ares' retransmissions, so nothing blocks.
 * On top, the s2s lookup of RFC 6120 §3.2 (SRV, then A/AAAA fallback on 5269) merged
 * with XEP-0368 _xmpps-server records, ordered as RFC 2782 says, and plain host
 * lookups. Each query has its own timer: first its overall deadline, then the
 * zero-delay hop that delivers its answer from the loop. See docs/internals/dns.md.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ares.h>
#include <ares_nameser.h>

#include "alloc.h"
#include "error.h"
#include "list.h"
#include "log.h"
#include "resolve.h"

#define WHO "dns"
/* SRV records kept from both answers before ordering; only the first
 * RESOLVE_MAX_TARGETS of the ordered list are expanded to addresses. */
#define RESOLVE_MAX_SRV_RECORDS 64
/* c-ares tries each server this many times per query; each try waits
 * timeout_ms / RESOLVE_TRY_DIVISOR (doubling per round), which leaves the address
 * stage time within the overall deadline after a slow SRV stage. */
#define RESOLVE_TRIES        2
#define RESOLVE_TRY_DIVISOR  5
#define RESOLVE_MIN_TRY_MS   20
#define RESOLVE_MAX_NAME_LEN 253

struct resolver {
    uv_loop_t *loop;
    ares_channel channel;
    uv_timer_t timer; /* c-ares' next retransmission or query timeout */
    struct list_node socks;
    struct list_node queries;
    unsigned timeout_ms;
    uint64_t rng;  /* xorshift64 state for RFC 2782 weights; not a secret */
    int n_closing; /* handles whose close callback has not run yet */
    bool closing;
};

struct resolve_sock {
    uv_poll_t poll;
    ares_socket_t fd;
    struct resolver *r;
    struct list_node link;
};

/* One SRV answer (_xmpp-server or _xmpps-server) of a query. */
struct srv_lookup {
    struct resolve_query *q;
    int ares_status;
    bool direct_tls;
    bool is_dot; /* a single record with target ".": service decidedly not offered */
};

/* One name to expand to addresses: an SRV target, or the domain / host itself. */
struct srv_rec {
    struct resolve_query *q;
    char host[256];
    int port;
    unsigned priority, weight;
    bool direct_tls;
    int ares_status;
    struct ares_addrinfo *ai;
};

struct resolve_query {
    struct list_node link;
    struct resolver *r;
    resolve_fn fn;
    void *ud;
    uv_timer_t timer; /* deadline, then the delivery hop */
    char name[RESOLVE_MAX_NAME_LEN + 2];
    struct srv_lookup lookups[2]; /* [0] _xmpp-server, [1] _xmpps-server */
    struct srv_rec *recs;
    size_t n_recs;
    int n_pending;  /* c-ares callbacks still to come; they point into this query */
    bool expanding; /* recs are being resolved to addresses */
    bool answered;  /* status and targets are final; delivery is scheduled */
    bool done;      /* fn was called or the query cancelled: never call fn again */
    bool closing, closed;
    int status;
    size_t n_targets;
    struct resolve_target targets[RESOLVE_MAX_TARGETS];
};

static void rearm(struct resolver *r);

/* ---- c-ares on the loop ----------------------------------------------------------- */

static void
on_handle_closed(uv_handle_t *h)
{
    struct resolver *r = h->data;
    r->n_closing--;
}

static void
on_sock_closed(uv_handle_t *h)
{
    struct resolve_sock *s = h->data;
    s->r->n_closing--;
    yb_free(s);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
    struct resolve_sock *s = p->data;
    struct resolver *r = s->r;
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
    /* On a poll error let c-ares read and write: it sees the socket's error and
     * moves to the next server. */
    if (status < 0 || (events & UV_READABLE))
        rfd = s->fd;
    if (status < 0 || (events & UV_WRITABLE))
        wfd = s->fd;
    ares_process_fd(r->channel, rfd, wfd); /* may close s (on_sock_state) */
    rearm(r);
}

static struct resolve_sock *
sock_find(struct resolver *r, ares_socket_t fd)
{
    struct list_node *it;
    LIST_FOREACH(it, &r->socks)
    {
        struct resolve_sock *s = LIST_ENTRY(it, struct resolve_sock, link);
        if (s->fd == fd)
            return s;
    }
    return NULL;
}

static void
sock_close(struct resolve_sock *s)
{
    list_remove(&s->link);
    s->r->n_closing++;
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* c-ares opens, watches and closes its UDP/TCP sockets through this. */
static void
on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct resolver *r = data;
    struct resolve_sock *s = sock_find(r, fd);
    if (!readable && !writable) {
        if (s != NULL)
            sock_close(s);
        return;
    }
    if (s == NULL) {
        s = yb_calloc(1, sizeof *s);
        if (s == NULL)
            return; /* the query times out */
        if (uv_poll_init_socket(r->loop, &s->poll, fd) != 0) {
            log_error(WHO, "cannot watch DNS socket %d", fd);
            yb_free(s);
            return;
        }
        s->fd = fd;
        s->r = r;
        s->poll.data = s;
        list_insert_tail(&r->socks, &s->link);
    }
    uv_poll_start(&s->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), on_poll);
}

static void
on_ares_timer(uv_timer_t *t)
{
    struct resolver *r = t->data;
    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm(r);
}

/* Points the timer at c-ares' next deadline; called after anything that may add,
 * answer or retransmit a c-ares query. */
static void
rearm(struct resolver *r)
{
    if (r->closing)
        return;
    struct timeval tv;
    if (ares_timeout(r->channel, NULL, &tv) == NULL) {
        uv_timer_stop(&r->timer);
        return;
    }
    uint64_t ms = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
    uv_timer_start(&r->timer, on_ares_timer, ms, 0);
}

/* ---- resolver --------------------------------------------------------------------- */

struct resolver *
resolver_new(uv_loop_t *loop, const char *servers, unsigned timeout_ms)
{
    struct resolver *r = yb_calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->loop = loop;
    r->timeout_ms = timeout_ms != 0 ? timeout_ms : RESOLVE_DEFAULT_TIMEOUT_MS;
    r->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)r;
    if (r->rng == 0)
        r->rng = 1;
    list_init(&r->socks);
    list_init(&r->queries);

    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        log_error(WHO, "c-ares init: %s", ares_strerror(rc));
        yb_free(r);
        return NULL;
    }
    struct ares_options opts;
    memset(&opts, 0, sizeof opts);
    unsigned try_ms = r->timeout_ms / RESOLVE_TRY_DIVISOR;
    opts.timeout = (int)(try_ms < RESOLVE_MIN_TRY_MS ? RESOLVE_MIN_TRY_MS : try_ms);
    opts.tries = RESOLVE_TRIES;
    opts.sock_state_cb = on_sock_state;
    opts.sock_state_cb_data = r;
    /* No search list: s2s names are absolute, and "example.org" must not become
     * "example.org.corp.lan" after an NXDOMAIN. A configured server list means only
     * that server answers (tests, private networks): no /etc/hosts either. */
    static char lookups_dns[] = "b", lookups_files_dns[] = "fb";
    opts.ndomains = 0;
    opts.domains = NULL;
    opts.lookups = servers != NULL ? lookups_dns : lookups_files_dns;
    int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB | ARES_OPT_DOMAINS |
               ARES_OPT_LOOKUPS;
    rc = ares_init_options(&r->channel, &opts, mask);
    if (rc != ARES_SUCCESS) {
        log_error(WHO, "c-ares channel: %s", ares_strerror(rc));
        goto fail_lib;
    }
    if (servers != NULL && (rc = ares_set_servers_ports_csv(r->channel, servers)) != ARES_SUCCESS) {
        log_error(WHO, "DNS servers \"%s\": %s", servers, ares_strerror(rc));
        goto fail_channel;
    }
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    return r;

fail_channel:
    ares_destroy(r->channel);
fail_lib:
    ares_library_cleanup();
    yb_free(r);
    return NULL;
}

static void query_close(struct resolve_query *q);

void
resolver_free(struct resolver *r)
{
    if (r == NULL)
        return;
    r->closing = true;
    struct list_node *it, *tmp;
    /* Callbacks first, while everything is intact; a callback may start no new
     * query (r->closing) but may cancel others. */
    LIST_FOREACH_SAFE(it, tmp, &r->queries)
    {
        struct resolve_query *q = LIST_ENTRY(it, struct resolve_query, link);
        if (q->done)
            continue;
        q->done = q->answered = true;
        query_close(q);
        q->fn(q->ud, RESOLVE_ECANCELED, NULL, 0);
    }
    LIST_FOREACH_SAFE(it, tmp, &r->queries)
    {
        query_close(LIST_ENTRY(it, struct resolve_query, link));
    }
    /* Runs every pending c-ares callback (ARES_EDESTRUCTION), which drops the
     * queries' last references, and closes its sockets through on_sock_state. */
    ares_destroy(r->channel);
    ares_library_cleanup();
    LIST_FOREACH_SAFE(it, tmp, &r->socks)
    {
        sock_close(LIST_ENTRY(it, struct resolve_sock, link));
    }
    r->n_closing++;
    uv_close((uv_handle_t *)&r->timer, on_handle_closed);
    /* Close callbacks are pending, so these iterations do not block. */
    while (r->n_closing > 0 || !list_is_empty(&r->queries))
        uv_run(r->loop, UV_RUN_ONCE);
    yb_free(r);
}

/* ---- queries ---------------------------------------------------------------------- */

static int
map_status(int ares_status)
{
    switch (ares_status) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENODATA:
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
    case ARES_EBADNAME:
        return RESOLVE_ENOTFOUND;
    case ARES_ETIMEOUT:
        return RESOLVE_ETIMEDOUT;
    case ARES_ENOMEM:
        return YB_ENOMEM;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return RESOLVE_ECANCELED;
    default:
        return YB_EIO;
    }
}

static bool
is_no_such(int ares_status)
{
    return map_status(ares_status) == RESOLVE_ENOTFOUND;
}

static void
query_maybe_free(struct resolve_query *q)
{
    if (!q->closed || q->n_pending > 0)
        return;
    list_remove(&q->link);
    for (size_t i = 0; i < q->n_recs; i++)
        if (q->recs[i].ai != NULL)
            ares_freeaddrinfo(q->recs[i].ai);
    yb_free(q->recs);
    yb_free(q);
}

static void
on_query_closed(uv_handle_t *h)
{
    struct resolve_query *q = h->data;
    q->closed = true;
    q->r->n_closing--;
    query_maybe_free(q);
}

static void
query_close(struct resolve_query *q)
{
    if (q->closing)
        return;
    q->closing = true;
    q->r->n_closing++;
    uv_close((uv_handle_t *)&q->timer, on_query_closed);
}

/* Calls fn once and lets the query go (freed once its timer is closed and c-ares
 * has nothing more for it). fn may cancel or start other queries. */
static void
query_deliver(struct resolve_query *q)
{
    q->done = true;
    query_close(q);
    q->fn(q->ud, q->status, q->n_targets > 0 ? q->targets : NULL, q->n_targets);
}

static void collect_targets(struct resolve_query *q);

static void
on_query_timer(uv_timer_t *t)
{
    struct resolve_query *q = t->data;
    if (!q->answered) {
        /* The deadline: answer with the addresses already known, in order. */
        q->answered = true;
        q->n_targets = 0;
        if (q->expanding)
            collect_targets(q);
        q->status = q->n_targets > 0 ? 0 : RESOLVE_ETIMEDOUT;
        log_debug(WHO, "%s: deadline, %zu targets", q->name, q->n_targets);
    }
    query_deliver(q);
}

/* Fixes the answer and delivers it on the next loop iteration. */
static void
query_answer(struct resolve_query *q, int status)
{
    if (q->answered)
        return;
    q->answered = true;
    q->status = status;
    if (status != 0)
        q->n_targets = 0;
    uv_timer_start(&q->timer, on_query_timer, 0, 0);
}

static bool
name_is_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > RESOLVE_MAX_NAME_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] <= ' ' || name[i] == 0x7f)
            return false;
    return true;
}

static struct resolve_query *
query_new(struct resolver *r, const char *name, resolve_fn fn, void *ud)
{
    assert(fn != NULL);
    if (r->closing || !name_is_valid(name))
        return NULL;
    struct resolve_query *q = yb_calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->r = r;
    q->fn = fn;
    q->ud = ud;
    snprintf(q->name, sizeof q->name, "%s", name);
    uv_timer_init(r->loop, &q->timer);
    q->timer.data = q;
    uv_timer_start(&q->timer, on_query_timer, r->timeout_ms, 0);
    list_insert_tail(&r->queries, &q->link);
    return q;
}

/* An IP literal ("192.0.2.1", "2001:db8::1", "[2001:db8::1]") in canonical form. */
static bool
parse_ip_literal(const char *s, char out[46])
{
    unsigned char addr[16];
    char inner[64];
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']' && len - 2 < sizeof inner) {
        memcpy(inner, s + 1, len - 2);
        inner[len - 2] = '\0';
        return inet_pton(AF_INET6, inner, addr) == 1 && inet_ntop(AF_INET6, addr, out, 46) != NULL;
    }
    if (inet_pton(AF_INET, s, addr) == 1)
        return inet_ntop(AF_INET, addr, out, 46) != NULL;
    if (inet_pton(AF_INET6, s, addr) == 1)
        return inet_ntop(AF_INET6, addr, out, 46) != NULL;
    return false;
}

static bool
answer_literal(struct resolve_query *q, int port)
{
    struct resolve_target *t = &q->targets[0];
    if (!parse_ip_literal(q->name, t->ip))
        return false;
    snprintf(t->host, sizeof t->host, "%s", q->name);
    t->port = port;
    t->direct_tls = false;
    q->n_targets = 1;
    query_answer(q, 0);
    return true;
}

/* Appends ip:port unless an earlier target has it; false once the list is full. */
static bool
add_target(struct resolve_query *q, const struct srv_rec *rec, const char *ip)
{
    for (size_t i = 0; i < q->n_targets; i++) {
        const struct resolve_target *t = &q->targets[i];
        if (t->port == rec->port && t->direct_tls == rec->direct_tls && strcmp(t->ip, ip) == 0)
            return true;
    }
    if (q->n_targets == RESOLVE_MAX_TARGETS)
        return false;
    struct resolve_target *t = &q->targets[q->n_targets++];
    snprintf(t->host, sizeof t->host, "%s", rec->host);
    snprintf(t->ip, sizeof t->ip, "%s", ip);
    t->port = rec->port;
    t->direct_tls = rec->direct_tls;
    return true;
}

/* Flattens the expanded records, in their order, into q->targets. */
static void
collect_targets(struct resolve_query *q)
{
    for (size_t i = 0; i < q->n_recs; i++) {
        const struct srv_rec *rec = &q->recs[i];
        if (rec->ai == NULL)
            continue;
        for (const struct ares_addrinfo_node *n = rec->ai->nodes; n != NULL; n = n->ai_next) {
            char ip[46];
            const void *a;
            if (n->ai_family == AF_INET)
                a = &((const struct sockaddr_in *)(const void *)n->ai_addr)->sin_addr;
            else if (n->ai_family == AF_INET6)
                a = &((const struct sockaddr_in6 *)(const void *)n->ai_addr)->sin6_addr;
            else
                continue;
            if (inet_ntop(n->ai_family, a, ip, sizeof ip) == NULL)
                continue;
            if (!add_target(q, rec, ip))
                return;
        }
    }
}

static void
on_addr(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    struct srv_rec *rec = arg;
    struct resolve_query *q = rec->q;
    q->n_pending--;
    if (q->answered) {
        if (res != NULL)
            ares_freeaddrinfo(res);
    } else {
        rec->ares_status = status;
        rec->ai = res;
        if (q->n_pending == 0) {
            collect_targets(q);
            if (q->n_targets > 0) {
                query_answer(q, 0);
            } else {
                /* Report the most telling failure: a timeout or a server error
                 * rather than "not found" from another target. */
                int why = RESOLVE_ENOTFOUND;
                for (size_t i = 0; i < q->n_recs; i++)
                    if (!is_no_such(q->recs[i].ares_status) &&
                        q->recs[i].ares_status != ARES_SUCCESS)
                        why = map_status(q->recs[i].ares_status);
                query_answer(q, why);
            }
        }
    }
    query_maybe_free(q);
}

/* Resolves every record to its IPv6 and IPv4 addresses, all at once. */
static void
expand(struct resolve_query *q)
{
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    q->expanding = true;
    /* Counted up front: c-ares may call back before ares_getaddrinfo returns. */
    q->n_pending += (int)q->n_recs;
    for (size_t i = 0; i < q->n_recs; i++) {
        q->recs[i].q = q;
        q->recs[i].ares_status = ARES_ENODATA;
        ares_getaddrinfo(q->r->channel, q->recs[i].host, NULL, &hints, on_addr, &q->recs[i]);
    }
    rearm(q->r);
}

static uint32_t
rng_next(struct resolver *r)
{
    uint64_t x = r->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->rng = x;
    return (uint32_t)(x >> 32);
}

/* RFC 2782 "Usage rules": by priority, lowest first; within one priority, records
 * are drawn one by one at random with probability proportional to their weight,
 * weight-0 records placed first so they get a small chance too. */
static void
order_records(struct resolver *r, struct srv_rec *recs, size_t n)
{
    /* Insertion sort (n <= RESOLVE_MAX_SRV_RECORDS): by priority, weight 0 first. */
    for (size_t i = 1; i < n; i++) {
        struct srv_rec tmp = recs[i];
        size_t j = i;
        while (j > 0 && (recs[j - 1].priority > tmp.priority ||
                         (recs[j - 1].priority == tmp.priority && recs[j - 1].weight != 0 &&
                          tmp.weight == 0))) {
            recs[j] = recs[j - 1];
            j--;
        }
        recs[j] = tmp;
    }
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo;
        while (hi < n && recs[hi].priority == recs[lo].priority)
            hi++;
        for (size_t pos = lo; pos + 1 < hi; pos++) {
            uint32_t sum = 0;
            for (size_t i = pos; i < hi; i++)
                sum += recs[i].weight;
            uint32_t pick = rng_next(r) % (sum + 1), running = 0;
            size_t i = pos;
            for (; i < hi; i++) {
                running += recs[i].weight;
                if (running >= pick)
                    break;
            }
            struct srv_rec chosen = recs[i];
            memmove(&recs[pos + 1], &recs[pos], (i - pos) * sizeof *recs);
            recs[pos] = chosen;
        }
        lo = hi;
    }
}

static bool
add_rec(struct resolve_query *q, const char *host, int port, unsigned priority, unsigned weight,
        bool direct_tls)
{
    if (q->recs == NULL) {
        q->recs = yb_calloc(RESOLVE_MAX_SRV_RECORDS, sizeof *q->recs);
        if (q->recs == NULL)
            return false;
    }
    if (q->n_recs == RESOLVE_MAX_SRV_RECORDS)
        return false;
    struct srv_rec *rec = &q->recs[q->n_recs++];
    snprintf(rec->host, sizeof rec->host, "%s", host);
    rec->port = port;
    rec->priority = priority;
    rec->weight = weight;
    rec->direct_tls = direct_tls;
    return true;
}

/* Both SRV answers are in: order and expand the records, or fall back. */
static void
srv_done(struct resolve_query *q)
{
    const struct srv_lookup *plain = &q->lookups[0], *tls = &q->lookups[1];
    if (q->n_recs > 0) {
        order_records(q->r, q->recs, q->n_recs);
        if (q->n_recs > RESOLVE_MAX_TARGETS)
            q->n_recs = RESOLVE_MAX_TARGETS;
        expand(q);
        return;
    }
    /* RFC 6120 §3.2.1 / RFC 2782: a lone "." target ends the search. */
    if (plain->is_dot) {
        query_answer(q, RESOLVE_EUNAVAILABLE);
        return;
    }
    if (!is_no_such(plain->ares_status)) {
        /* The server failed (timeout, SERVFAIL): no evidence that there are no SRV
         * records, so no fallback. An _xmpps-server failure alone does not count:
         * XEP-0368 is optional for the peer. */
        query_answer(q, map_status(plain->ares_status));
        return;
    }
    /* XEP-0368 §5: "." for _xmpps-server says the peer does use SRV, so no A/AAAA
     * fallback either. */
    if (tls->is_dot) {
        query_answer(q, RESOLVE_EUNAVAILABLE);
        return;
    }
    /* RFC 6120 §3.2.2: no SRV records at all, the domain's own addresses. */
    if (!add_rec(q, q->name, RESOLVE_XMPP_SERVER_PORT, 0, 0, false)) {
        query_answer(q, YB_ENOMEM);
        return;
    }
    expand(q);
}

static void
on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct srv_lookup *lk = arg;
    struct resolve_query *q = lk->q;
    q->n_pending--;
    if (!q->answered) {
        struct ares_srv_reply *reply = NULL;
        if (status == ARES_SUCCESS)
            status = ares_parse_srv_reply(abuf, alen, &reply);
        lk->ares_status = status;
        if (status == ARES_SUCCESS && reply != NULL && reply->next == NULL &&
            (reply->host[0] == '\0' || strcmp(reply->host, ".") == 0)) {
            lk->is_dot = true;
        } else if (status == ARES_SUCCESS) {
            size_t n = 0;
            for (const struct ares_srv_reply *s = reply; s != NULL; s = s->next) {
                /* A "." among other records means nothing; skip it. */
                if (s->host[0] == '\0' || strcmp(s->host, ".") == 0)
                    continue;
                if (!add_rec(q, s->host, s->port, s->priority, s->weight, lk->direct_tls))
                    break;
                n++;
            }
            if (n == 0)
                lk->ares_status = ARES_ENODATA;
        }
        if (reply != NULL)
            ares_free_data(reply);
        if (q->n_pending == 0)
            srv_done(q);
    }
    query_maybe_free(q);
}

struct resolve_query *
resolve_xmpp_server(struct resolver *r, const char *domain, resolve_fn fn, void *ud)
{
    struct resolve_query *q = query_new(r, domain, fn, ud);
    if (q == NULL)
        return NULL;
    if (answer_literal(q, RESOLVE_XMPP_SERVER_PORT))
        return q;
    static const char *const services[2] = {"_xmpp-server._tcp.", "_xmpps-server._tcp."};
    char qname[2][RESOLVE_MAX_NAME_LEN + 32];
    for (int i = 0; i < 2; i++) {
        q->lookups[i].q = q;
        q->lookups[i].direct_tls = i == 1;
        q->lookups[i].ares_status = ARES_ENODATA;
        snprintf(qname[i], sizeof qname[i], "%s%s", services[i], domain);
    }
    /* Both in parallel (XEP-0368 §3). Counted up front: c-ares may call back before
     * ares_query returns. */
    q->n_pending = 2;
    for (int i = 0; i < 2; i++)
        ares_query(r->channel, qname[i], C_IN, T_SRV, on_srv, &q->lookups[i]);
    rearm(r);
    return q;
}

struct resolve_query *
resolve_host(struct resolver *r, const char *name, int port, resolve_fn fn, void *ud)
{
    if (port <= 0 || port > 65535)
        return NULL;
    struct resolve_query *q = query_new(r, name, fn, ud);
    if (q == NULL)
        return NULL;
    if (answer_literal(q, port))
        return q;
    if (!add_rec(q, name, port, 0, 0, false)) {
        query_answer(q, YB_ENOMEM);
        return q;
    }
    expand(q);
    return q;
}

void
resolve_cancel(struct resolve_query *q)
{
    if (q == NULL)
        return;
    assert(!q->done);
    q->done = q->answered = true;
    /* c-ares cannot drop one query: its callbacks still come and only release q. */
    query_close(q);
}
