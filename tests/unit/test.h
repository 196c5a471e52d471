/* SPDX-License-Identifier: MIT
 *
 * test.h: the in-tree unit test harness. A test file defines TEST(name) functions
 * and lists them in TEST_MAIN(...). Failed assertions print both sides and the
 * location, and the test carries on with the next TEST.
 */
#ifndef YB_TEST_H
#define YB_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int test__failed;
extern const char *test__current;

#define TEST(name) static void test_##name(void)

#define TEST__FAIL(...)                                                                            \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, test__current);                         \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        test__failed = 1;                                                                          \
        return;                                                                                    \
    } while (0)

#define ASSERT_TRUE(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            TEST__FAIL("expected true: %s", #c);                                                   \
    } while (0)
#define ASSERT_FALSE(c)                                                                            \
    do {                                                                                           \
        if (c)                                                                                     \
            TEST__FAIL("expected false: %s", #c);                                                  \
    } while (0)
#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                           \
        if (a_ != b_)                                                                              \
            TEST__FAIL("%s == %s: %jd != %jd", #a, #b, a_, b_);                                    \
    } while (0)
#define ASSERT_NE(a, b)                                                                            \
    do {                                                                                           \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                           \
        if (a_ == b_)                                                                              \
            TEST__FAIL("%s != %s: both %jd", #a, #b, a_);                                          \
    } while (0)
#define ASSERT_NULL(p)                                                                             \
    do {                                                                                           \
        if ((p) != NULL)                                                                           \
            TEST__FAIL("expected NULL: %s", #p);                                                   \
    } while (0)
#define ASSERT_NOT_NULL(p)                                                                         \
    do {                                                                                           \
        if ((p) == NULL)                                                                           \
            TEST__FAIL("unexpected NULL: %s", #p);                                                 \
    } while (0)
#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                       \
            TEST__FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",                   \
                       b_ ? b_ : "(null)");                                                        \
    } while (0)
#define ASSERT_MEM_EQ(a, b, n)                                                                     \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0)                                                            \
            TEST__FAIL("%s and %s differ in their first %zu bytes", #a, #b, (size_t)(n));          \
    } while (0)

struct test__case {
    const char *name;
    void (*fn)(void);
};

#define TEST_CASE(name)                                                                            \
    {                                                                                              \
#name, test_##name                                                                         \
    }

#define TEST_MAIN(...)                                                                             \
    int test__failed;                                                                              \
    const char *test__current;                                                                     \
    int main(void)                                                                                 \
    {                                                                                              \
        static const struct test__case cases[] = {__VA_ARGS__};                                    \
        int n_failed = 0;                                                                          \
        size_t n = sizeof cases / sizeof cases[0];                                                 \
        for (size_t i = 0; i < n; i++) {                                                           \
            test__current = cases[i].name;                                                         \
            test__failed = 0;                                                                      \
            cases[i].fn();                                                                         \
            if (test__failed)                                                                      \
                n_failed++;                                                                        \
            printf("%s %s\n", test__failed ? "FAIL" : "ok  ", cases[i].name);                      \
        }                                                                                          \
        printf("%zu passed, %d failed\n", n - (size_t)n_failed, n_failed);                         \
        return n_failed ? 1 : 0;                                                                   \
    }

#endif
