/* SPDX-License-Identifier: MIT
 *
 * test_resolve.c: the s2s resolver (resolve.c) against a real dnsmasq on a free
 * loopback port serving test zones: SRV order by priority and weight, _xmpps and
 * _xmpp records merged with direct_tls, targets expanded to IPv4 and IPv6, the A/AAAA
 * fallback on 5269, "." targets, unknown domains, IP literals, the target limit,
 * cancel, resolver_free with queries pending, and a timeout against a UDP port that
 * never answers. dnsmasq is started once by fork/exec and killed by its PID at exit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "resolve.h"
#include "test.h"

#define DNSMASQ    "/usr/sbin/dnsmasq"
#define TIMEOUT_MS 3000
#define N_MANY     20  /* SRV records of many.example, more than RESOLVE_MAX_TARGETS */
#define N_WEIGHTED 100 /* queries of the weight test */

static pid_t dns_pid = -1;
static int dns_port;
static char dns_servers[64];

struct result {
    int calls;
    int status;
    size_t n;
    struct resolve_target t[RESOLVE_MAX_TARGETS];
};

static void
on_result(void *ud, int status, const struct resolve_target *t, size_t n)
{
    struct result *res = ud;
    res->calls++;
    res->status = status;
    res->n = n;
    if (n > 0 && n <= RESOLVE_MAX_TARGETS)
        memcpy(res->t, t, n * sizeof *t);
}

static void
stop_dnsmasq(void)
{
    if (dns_pid > 0) {
        kill(dns_pid, SIGTERM);
        waitpid(dns_pid, NULL, 0);
        dns_pid = -1;
    }
}

/* A port free for both UDP and TCP on 127.0.0.1 (dnsmasq binds both). */
static int
free_port(void)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        if (u < 0 || bind(u, (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(u, (struct sockaddr *)&a, &len) != 0) {
            close(u);
            continue;
        }
        int t = socket(AF_INET, SOCK_STREAM, 0);
        bool ok = t >= 0 && bind(t, (struct sockaddr *)&a, sizeof a) == 0;
        close(t);
        close(u);
        if (ok)
            return ntohs(a.sin_port);
    }
    return -1;
}

static void
on_guard(uv_timer_t *t)
{
    (void)t;
}

/* Runs loop until *flag is nonzero or ms pass. Returns whether the flag came. */
static bool
run_until(uv_loop_t *loop, const int *flag, unsigned ms)
{
    uint64_t deadline = uv_now(loop) + ms;
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    while (*flag == 0 && uv_now(loop) < deadline) {
        uv_timer_start(&guard, on_guard, deadline - uv_now(loop), 0);
        uv_run(loop, UV_RUN_ONCE);
        uv_update_time(loop);
    }
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag != 0;
}

/* Runs the loop for ms whatever happens. */
static void
run_for(uv_loop_t *loop, unsigned ms)
{
    int never = 0;
    run_until(loop, &never, ms);
}

static struct resolver *
new_resolver(uv_loop_t *loop, const char *servers, unsigned timeout_ms)
{
    uv_loop_init(loop);
    return resolver_new(loop, servers, timeout_ms);
}

/* Frees r and checks that nothing of it is left on the loop. */
static int
finish(uv_loop_t *loop, struct resolver *r)
{
    resolver_free(r);
    uv_run(loop, UV_RUN_NOWAIT);
    return uv_loop_close(loop);
}

