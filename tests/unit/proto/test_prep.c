/* SPDX-License-Identifier: MIT
 *
 * test_prep.c: the printable-ASCII fast path of proto__stringprep gives exactly what
 * libidn's stringprep gives, for every profile we use, on random strings drawn from
 * printable ASCII (prohibited characters and upper case included), and falls back to
 * libidn for anything else.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "internal.h"

/* libidn's own answer: 0 and the result, or YB_EINVAL. */
static int
reference(const char *s, const Stringprep_profile *p, char *out, size_t cap)
{
    snprintf(out, cap, "%s", s);
    return stringprep(out, cap, 0, p) == STRINGPREP_OK ? 0 : YB_EINVAL;
}

TEST(ascii_matches_libidn)
{
    const Stringprep_profile *profiles[] = {stringprep_xmpp_nodeprep, stringprep_nameprep,
                                            stringprep_xmpp_resourceprep, stringprep_saslprep};
    const char *names[] = {"nodeprep", "nameprep", "resourceprep", "saslprep"};
    srand(12345);
    for (int round = 0; round < 20000; round++) {
        char s[24];
        size_t len = (size_t)(rand() % 20);
        for (size_t i = 0; i < len; i++)
            s[i] = (char)(0x20 + rand() % 95);
        s[len] = '\0';
        for (size_t p = 0; p < 4; p++) {
            char want[256];
            int want_rc = reference(s, profiles[p], want, sizeof want);
            char *got = NULL;
            int rc = proto__stringprep(s, len, profiles[p], false, 1023, &got);
            if (rc != want_rc || (rc == 0 && strcmp(got, want) != 0))
                TEST__FAIL("%s(\"%s\"): got %d \"%s\", libidn %d \"%s\"", names[p], s, rc,
                           got ? got : "", want_rc, want_rc == 0 ? want : "");
            yb_free(got);
        }
    }
}

TEST(fast_path_respects_lengths_and_bounds)
{
    char *out = NULL;
    /* Not NUL-terminated at len: only s[0..len) counts. */
    ASSERT_EQ(proto__stringprep("Abc@def", 3, stringprep_xmpp_nodeprep, false, 1023, &out), 0);
    ASSERT_STR_EQ(out, "abc");
    yb_free(out);
    ASSERT_EQ(proto__stringprep("abcd", 4, stringprep_nameprep, false, 3, &out), YB_EINVAL);
    ASSERT_NULL(out);
    ASSERT_EQ(proto__stringprep("Res Ource", 9, stringprep_xmpp_resourceprep, false, 1023, &out),
              0);
    ASSERT_STR_EQ(out, "Res Ource");
    yb_free(out);
    /* Outside printable ASCII: libidn decides (here: a control character). */
    ASSERT_EQ(proto__stringprep("a\tb", 3, stringprep_xmpp_resourceprep, false, 1023, &out),
              YB_EINVAL);
    /* Non-ASCII still folds through libidn. */
    ASSERT_EQ(proto__stringprep("\xc3\x84x", 3, stringprep_xmpp_nodeprep, false, 1023, &out), 0);
    ASSERT_STR_EQ(out, "\xc3\xa4x");
    yb_free(out);
}

TEST_MAIN(TEST_CASE(ascii_matches_libidn), TEST_CASE(fast_path_respects_lengths_and_bounds))
