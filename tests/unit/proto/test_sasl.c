/* SPDX-License-Identifier: MIT
 *
 * test_sasl.c: the PLAIN message (RFC 4616), SASLprep (RFC 4013 §3 examples) and the
 * failure names.
 */
#include "test.h"

#include "alloc.h"
#include "error.h"
#include "sasl.h"

#define PLAIN(lit) lit, sizeof(lit) - 1

TEST(plain_valid)
{
    char *st;
    const char *zid, *cid, *pw;
    ASSERT_EQ(sasl_plain_parse(PLAIN("\0tim\0tanstaaftanstaaf"), &st, &zid, &cid, &pw), 0);
    ASSERT_NULL(zid);
    ASSERT_STR_EQ(cid, "tim");
    ASSERT_STR_EQ(pw, "tanstaaftanstaaf");
    yb_free(st);

    ASSERT_EQ(sasl_plain_parse(PLAIN("Ursel\0Kurt\0xipj3plmq"), &st, &zid, &cid, &pw), 0);
    ASSERT_STR_EQ(zid, "Ursel");
    ASSERT_STR_EQ(cid, "Kurt");
    ASSERT_STR_EQ(pw, "xipj3plmq");
    yb_free(st);

    ASSERT_EQ(sasl_plain_parse(PLAIN("\0us\xC3\xA9r\0p\xE2\x82\xAC"), &st, &zid, &cid, &pw), 0);
    ASSERT_STR_EQ(cid, "us\xC3\xA9r");
    ASSERT_STR_EQ(pw, "p\xE2\x82\xAC");
    yb_free(st);
}

TEST(plain_invalid)
{
    static char dummy[] = "x";
    char *st = dummy;
    const char *zid, *cid, *pw;
    ASSERT_EQ(sasl_plain_parse(PLAIN(""), &st, &zid, &cid, &pw), YB_EINVAL);
    ASSERT_NULL(st);
    ASSERT_EQ(sasl_plain_parse(PLAIN("\0tim"), &st, &zid, &cid, &pw), YB_EINVAL);
    ASSERT_EQ(sasl_plain_parse(PLAIN("tim\0pw"), &st, &zid, &cid, &pw), YB_EINVAL);
    ASSERT_EQ(sasl_plain_parse(PLAIN("\0\0pw"), &st, &zid, &cid, &pw), YB_EINVAL);
    ASSERT_EQ(sasl_plain_parse(PLAIN("\0tim\0"), &st, &zid, &cid, &pw), YB_EINVAL);
    ASSERT_EQ(sasl_plain_parse(PLAIN("\0tim\0p\0w"), &st, &zid, &cid, &pw), YB_EINVAL);
    ASSERT_EQ(sasl_plain_parse(PLAIN("\0\0"), &st, &zid, &cid, &pw), YB_EINVAL);
    ASSERT_EQ(sasl_plain_parse(PLAIN("\0tim\0\xff"), &st, &zid, &cid, &pw), YB_EINVAL);
    ASSERT_EQ(sasl_plain_parse(PLAIN("\xc0\x80\0tim\0pw"), &st, &zid, &cid, &pw), YB_EINVAL);
    ASSERT_EQ(sasl_plain_parse(NULL, 0, &st, &zid, &cid, &pw), YB_EINVAL);
    ASSERT_NULL(st);
}

TEST(plain_limits)
{
    char msg[3 * 1025 + 2];
    /* 1024 bytes per part is fine. */
    memset(msg, 'z', 1024);
    msg[1024] = '\0';
    memset(msg + 1025, 'c', 1024);
    msg[2049] = '\0';
    memset(msg + 2050, 'p', 1024);
    char *st;
    const char *zid, *cid, *pw;
    ASSERT_EQ(sasl_plain_parse(msg, 3074, &st, &zid, &cid, &pw), 0);
    ASSERT_EQ(strlen(zid), 1024);
    ASSERT_EQ(strlen(cid), 1024);
    ASSERT_EQ(strlen(pw), 1024);
    yb_free(st);
    /* 1025 in any part is not. */
    ASSERT_EQ(sasl_plain_parse(msg, 3075, &st, &zid, &cid, &pw), YB_EINVAL);
    memset(msg, 'c', sizeof msg);
    msg[0] = '\0';
    msg[1026] = '\0';
    ASSERT_EQ(sasl_plain_parse(msg, 1028, &st, &zid, &cid, &pw), YB_EINVAL);
    msg[1025] = '\0';
    msg[1026] = 'p';
    ASSERT_EQ(sasl_plain_parse(msg, 1027, &st, &zid, &cid, &pw), 0);
    yb_free(st);
}

