/* SPDX-License-Identifier: MIT
 *
 * test_router.c: the RFC 6121 §8.5.2 rules for messages to a bare JID
 * (route_pick in src/server/router.c). The wiring around them is covered by the
 * integration tests with real clients.
 */
#include "server.h"
#include "test.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

TEST(chat_goes_to_highest_priority)
{
    struct route_candidate c[] = {{true, 1}, {true, 5}, {true, 0}};
    bool chosen[3];
    ASSERT_EQ(route_pick("chat", c, N(c), chosen), ROUTE_DELIVER);
    ASSERT_FALSE(chosen[0]);
    ASSERT_TRUE(chosen[1]);
    ASSERT_FALSE(chosen[2]);
}

TEST(normal_is_the_default_type_and_ties_get_all)
{
    struct route_candidate c[] = {{true, 3}, {true, 3}, {true, 2}};
    bool chosen[3];
    ASSERT_EQ(route_pick("", c, N(c), chosen), ROUTE_DELIVER);
    ASSERT_TRUE(chosen[0]);
    ASSERT_TRUE(chosen[1]);
    ASSERT_FALSE(chosen[2]);
}

TEST(negative_priority_and_unavailable_never_get_bare_messages)
{
    struct route_candidate c[] = {{true, -1}, {false, 10}};
    bool chosen[2];
    ASSERT_EQ(route_pick("chat", c, N(c), chosen), ROUTE_OFFLINE);
    ASSERT_FALSE(chosen[0]);
    ASSERT_FALSE(chosen[1]);
    ASSERT_EQ(route_pick("normal", c, 0, chosen), ROUTE_OFFLINE);
}

TEST(headline_goes_to_every_nonnegative_or_nowhere)
{
    struct route_candidate c[] = {{true, 0}, {true, 7}, {true, -5}, {false, 1}};
    bool chosen[4];
    ASSERT_EQ(route_pick("headline", c, N(c), chosen), ROUTE_DELIVER);
    ASSERT_TRUE(chosen[0]);
    ASSERT_TRUE(chosen[1]);
    ASSERT_FALSE(chosen[2]);
    ASSERT_FALSE(chosen[3]);
    struct route_candidate none[] = {{true, -1}};
    ASSERT_EQ(route_pick("headline", none, N(none), chosen), ROUTE_DROP);
}

TEST(groupchat_and_error)
{
    struct route_candidate c[] = {{true, 0}};
    bool chosen[1];
    ASSERT_EQ(route_pick("groupchat", c, N(c), chosen), ROUTE_ERROR);
    ASSERT_FALSE(chosen[0]);
    ASSERT_EQ(route_pick("error", c, N(c), chosen), ROUTE_DROP);
    ASSERT_FALSE(chosen[0]);
}

TEST_MAIN(TEST_CASE(chat_goes_to_highest_priority),
          TEST_CASE(normal_is_the_default_type_and_ties_get_all),
          TEST_CASE(negative_priority_and_unavailable_never_get_bare_messages),
          TEST_CASE(headline_goes_to_every_nonnegative_or_nowhere), TEST_CASE(groupchat_and_error))
