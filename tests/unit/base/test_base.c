/* SPDX-License-Identifier: MIT
 *
 * test_base.c: buffers and XML escaping, the string map, base64 (RFC 4648 §10
 * vectors, strict decoding), XEP-0082 time stamps and mkdir -p.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "base64.h"
#include "buf.h"
#include "clock.h"
#include "error.h"
#include "fs.h"
#include "hashmap.h"
#include "test.h"

TEST(buf_append_printf_consume)
{
    struct buf b = BUF_INIT;
    ASSERT_EQ(buf_puts(&b, "abc"), 0);
    ASSERT_EQ(buf_printf(&b, "-%d-%s", 42, "x"), 0);
    ASSERT_STR_EQ(b.data, "abc-42-x");
    buf_consume(&b, 4);
    ASSERT_STR_EQ(b.data, "42-x");
    ASSERT_EQ(b.len, 4);
    char *s = buf_steal(&b);
    ASSERT_STR_EQ(s, "42-x");
    ASSERT_NULL(b.data);
    yb_free(s);
}

TEST(buf_escaping)
{
    struct buf b = BUF_INIT;
    const char in[] = "<a href=\"x\">'&'\t\n\r</a>";
    ASSERT_EQ(buf_put_xml_escaped(&b, in, sizeof in - 1), 0);
    ASSERT_STR_EQ(b.data, "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&#9;&#10;&#13;&lt;/a&gt;");
    buf_clear(&b);
    ASSERT_EQ(buf_put_xml_text(&b, in, sizeof in - 1), 0);
    ASSERT_STR_EQ(b.data, "&lt;a href=\"x\"&gt;'&amp;'\t\n&#13;&lt;/a&gt;");
    buf_fini(&b);
}

TEST(buf_oom_leaves_it_unchanged)
{
    struct buf b = BUF_INIT;
    ASSERT_EQ(buf_puts(&b, "keep"), 0);
    yb_alloc_fail_after(0);
    char big[4096];
    memset(big, 'x', sizeof big);
    int rc = buf_append(&b, big, sizeof big);
    yb_alloc_fail_after(-1);
    ASSERT_EQ(rc, YB_ENOMEM);
    ASSERT_STR_EQ(b.data, "keep");
    buf_fini(&b);
}

TEST(hashmap_basics_and_growth)
{
    struct hashmap m;
    hashmap_init(&m);
    char key[32];
    for (long i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%ld", i);
        ASSERT_EQ(hashmap_set(&m, key, (void *)(i + 1)), 0);
    }
    ASSERT_EQ(hashmap_count(&m), 5000);
    for (long i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof key, "k%ld", i);
        ASSERT_EQ((long)hashmap_remove(&m, key), i + 1);
    }
    ASSERT_EQ(hashmap_count(&m), 2500);
    ASSERT_NULL(hashmap_get(&m, "k0"));
    ASSERT_EQ((long)hashmap_get(&m, "k4999"), 5000);
    ASSERT_EQ(hashmap_set(&m, "k1", (void *)7), 0); /* replace */
    ASSERT_EQ((long)hashmap_get(&m, "k1"), 7);
    size_t n = 0;
    struct hashmap_iter it;
    const char *k;
    hashmap_iter_init(&it, &m);
    while (hashmap_iter_next(&it, &k, NULL)) {
        ASSERT_TRUE(k[0] == 'k');
        n++;
    }
    ASSERT_EQ(n, 2500);
    /* Removing the current key while iterating is allowed. */
    hashmap_iter_init(&it, &m);
    while (hashmap_iter_next(&it, &k, NULL))
        hashmap_remove(&m, k);
    ASSERT_EQ(hashmap_count(&m), 0);
    hashmap_fini(&m);
}

TEST(base64_rfc4648_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *e = base64_encode(plain[i], strlen(plain[i]));
        ASSERT_STR_EQ(e, enc[i]);
        yb_free(e);
        size_t len;
        unsigned char *d = base64_decode(enc[i], strlen(enc[i]), &len);
        ASSERT_NOT_NULL(d);
        ASSERT_EQ(len, strlen(plain[i]));
        ASSERT_MEM_EQ(d, plain[i], len);
        yb_free(d);
    }
}

TEST(base64_strict)
{
    static const char *const bad[] = {"Zg=",  "Zg",   "Z===", "Zm9v\n",   "Zm 9",
                                      "Zh==", "Zm9=", "=Zm9", "Zg==Zg==", "Zm9v!A=="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len;
        unsigned char *d = base64_decode(bad[i], strlen(bad[i]), &len);
        if (d != NULL)
            TEST__FAIL("accepted \"%s\"", bad[i]);
    }
}

TEST(xep82_round_trip)
{
    char s[32];
    clock_format_xep82(1764460404123000LL, s);
    ASSERT_STR_EQ(s, "2025-11-29T23:53:24.123Z");
    int64_t t;
    ASSERT_EQ(clock_parse_xep82(s, &t), 0);
    ASSERT_EQ(t, 1764460404123000LL);
    ASSERT_EQ(clock_parse_xep82("2025-11-29T23:53:24+01:00", &t), 0);
    ASSERT_EQ(t, 1764456804000000LL);
    ASSERT_EQ(clock_parse_xep82("2025-11-29 23:53:24Z", &t), YB_EINVAL);
    ASSERT_EQ(clock_parse_xep82("2025-11-29T23:53:24", &t), YB_EINVAL);
    ASSERT_EQ(clock_parse_xep82("2025-11-29T23:53:24Zjunk", &t), YB_EINVAL);
}

TEST(mkdirs)
{
    char tmpl[] = "/tmp/yerba-test-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(tmpl));
    char path[256];
    snprintf(path, sizeof path, "%s/a/b/c", tmpl);
    ASSERT_EQ(fs_mkdirs(path, 0700), 0);
    ASSERT_EQ(fs_mkdirs(path, 0700), 0); /* exists: fine */
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_TRUE(S_ISDIR(st.st_mode));
    ASSERT_EQ(st.st_mode & 0777, 0700);
    char file[300];
    snprintf(file, sizeof file, "%s/f", tmpl);
    FILE *f = fopen(file, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/f/sub", tmpl);
    ASSERT_EQ(fs_mkdirs(path, 0700), YB_EIO); /* a file is in the way */
    unlink(file);
    const char *rm[] = {"a/b/c", "a/b", "a"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpl, rm[i]);
        rmdir(path);
    }
    rmdir(tmpl);
}

TEST_MAIN(TEST_CASE(buf_append_printf_consume), TEST_CASE(buf_escaping),
          TEST_CASE(buf_oom_leaves_it_unchanged), TEST_CASE(hashmap_basics_and_growth),
          TEST_CASE(base64_rfc4648_vectors), TEST_CASE(base64_strict), TEST_CASE(xep82_round_trip),
          TEST_CASE(mkdirs))