static bool
start_dnsmasq(void)
{
    if (dns_pid > 0)
        return true;
    dns_port = free_port();
    if (dns_port < 0)
        return false;
    snprintf(dns_servers, sizeof dns_servers, "127.0.0.1:%d", dns_port);
    static char args[64][128];
    char *argv[70];
    int n = 0;
#define ARG(...) (snprintf(args[n], sizeof args[n], __VA_ARGS__), argv[n] = args[n], n++)
    ARG("%s", DNSMASQ);
    ARG("--port=%d", dns_port);
    ARG("--listen-address=127.0.0.1");
    ARG("--bind-interfaces");
    ARG("--no-resolv");
    ARG("--no-hosts");
    ARG("--keep-in-foreground");
    ARG("--conf-file=/dev/null");
    ARG("--pid-file=");
    ARG("--log-facility=/dev/null");
    /* Authoritative for example.: unknown names get NXDOMAIN, not REFUSED. */
    ARG("--local=/example/");
    ARG("--host-record=ready.example,127.0.0.1");
    /* d1: two _xmpp-server records and one _xmpps-server between them. */
    ARG("--srv-host=_xmpp-server._tcp.d1.example,low.d1.example,5301,30,0");
    ARG("--srv-host=_xmpp-server._tcp.d1.example,high.d1.example,5302,10,0");
    ARG("--srv-host=_xmpps-server._tcp.d1.example,tls.d1.example,5303,20,0");
    ARG("--host-record=high.d1.example,127.0.0.2,fd00::2");
    ARG("--host-record=tls.d1.example,127.0.0.4");
    ARG("--host-record=low.d1.example,127.0.0.3,fd00::3");
    /* d2, d2b: no SRV at all. */
    ARG("--address=/d2.example/127.0.0.5");
    ARG("--host-record=d2b.example,127.0.0.7,fd00::7");
    /* d3: "." for _xmpp-server, with an address that must not be used. */
    ARG("--srv-host=_xmpp-server._tcp.d3.example");
    ARG("--host-record=d3.example,127.0.0.6");
    /* d4: "." for _xmpps-server only; d5: that and no _xmpp-server records. */
    ARG("--srv-host=_xmpps-server._tcp.d4.example");
    ARG("--srv-host=_xmpp-server._tcp.d4.example,x.d4.example,5310,0,0");
    ARG("--host-record=x.d4.example,127.0.0.8");
    ARG("--srv-host=_xmpps-server._tcp.d5.example");
    ARG("--host-record=d5.example,127.0.0.8");
    /* d6: the best target has no address. */
    ARG("--srv-host=_xmpp-server._tcp.d6.example,ghost.d6.example,5320,0,0");
    ARG("--srv-host=_xmpp-server._tcp.d6.example,real.d6.example,5321,10,0");
    ARG("--host-record=real.d6.example,127.0.0.9");
    /* d7: one priority, weights 90 and 10. */
    ARG("--srv-host=_xmpp-server._tcp.d7.example,heavy.d7.example,5330,5,90");
    ARG("--srv-host=_xmpp-server._tcp.d7.example,light.d7.example,5331,5,10");
    ARG("--host-record=heavy.d7.example,127.0.0.10");
    ARG("--host-record=light.d7.example,127.0.0.11");
    /* many: more records than targets allowed (and a truncated UDP answer). */
    for (int i = 0; i < N_MANY; i++)
        ARG("--srv-host=_xmpp-server._tcp.many.example,many.example,%d,%d,0", 6000 + i, i);
    ARG("--host-record=many.example,127.0.0.12");
#undef ARG
    argv[n] = NULL;

    dns_pid = fork();
    if (dns_pid < 0)
        return false;
    if (dns_pid == 0) {
        execv(DNSMASQ, argv);
        _exit(127);
    }
    atexit(stop_dnsmasq);
    /* Ready once it answers; bounded. */
    for (int attempt = 0; attempt < 50; attempt++) {
        if (waitpid(dns_pid, NULL, WNOHANG) == dns_pid) {
            dns_pid = -1;
            return false;
        }
        uv_loop_t loop;
        struct resolver *r = new_resolver(&loop, dns_servers, 200);
        struct result res = {0};
        resolve_host(r, "ready.example", 1, on_result, &res);
        run_until(&loop, &res.calls, 1000);
        finish(&loop, r);
        if (res.status == 0 && res.n == 1)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

/* Index of ip:port in res, or -1. */
static int
find(const struct result *res, const char *ip, int port)
{
    for (size_t i = 0; i < res->n; i++)
        if (strcmp(res->t[i].ip, ip) == 0 && res->t[i].port == port)
            return (int)i;
    return -1;
}

/* Resolves domain on a fresh resolver pointed at dnsmasq into res. */
static bool
resolve_once(const char *domain, struct result *res)
{
    uv_loop_t loop;
    struct resolver *r = new_resolver(&loop, dns_servers, TIMEOUT_MS);
    if (r == NULL)
        return false;
    memset(res, 0, sizeof *res);
    struct resolve_query *q = resolve_xmpp_server(r, domain, on_result, res);
    bool sync = res->calls != 0;
    bool came = q != NULL && run_until(&loop, &res->calls, TIMEOUT_MS + 2000);
    return finish(&loop, r) == 0 && !sync && came && res->calls == 1;
}

TEST(dnsmasq_starts)
{
    ASSERT_TRUE(start_dnsmasq());
}

TEST(srv_priority_and_xmpps_merge)
{
    struct result res;
    ASSERT_TRUE(resolve_once("d1.example", &res));
    ASSERT_EQ(res.status, 0);
    ASSERT_EQ(res.n, 5);
    /* Priority 10: high (both families), 20: tls, 30: low. */
    int h4 = find(&res, "127.0.0.2", 5302), h6 = find(&res, "fd00::2", 5302);
    int tls = find(&res, "127.0.0.4", 5303);
    int l4 = find(&res, "127.0.0.3", 5301), l6 = find(&res, "fd00::3", 5301);
    ASSERT_TRUE(h4 >= 0 && h4 < 2);
    ASSERT_TRUE(h6 >= 0 && h6 < 2);
    ASSERT_EQ(tls, 2);
    ASSERT_TRUE(l4 >= 3 && l6 >= 3);
    ASSERT_STR_EQ(res.t[h4].host, "high.d1.example");
    ASSERT_STR_EQ(res.t[tls].host, "tls.d1.example");
    ASSERT_TRUE(res.t[tls].direct_tls);
    ASSERT_FALSE(res.t[h4].direct_tls || res.t[h6].direct_tls);
    ASSERT_FALSE(res.t[l4].direct_tls || res.t[l6].direct_tls);
}

TEST(fallback_to_addresses_on_5269)
{
    struct result res;
    ASSERT_TRUE(resolve_once("d2.example", &res));
    ASSERT_EQ(res.status, 0);
    ASSERT_EQ(res.n, 1);
    ASSERT_STR_EQ(res.t[0].ip, "127.0.0.5");
    ASSERT_EQ(res.t[0].port, RESOLVE_XMPP_SERVER_PORT);
    ASSERT_FALSE(res.t[0].direct_tls);
    ASSERT_STR_EQ(res.t[0].host, "d2.example");

    ASSERT_TRUE(resolve_once("d2b.example", &res));
    ASSERT_EQ(res.status, 0);
    ASSERT_EQ(res.n, 2);
    ASSERT_TRUE(find(&res, "127.0.0.7", 5269) >= 0);
    ASSERT_TRUE(find(&res, "fd00::7", 5269) >= 0);
}

TEST(dot_target_means_unavailable)
{
    struct result res;
    ASSERT_TRUE(resolve_once("d3.example", &res));
    ASSERT_EQ(res.status, RESOLVE_EUNAVAILABLE);
    ASSERT_EQ(res.n, 0);
    /* "." for _xmpps-server only: the _xmpp-server records are used. */
    ASSERT_TRUE(resolve_once("d4.example", &res));
    ASSERT_EQ(res.status, 0);
    ASSERT_EQ(res.n, 1);
    ASSERT_EQ(find(&res, "127.0.0.8", 5310), 0);
    /* "." for _xmpps-server and nothing else: no A fallback (XEP-0368). */
    ASSERT_TRUE(resolve_once("d5.example", &res));
    ASSERT_EQ(res.status, RESOLVE_EUNAVAILABLE);
    ASSERT_EQ(res.n, 0);
}

TEST(target_without_address_skipped)
{
    struct result res;
    ASSERT_TRUE(resolve_once("d6.example", &res));
    ASSERT_EQ(res.status, 0);
    ASSERT_EQ(res.n, 1);
    ASSERT_EQ(find(&res, "127.0.0.9", 5321), 0);
}

TEST(unknown_domain_not_found)
{
    struct result res;
    ASSERT_TRUE(resolve_once("nope.example", &res));
    ASSERT_EQ(res.status, RESOLVE_ENOTFOUND);
    ASSERT_EQ(res.n, 0);
}

TEST(ip_literals)
{
    struct result res;
    ASSERT_TRUE(resolve_once("127.0.0.42", &res));
    ASSERT_EQ(res.status, 0);
    ASSERT_EQ(res.n, 1);
    ASSERT_EQ(find(&res, "127.0.0.42", 5269), 0);
    ASSERT_TRUE(resolve_once("[::1]", &res));
    ASSERT_EQ(res.n, 1);
    ASSERT_EQ(find(&res, "::1", 5269), 0);
    ASSERT_TRUE(resolve_once("0:0::1", &res));
    ASSERT_EQ(find(&res, "::1", 5269), 0);
}

TEST(target_limit)
{
    struct result res;
    ASSERT_TRUE(resolve_once("many.example", &res));
    ASSERT_EQ(res.status, 0);
    ASSERT_EQ(res.n, RESOLVE_MAX_TARGETS);
    for (int i = 0; i < RESOLVE_MAX_TARGETS; i++)
        ASSERT_EQ(res.t[i].port, 6000 + i); /* priority i */
}

TEST(weights_within_priority)
{
    uv_loop_t loop;
    struct resolver *r = new_resolver(&loop, dns_servers, TIMEOUT_MS);
    ASSERT_NOT_NULL(r);
    static struct result res[N_WEIGHTED];
    memset(res, 0, sizeof res);
    for (int i = 0; i < N_WEIGHTED; i++)
        ASSERT_NOT_NULL(resolve_xmpp_server(r, "d7.example", on_result, &res[i]));
    int heavy_first = 0, done = 0;
    for (int i = 0; i < N_WEIGHTED; i++) {
        run_until(&loop, &res[i].calls, TIMEOUT_MS + 2000);
        if (res[i].calls == 1 && res[i].status == 0 && res[i].n == 2) {
            done++;
            heavy_first += strcmp(res[i].t[0].ip, "127.0.0.10") == 0;
        }
    }
    ASSERT_EQ(finish(&loop, r), 0);
    ASSERT_EQ(done, N_WEIGHTED);
    /* RFC 2782 draws the weight-90 record first with probability 90/101 (and the
     * weight-10 one with 11/101): about 89 of 100, far from both bounds. */
    ASSERT_TRUE(heavy_first >= 70);
    ASSERT_TRUE(heavy_first < N_WEIGHTED);
}

TEST(resolve_host_both_families)
{
    uv_loop_t loop;
    struct resolver *r = new_resolver(&loop, dns_servers, TIMEOUT_MS);
    ASSERT_NOT_NULL(r);
    struct result res = {0}, missing = {0};
    ASSERT_NOT_NULL(resolve_host(r, "high.d1.example", 1234, on_result, &res));
    ASSERT_NOT_NULL(resolve_host(r, "nope.example", 1234, on_result, &missing));
    ASSERT_EQ(res.calls, 0);
    run_until(&loop, &res.calls, TIMEOUT_MS + 2000);
    run_until(&loop, &missing.calls, TIMEOUT_MS + 2000);
    ASSERT_EQ(finish(&loop, r), 0);
    ASSERT_EQ(res.calls, 1);
    ASSERT_EQ(res.status, 0);
    ASSERT_EQ(res.n, 2);
    ASSERT_TRUE(find(&res, "127.0.0.2", 1234) >= 0);
    ASSERT_TRUE(find(&res, "fd00::2", 1234) >= 0);
    ASSERT_EQ(missing.calls, 1);
    ASSERT_EQ(missing.status, RESOLVE_ENOTFOUND);
}

TEST(invalid_arguments)
{
    uv_loop_t loop;
    struct resolver *r = new_resolver(&loop, dns_servers, TIMEOUT_MS);
    ASSERT_NOT_NULL(r);
    struct result res = {0};
    ASSERT_NULL(resolve_xmpp_server(r, "", on_result, &res));
    ASSERT_NULL(resolve_xmpp_server(r, "a b.example", on_result, &res));
    ASSERT_NULL(resolve_host(r, "d1.example", 0, on_result, &res));
    ASSERT_NULL(resolver_new(&loop, "not a server list", 100));
    run_for(&loop, 50);
    ASSERT_EQ(finish(&loop, r), 0);
    ASSERT_EQ(res.calls, 0);
}

TEST(cancel_never_calls_back)
{
    uv_loop_t loop;
    struct resolver *r = new_resolver(&loop, dns_servers, TIMEOUT_MS);
    ASSERT_NOT_NULL(r);
    struct result cancelled = {0}, literal = {0}, after = {0};
    struct resolve_query *q = resolve_xmpp_server(r, "d1.example", on_result, &cancelled);
    struct resolve_query *ql = resolve_xmpp_server(r, "127.0.0.1", on_result, &literal);
    ASSERT_NOT_NULL(q);
    ASSERT_NOT_NULL(ql);
    resolve_cancel(q);
    resolve_cancel(ql);
    /* A later query to the same server completes after the cancelled one's
     * answers came back; then some more time for stragglers. */
    ASSERT_NOT_NULL(resolve_xmpp_server(r, "d1.example", on_result, &after));
    run_until(&loop, &after.calls, TIMEOUT_MS + 2000);
    run_for(&loop, 200);
    ASSERT_EQ(finish(&loop, r), 0);
    ASSERT_EQ(after.calls, 1);
    ASSERT_EQ(after.status, 0);
    ASSERT_EQ(cancelled.calls, 0);
    ASSERT_EQ(literal.calls, 0);
}

TEST(free_with_queries_pending)
{
    uv_loop_t loop;
    struct resolver *r = new_resolver(&loop, dns_servers, TIMEOUT_MS);
    ASSERT_NOT_NULL(r);
    struct result a = {0}, b = {0}, c = {0}, d = {0};
    ASSERT_NOT_NULL(resolve_xmpp_server(r, "d1.example", on_result, &a));
    ASSERT_NOT_NULL(resolve_host(r, "high.d1.example", 5, on_result, &b));
    resolve_cancel(resolve_xmpp_server(r, "d2.example", on_result, &c));
    ASSERT_NOT_NULL(resolve_xmpp_server(r, "127.0.0.1", on_result, &d));
    ASSERT_EQ(a.calls, 0);
    ASSERT_EQ(finish(&loop, r), 0);
    ASSERT_EQ(a.calls, 1);
    ASSERT_EQ(a.status, RESOLVE_ECANCELED);
    ASSERT_EQ(a.n, 0);
    ASSERT_EQ(b.calls, 1);
    ASSERT_EQ(b.status, RESOLVE_ECANCELED);
    ASSERT_EQ(c.calls, 0);
    ASSERT_EQ(d.calls, 1);
}

TEST(free_mid_flight)
{
    /* Freed while answers are in flight, after a few ms of the loop: each callback
     * runs once (with the answer or canceled), nothing leaks (ASan build). */
    for (unsigned ms = 1; ms <= 8; ms *= 2) {
        uv_loop_t loop;
        struct resolver *r = new_resolver(&loop, dns_servers, TIMEOUT_MS);
        ASSERT_NOT_NULL(r);
        struct result a = {0}, b = {0};
        ASSERT_NOT_NULL(resolve_xmpp_server(r, "d1.example", on_result, &a));
        ASSERT_NOT_NULL(resolve_xmpp_server(r, "many.example", on_result, &b));
        run_for(&loop, ms);
        ASSERT_EQ(finish(&loop, r), 0);
        ASSERT_EQ(a.calls, 1);
        ASSERT_EQ(b.calls, 1);
        ASSERT_TRUE(a.status == 0 || a.status == RESOLVE_ECANCELED);
        ASSERT_TRUE(b.status == 0 || b.status == RESOLVE_ECANCELED);
    }
}

TEST(timeout_when_server_silent)
{
    /* A UDP socket that never reads stands for a server that never answers. */
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ASSERT_TRUE(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0);
    ASSERT_EQ(getsockname(s, (struct sockaddr *)&a, &len), 0);
    char servers[64];
    snprintf(servers, sizeof servers, "127.0.0.1:%d", ntohs(a.sin_port));

    uv_loop_t loop;
    struct resolver *r = new_resolver(&loop, servers, 400);
    ASSERT_NOT_NULL(r);
    struct result srv = {0}, host = {0};
    uint64_t t0 = uv_hrtime();
    ASSERT_NOT_NULL(resolve_xmpp_server(r, "d1.example", on_result, &srv));
    ASSERT_NOT_NULL(resolve_host(r, "high.d1.example", 1, on_result, &host));
    run_until(&loop, &srv.calls, 5000);
    run_until(&loop, &host.calls, 5000);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    ASSERT_EQ(finish(&loop, r), 0);
    close(s);
    ASSERT_EQ(srv.calls, 1);
    ASSERT_EQ(srv.status, RESOLVE_ETIMEDOUT);
    ASSERT_EQ(host.calls, 1);
    ASSERT_EQ(host.status, RESOLVE_ETIMEDOUT);
    ASSERT_TRUE(ms >= 100);  /* c-ares did wait for answers ... */
    ASSERT_TRUE(ms <= 1500); /* ... within the 400 ms deadline, plus slack */
}

TEST(dnsmasq_stops)
{
    ASSERT_TRUE(dns_pid > 0);
    stop_dnsmasq();
    ASSERT_EQ(dns_pid, -1);
}

TEST_MAIN(TEST_CASE(dnsmasq_starts), TEST_CASE(srv_priority_and_xmpps_merge),
          TEST_CASE(fallback_to_addresses_on_5269), TEST_CASE(dot_target_means_unavailable),
          TEST_CASE(target_without_address_skipped), TEST_CASE(unknown_domain_not_found),
          TEST_CASE(ip_literals), TEST_CASE(target_limit), TEST_CASE(weights_within_priority),
          TEST_CASE(resolve_host_both_families), TEST_CASE(invalid_arguments),
          TEST_CASE(cancel_never_calls_back), TEST_CASE(free_with_queries_pending),
          TEST_CASE(free_mid_flight), TEST_CASE(timeout_when_server_silent),
          TEST_CASE(dnsmasq_stops))
