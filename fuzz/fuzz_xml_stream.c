/* SPDX-License-Identifier: MIT
 *
 * fuzz_xml_stream.c: libFuzzer target for the stream parser (src/xml/parser.c) and
 * the serializer. The first input byte picks how the rest is cut into feeds and when
 * the parser is suspended; every stanza must serialise, parse back with
 * stanza_parse() and serialise to the same bytes, and survive a deep copy.
 * Build: clang -fsanitize=fuzzer,address,undefined ... Without libFuzzer, define
 * FUZZ_REPLAY_MAIN to get a main() that runs the files named on its command line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "parser.h"
#include "stanza.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_state {
    struct parser *p;
    unsigned n_events;
    unsigned suspend_every; /* suspend in every n-th stanza callback, 0: never */
    int failed;
};

static void
check_round_trip(const struct stanza *st)
{
    char *a = stanza_to_string(st);
    if (a == NULL)
        abort(); /* no allocation failure is injected here */
    struct stanza *back = stanza_parse(a, strlen(a));
    if (back == NULL) {
        fprintf(stderr, "serialised stanza does not parse back: %s\n", a);
        abort();
    }
    char *b = stanza_to_string(back);
    struct stanza *cp = stanza_copy(back);
    char *c = cp ? stanza_to_string(cp) : NULL;
    if (b == NULL || c == NULL || strcmp(a, b) != 0 || strcmp(a, c) != 0) {
        fprintf(stderr, "round trip differs:\n%s\n%s\n%s\n", a, b ? b : "", c ? c : "");
        abort();
    }
    yb_free(a);
    yb_free(b);
    yb_free(c);
    stanza_unref(cp);
    stanza_unref(back);
}

static void
on_open(void *ud, const struct xml_node *header, const char *content_ns)
{
    struct fuzz_state *f = ud;
    (void)content_ns;
    f->n_events++;
    struct stanza *st = stanza_from_node(header);
    if (st == NULL)
        abort();
    check_round_trip(st);
    stanza_unref(st);
}

static void
on_stanza(void *ud, struct stanza *st)
{
    struct fuzz_state *f = ud;
    f->n_events++;
    check_round_trip(st);
    (void)node_text(stanza_root(st));
    stanza_unref(st);
    if (f->suspend_every != 0 && f->n_events % f->suspend_every == 0)
        parser_suspend(f->p);
}

static void
on_close(void *ud)
{
    struct fuzz_state *f = ud;
    f->n_events++;
}

static void
on_error(void *ud, enum parser_error err, const char *detail)
{
    struct fuzz_state *f = ud;
    (void)err, (void)detail;
    if (f->failed)
        abort(); /* error() must be the last callback */
    f->failed = 1;
}

static void
feed(struct fuzz_state *f, const uint8_t *data, size_t len)
{
    enum parser_status s = parser_feed(f->p, (const char *)data, len);
    while (s == PARSER_SUSPENDED)
        s = parser_resume(f->p);
    if ((s == PARSER_FAILED) != (f->failed != 0))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;

    struct parser_limits limits;
    parser_limits_default(&limits);
    if (mode & 0x80) {
        limits.max_stanza_bytes = 512;
        limits.max_header_bytes = 256;
        limits.max_depth = 4;
        limits.max_attrs = 6;
    }
    static const struct parser_callbacks cb = {on_open, on_stanza, on_close, on_error};
    struct fuzz_state f = {NULL, 0, (mode >> 4) & 3, 0};
    f.p = parser_new(&limits, &cb, &f);
    if (f.p == NULL)
        abort();

    /* Cut points: 1..15 bytes (low nibble), or three pieces at a third each. */
    size_t step = mode & 0x0f;
    if (step == 0)
        step = size / 3 + 1;
    for (size_t off = 0; off < size && !f.failed; off += step)
        feed(&f, data + off, size - off < step ? size - off : step);

    /* A reset stream takes the same input again from the start. */
    if (mode & 0x40) {
        if (parser_reset(f.p) != 0)
            abort();
        f.failed = 0;
        feed(&f, data, size);
    }
    parser_free(f.p);

    /* The whole input as one stored element. */
    struct stanza *st = stanza_parse((const char *)data, size);
    if (st != NULL) {
        check_round_trip(st);
        stanza_unref(st);
    }
    return 0;
}

#ifdef FUZZ_REPLAY_MAIN
int
main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *fp = fopen(argv[i], "rb");
        if (fp == NULL) {
            perror(argv[i]);
            return 1;
        }
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
