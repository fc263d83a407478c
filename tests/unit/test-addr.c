/* Unit tests for addr.c: "ip:port" and "[ipv6]:port" parsed into socket addresses, the
 * canonical text they format back to, and every near miss the parser must refuse. Inputs are
 * exact heap copies, so that ASan reports any read past the end. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "vps/addr.h"

#include "test-helpers.h"

static bool parse(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    char *copy = strdup(text);
    ck_assert_ptr_nonnull(copy);
    bool ok = vps_addr_parse(copy, ss, len);
    free(copy);
    return ok;
}

/* text parses and formats as want; the canonical form parses to the same address again. */
static void canonical(const char *text, const char *want)
{
    struct sockaddr_storage ss, again;
    socklen_t len = 0, len_again = 0;
    char buf[VPS_ADDR_TEXT_MAX];

    ck_assert_msg(parse(text, &ss, &len), "'%s' refused", text);
    vps_addr_format(&ss, buf, sizeof buf);
    ck_assert_msg(strcmp(buf, want) == 0, "'%s' formats as '%s', want '%s'", text, buf, want);
    ck_assert_msg(parse(buf, &again, &len_again), "canonical '%s' refused", buf);
    ck_assert_uint_eq(len_again, len);
    ck_assert(memcmp(&ss, &again, len) == 0);
}

static void refused(const char *text)
{
    struct sockaddr_storage ss;
    socklen_t len;

    ck_assert_msg(!parse(text, &ss, &len), "'%s' accepted", text);
}

START_TEST(addr_parses_ipv4)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    const struct sockaddr_in *sin = (const struct sockaddr_in *) &ss;

    ck_assert(parse("198.18.0.2:22", &ss, &len));
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_uint_eq(ntohs(sin->sin_port), 22);
    ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0xc6120002u);
    canonical("198.18.0.2:22", "198.18.0.2:22");
    canonical("0.0.0.0:80", "0.0.0.0:80");
    canonical("255.255.255.255:65535", "255.255.255.255:65535");
    canonical("127.0.0.1:1", "127.0.0.1:1");
}
END_TEST

START_TEST(addr_parses_ipv6_in_brackets)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) &ss;
    static const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

    ck_assert(parse("[2001:db8::1]:443", &ss, &len));
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
    ck_assert_int_eq(sin6->sin6_family, AF_INET6);
    ck_assert_uint_eq(ntohs(sin6->sin6_port), 443);
    ck_assert(memcmp(&sin6->sin6_addr, want, 16) == 0);
    ck_assert_uint_eq(sin6->sin6_scope_id, 0);
    ck_assert_uint_eq(sin6->sin6_flowinfo, 0);
    canonical("[::]:80", "[::]:80");
    canonical("[::1]:22", "[::1]:22");
}
END_TEST

START_TEST(addr_canonicalises_spellings)
{
    canonical("[2001:DB8:0::1]:0443", "[2001:db8::1]:443");
    canonical("[2001:0db8:0000:0000:0000:0000:0000:0001]:443", "[2001:db8::1]:443");
    canonical("[0:0:0:0:0:0:0:1]:22", "[::1]:22");
    canonical("198.18.0.2:022", "198.18.0.2:22");
    canonical("198.18.0.2:00022", "198.18.0.2:22");
    canonical("[::ffff:198.18.0.2]:22", "[::ffff:198.18.0.2]:22");
    /* The longest canonical text fits VPS_ADDR_TEXT_MAX. */
    canonical("[1111:2222:3333:4444:5555:6666:7777:8888]:65535",
              "[1111:2222:3333:4444:5555:6666:7777:8888]:65535");
    canonical("[0000:0000:0000:0000:0000:ffff:255.255.255.255]:65535",
              "[::ffff:255.255.255.255]:65535");
}
END_TEST

START_TEST(addr_refuses_bad_ports)
{
    refused("198.18.0.2");
    refused("198.18.0.2:");
    refused("198.18.0.2:0");
    refused("198.18.0.2:00000");
    refused("198.18.0.2:65536");
    refused("198.18.0.2:99999");
    refused("198.18.0.2:+1");
    refused("198.18.0.2:-1");
    refused("198.18.0.2: 1");
    refused("198.18.0.2:1 ");
    refused("198.18.0.2:1\n");
    refused("198.18.0.2:0x16");
    refused("198.18.0.2:22a");
    refused("198.18.0.2:000022"); /* more than 5 characters, even with the value in range */
    refused("198.18.0.2:18446744073709551638");
    refused("[::1]");
    refused("[::1]:");
    refused("[::1]22");
    refused("[::1]:0");
    refused("[::1]:65536");
    refused("[::1]: 22");
}
END_TEST

START_TEST(addr_refuses_bad_hosts)
{
    refused("");
    refused(":");
    refused(":22");
    refused("[]:22");
    refused("::1:22"); /* IPv6 without brackets */
    refused("2001:db8::1:443");
    refused("[198.18.0.2]:22"); /* IPv4 in brackets */
    refused("[::1:22");
    refused("::1]:22");
    refused("[::1]]:22");
    refused("[[::1]]:22");
    refused("localhost:22");
    refused("example.com:80");
    refused("198.18.0:22");
    refused("198.18.0.256:22");
    refused("198.18.0.2.1:22");
    refused("198.018.0.2:22");
    refused(" 198.18.0.2:22");
    refused("198.18.0.2 :22");
    refused("tcp:198.18.0.2:22");
    refused("[fe80::1%lo]:22");
    refused("[::1 ]:22");
    refused("[ ::1]:22");
    refused("garbage");
    refused("[");
    refused("]");
    refused("]:22");
    /* Longer than any address. */
    refused("[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:22");
    refused("1111111111111111111111111111111111111111111111111111111111111111.1.1.1:22");
}
END_TEST

START_TEST(addr_formats_other_families_as_question_mark)
{
    struct sockaddr_storage ss = {.ss_family = AF_UNIX};
    char buf[VPS_ADDR_TEXT_MAX];

    vps_addr_format(&ss, buf, sizeof buf);
    ck_assert_str_eq(buf, "?");
}
END_TEST

static Suite *addr_suite(void)
{
    Suite *s = suite_create("addr");
    TCase *tc = tcase_create("addr");

    tcase_add_test(tc, addr_parses_ipv4);
    tcase_add_test(tc, addr_parses_ipv6_in_brackets);
    tcase_add_test(tc, addr_canonicalises_spellings);
    tcase_add_test(tc, addr_refuses_bad_ports);
    tcase_add_test(tc, addr_refuses_bad_hosts);
    tcase_add_test(tc, addr_formats_other_families_as_question_mark);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(addr_suite(), CK_FORK_GETENV);
}