TEST(plain_oom)
{
    char *st;
    const char *zid, *cid, *pw;
    yb_alloc_fail_after(0);
    ASSERT_EQ(sasl_plain_parse(PLAIN("\0tim\0pw"), &st, &zid, &cid, &pw), YB_ENOMEM);
    yb_alloc_fail_after(-1);
    ASSERT_NULL(st);
}

#define ASSERT_PREP(in, out)                                                                       \
    do {                                                                                           \
        char *p_ = sasl_saslprep(in);                                                              \
        int ok_ = p_ != NULL && strcmp(p_, out) == 0;                                              \
        yb_free(p_);                                                                               \
        ASSERT_TRUE(ok_);                                                                          \
    } while (0)

TEST(saslprep)
{
    /* RFC 4013 §3 examples. */
    ASSERT_PREP("I\xC2\xAD"
                "X",
                "IX"); /* SOFT HYPHEN mapped to nothing */
    ASSERT_PREP("user", "user");
    ASSERT_PREP("USER", "USER");        /* case preserved */
    ASSERT_PREP("\xC2\xAA", "a");       /* ordinal indicator, NFKC */
    ASSERT_PREP("\xE2\x85\xA8", "IX");  /* ROMAN NUMERAL NINE */
    ASSERT_NULL(sasl_saslprep("\x07")); /* prohibited control */
    ASSERT_NULL(sasl_saslprep("\xD8\xA7"
                              "1")); /* bidi violation */
    /* Non-ASCII spaces map to SPACE. */
    ASSERT_PREP("a\xC2\xA0"
                "b",
                "a b");
    ASSERT_PREP("", "");
    /* Stored strings: unassigned code points (U+0221 in Unicode 3.2) are rejected. */
    ASSERT_NULL(sasl_saslprep("\xC8\xA1"));
    ASSERT_NULL(sasl_saslprep("\xF0\x9F\x98\x80"));
    ASSERT_NULL(sasl_saslprep("\xff"));
}

TEST(failure_names)
{
    ASSERT_STR_EQ(sasl_failure_name(SASL_ABORTED), "aborted");
    ASSERT_STR_EQ(sasl_failure_name(SASL_ACCOUNT_DISABLED), "account-disabled");
    ASSERT_STR_EQ(sasl_failure_name(SASL_CREDENTIALS_EXPIRED), "credentials-expired");
    ASSERT_STR_EQ(sasl_failure_name(SASL_ENCRYPTION_REQUIRED), "encryption-required");
    ASSERT_STR_EQ(sasl_failure_name(SASL_INCORRECT_ENCODING), "incorrect-encoding");
    ASSERT_STR_EQ(sasl_failure_name(SASL_INVALID_AUTHZID), "invalid-authzid");
    ASSERT_STR_EQ(sasl_failure_name(SASL_INVALID_MECHANISM), "invalid-mechanism");
    ASSERT_STR_EQ(sasl_failure_name(SASL_MALFORMED_REQUEST), "malformed-request");
    ASSERT_STR_EQ(sasl_failure_name(SASL_MECHANISM_TOO_WEAK), "mechanism-too-weak");
    ASSERT_STR_EQ(sasl_failure_name(SASL_NOT_AUTHORIZED), "not-authorized");
    ASSERT_STR_EQ(sasl_failure_name(SASL_TEMPORARY_AUTH_FAILURE), "temporary-auth-failure");
}

TEST_MAIN(TEST_CASE(plain_valid), TEST_CASE(plain_invalid), TEST_CASE(plain_limits),
          TEST_CASE(plain_oom), TEST_CASE(saslprep), TEST_CASE(failure_names))
