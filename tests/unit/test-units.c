/* Unit tests for units.c: the command line's sizes, CPU counts, durations and counts, parsed
 * exactly and strictly, and formatted back for tables. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vps/units.h"

#include "test-helpers.h"

#define GiB (UINT64_C(1) << 30)
#define MiB (UINT64_C(1) << 20)

static uint64_t size_ok(const char *s)
{
    struct vps_error err = {0};
    uint64_t v = 0;

    ck_assert_msg(vps_parse_size(s, "--ram", &v, &err) == 0, "'%s': %s", s, err.msg);
    ck_assert_int_eq(err.code, VPS_ERR_NONE);
    return v;
}

static void size_bad(const char *s, const char *fragment)
{
    struct vps_error err = {0};
    uint64_t v = 12345;

    ck_assert_int_eq(vps_parse_size(s, "--ram", &v, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_INVALID);
    ck_assert_msg(strncmp(err.msg, "--ram: ", 7) == 0, "'%s': %s", s, err.msg);
    ck_assert_msg(strstr(err.msg, fragment), "'%s': '%s' lacks '%s'", s, err.msg, fragment);
    ck_assert_uint_eq(v, 12345); /* outputs are written only on success */
}

START_TEST(size_parses_binary_units)
{
    ck_assert_uint_eq(size_ok("512M"), 512 * MiB);
    ck_assert_uint_eq(size_ok("1G"), GiB);
    ck_assert_uint_eq(size_ok("2048K"), 2 * MiB);
    ck_assert_uint_eq(size_ok("1T"), 1024 * GiB);
    ck_assert_uint_eq(size_ok("1P"), UINT64_C(1) << 50);
    ck_assert_uint_eq(size_ok("7E"), UINT64_C(7) << 60);
}
END_TEST

START_TEST(size_parses_plain_bytes_and_zero)
{
    ck_assert_uint_eq(size_ok("1048576"), MiB);
    ck_assert_uint_eq(size_ok("0"), 0);
    ck_assert_uint_eq(size_ok("100B"), 100);
    ck_assert_uint_eq(size_ok("9223372036854775807"), INT64_MAX);
}
END_TEST

START_TEST(size_accepts_iec_and_lower_case_spellings)
{
    ck_assert_uint_eq(size_ok("512MiB"), 512 * MiB);
    ck_assert_uint_eq(size_ok("512mib"), 512 * MiB);
    ck_assert_uint_eq(size_ok("512MB"), 512 * MiB);
    ck_assert_uint_eq(size_ok("512m"), 512 * MiB);
    ck_assert_uint_eq(size_ok("1g"), GiB);
}
END_TEST

START_TEST(size_parses_fractions_exactly)
{
    ck_assert_uint_eq(size_ok("1.5G"), GiB + GiB / 2);
    ck_assert_uint_eq(size_ok("0.5K"), 512);
    ck_assert_uint_eq(size_ok("1.25M"), MiB + MiB / 4);
    /* 0.1K is 102.4 bytes: rounded down to whole bytes. */
    ck_assert_uint_eq(size_ok("0.1K"), 102);
    ck_assert_uint_eq(size_ok("1.000000001G"), GiB + 1);
}
END_TEST

START_TEST(size_rejects_empty_and_negative)
{
    size_bad("", "empty");
    size_bad("-1G", "negative");
    size_bad("-0", "negative");
}
END_TEST

START_TEST(size_rejects_garbage)
{
    size_bad("abc", "expected a size");
    size_bad(" 1G", "expected a size");
    size_bad("+1G", "expected a size");
    size_bad("1G ", "invalid size '1G '");
    size_bad("1GG", "invalid size");
    size_bad("1X", "invalid size");
    size_bad("1Gi", "invalid size");
    size_bad("1.G", "expected a size");
    size_bad(".5G", "expected a size");
    size_bad("1..5G", "expected a size");
    size_bad("0x10", "invalid size");
    size_bad("1 G", "invalid size");
}
END_TEST

START_TEST(size_rejects_fraction_of_a_byte)
{
    size_bad("1.5", "fraction of a byte");
    size_bad("1.5B", "fraction of a byte");
}
END_TEST

START_TEST(size_rejects_too_many_decimals)
{
    size_bad("1.0000000001G", "more than 9 decimals");
}
END_TEST

START_TEST(size_rejects_overflow)
{
    size_bad("8E", "too large");
    size_bad("9223372036854775808", "too large");
    size_bad("18446744073709551616", "too large");
    size_bad("99999999999999999999999999G", "too large");
    size_bad("16777216T", "too large");
    size_bad("8.0E", "too large");
}
END_TEST

START_TEST(size_message_names_the_option_and_value)
{
    struct vps_error err = {0};
    uint64_t v;

    ck_assert_int_eq(vps_parse_size("10Q", "--disk", &v, &err), -1);
    ck_assert_str_eq(err.msg, "--disk: invalid size '10Q', expected a number with an optional "
                              "unit K, M, G, T, P or E (like 512M or 1.5G)");
}
END_TEST

static uint32_t cpus_ok(const char *s)
{
    struct vps_error err = {0};
    uint32_t v = 0;

    ck_assert_msg(vps_parse_cpus(s, "--cpus", &v, &err) == 0, "'%s': %s", s, err.msg);
    return v;
}

static void cpus_bad(const char *s, const char *fragment)
{
    struct vps_error err = {0};
    uint32_t v = 7;

    ck_assert_int_eq(vps_parse_cpus(s, "--cpus", &v, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_INVALID);
    ck_assert_msg(strncmp(err.msg, "--cpus: ", 8) == 0, "'%s': %s", s, err.msg);
    ck_assert_msg(strstr(err.msg, fragment), "'%s': '%s' lacks '%s'", s, err.msg, fragment);
    ck_assert_uint_eq(v, 7);
}

START_TEST(cpus_parse_to_millicpus)
{
    ck_assert_uint_eq(cpus_ok("1.5"), 1500);
    ck_assert_uint_eq(cpus_ok("2"), 2000);
    ck_assert_uint_eq(cpus_ok("0.25"), 250);
    ck_assert_uint_eq(cpus_ok("0.001"), 1);
    ck_assert_uint_eq(cpus_ok("1.000"), 1000);
    ck_assert_uint_eq(cpus_ok("4294967.295"), UINT32_MAX);
}
END_TEST

START_TEST(cpus_reject_zero_negative_and_junk)
{
    cpus_bad("0", "greater than 0");
    cpus_bad("0.000", "greater than 0");
    cpus_bad("-1", "negative");
    cpus_bad("", "empty");
    cpus_bad("1.5x", "expected a number of CPUs");
    cpus_bad("two", "expected a number of CPUs");
    cpus_bad("1,5", "expected a number of CPUs");
    cpus_bad("1.0005", "more than 3 decimals");
    cpus_bad("4294968", "too large");
}
END_TEST

static uint64_t duration_ok(const char *s)
{
    struct vps_error err = {0};
    uint64_t v = 0;

    ck_assert_msg(vps_parse_duration(s, "--timeout", &v, &err) == 0, "'%s': %s", s, err.msg);
    return v;
}

static void duration_bad(const char *s, const char *fragment)
{
    struct vps_error err = {0};
    uint64_t v = 7;

    ck_assert_int_eq(vps_parse_duration(s, "--timeout", &v, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_INVALID);
    ck_assert_msg(strncmp(err.msg, "--timeout: ", 11) == 0, "'%s': %s", s, err.msg);
    ck_assert_msg(strstr(err.msg, fragment), "'%s': '%s' lacks '%s'", s, err.msg, fragment);
    ck_assert_uint_eq(v, 7);
}

START_TEST(duration_parses_units_to_ms)
{
    ck_assert_uint_eq(duration_ok("30s"), 30000);
    ck_assert_uint_eq(duration_ok("500ms"), 500);
    ck_assert_uint_eq(duration_ok("5m"), 300000);
    ck_assert_uint_eq(duration_ok("2h"), 7200000);
    ck_assert_uint_eq(duration_ok("1d"), 86400000);
    ck_assert_uint_eq(duration_ok("1.5s"), 1500);
    ck_assert_uint_eq(duration_ok("0"), 0);
    ck_assert_uint_eq(duration_ok("0s"), 0);
}
END_TEST

START_TEST(duration_rejects_bare_numbers_and_junk)
{
    duration_bad("30", "needs a unit");
    duration_bad("", "empty");
    duration_bad("-5s", "negative");
    duration_bad("5 s", "invalid duration");
    duration_bad("5sec", "invalid duration");
    duration_bad("5S", "invalid duration");
    duration_bad("99999999999999999d", "too large");
}
END_TEST

START_TEST(uint_parses_within_bounds)
{
    struct vps_error err = {0};
    uint64_t v = 0;

    ck_assert_int_eq(vps_parse_uint("4096", "--pids", 0, 4194304, &v, &err), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(vps_parse_uint("0", "--pids", 0, 10, &v, &err), 0);
    ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(uint_rejects_range_fractions_and_junk)
{
    struct vps_error err = {0};
    uint64_t v = 3;

    ck_assert_int_eq(vps_parse_uint("0", "--cpu-weight", 1, 10000, &v, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_INVALID);
    ck_assert_str_eq(err.msg, "--cpu-weight: 0 is out of range 1..10000");
    ck_assert_int_eq(vps_parse_uint("1.5", "--pids", 0, 10, &v, &err), -1);
    ck_assert_str_eq(err.msg, "--pids: expected a whole number, got '1.5'");
    ck_assert_int_eq(vps_parse_uint("12a", "--pids", 0, 100, &v, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "'12a'"));
    ck_assert_int_eq(vps_parse_uint("-1", "--pids", 0, 100, &v, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "negative"));
    ck_assert_int_eq(vps_parse_uint("18446744073709551616", "--pids", 0, 100, &v, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "too large"));
    ck_assert_uint_eq(v, 3);
}
END_TEST

static const char *fmt_size(uint64_t b)
{
    static char buf[VPS_UNITS_FORMAT_MAX];
    return vps_format_size(b, buf, sizeof buf);
}

START_TEST(format_size_picks_the_largest_unit)
{
    ck_assert_str_eq(fmt_size(0), "0");
    ck_assert_str_eq(fmt_size(1000), "1000");
    ck_assert_str_eq(fmt_size(1024), "1K");
    ck_assert_str_eq(fmt_size(512 * MiB), "512M");
    ck_assert_str_eq(fmt_size(GiB + GiB / 2), "1.5G");
    ck_assert_str_eq(fmt_size(10 * GiB), "10G");
    ck_assert_str_eq(fmt_size(1000 * MiB), "1000M");
    ck_assert_str_eq(fmt_size(UINT64_MAX), "16E");
}
END_TEST

START_TEST(format_size_rounds_into_the_next_unit)
{
    /* 1023.99M rounds to 1024.0M, which is shown as 1G. */
    ck_assert_str_eq(fmt_size(GiB - 10 * 1024), "1G");
    ck_assert_str_eq(fmt_size(GiB + GiB / 4), "1.3G");
}
END_TEST

START_TEST(format_size_round_trips_through_parse)
{
    static const char *const in[] = {"512M", "1.5G", "2K", "10G", "3T", "1.5E"};

    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        ck_assert_str_eq(fmt_size(size_ok(in[i])), in[i]);
}
END_TEST

START_TEST(format_cpus_strips_trailing_zeros)
{
    char buf[VPS_UNITS_FORMAT_MAX];

    ck_assert_str_eq(vps_format_cpus(1500, buf, sizeof buf), "1.5");
    ck_assert_str_eq(vps_format_cpus(2000, buf, sizeof buf), "2");
    ck_assert_str_eq(vps_format_cpus(250, buf, sizeof buf), "0.25");
    ck_assert_str_eq(vps_format_cpus(1, buf, sizeof buf), "0.001");
    ck_assert_str_eq(vps_format_cpus(1010, buf, sizeof buf), "1.01");
}
END_TEST

START_TEST(format_duration_uses_an_exact_unit)
{
    char buf[VPS_UNITS_FORMAT_MAX];

    ck_assert_str_eq(vps_format_duration(0, buf, sizeof buf), "0");
    ck_assert_str_eq(vps_format_duration(500, buf, sizeof buf), "500ms");
    ck_assert_str_eq(vps_format_duration(1500, buf, sizeof buf), "1500ms");
    ck_assert_str_eq(vps_format_duration(30000, buf, sizeof buf), "30s");
    ck_assert_str_eq(vps_format_duration(90000, buf, sizeof buf), "90s");
    ck_assert_str_eq(vps_format_duration(300000, buf, sizeof buf), "5m");
    ck_assert_str_eq(vps_format_duration(7200000, buf, sizeof buf), "2h");
    ck_assert_str_eq(vps_format_duration(86400000, buf, sizeof buf), "1d");
}
END_TEST

static Suite *units_suite(void)
{
    Suite *s = suite_create("units");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, size_parses_binary_units);
    tcase_add_test(tc, size_parses_plain_bytes_and_zero);
    tcase_add_test(tc, size_accepts_iec_and_lower_case_spellings);
    tcase_add_test(tc, size_parses_fractions_exactly);
    tcase_add_test(tc, size_rejects_empty_and_negative);
    tcase_add_test(tc, size_rejects_garbage);
    tcase_add_test(tc, size_rejects_fraction_of_a_byte);
    tcase_add_test(tc, size_rejects_too_many_decimals);
    tcase_add_test(tc, size_rejects_overflow);
    tcase_add_test(tc, size_message_names_the_option_and_value);
    tcase_add_test(tc, cpus_parse_to_millicpus);
    tcase_add_test(tc, cpus_reject_zero_negative_and_junk);
    tcase_add_test(tc, duration_parses_units_to_ms);
    tcase_add_test(tc, duration_rejects_bare_numbers_and_junk);
    tcase_add_test(tc, uint_parses_within_bounds);
    tcase_add_test(tc, uint_rejects_range_fractions_and_junk);
    tcase_add_test(tc, format_size_picks_the_largest_unit);
    tcase_add_test(tc, format_size_rounds_into_the_next_unit);
    tcase_add_test(tc, format_size_round_trips_through_parse);
    tcase_add_test(tc, format_cpus_strips_trailing_zeros);
    tcase_add_test(tc, format_duration_uses_an_exact_unit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(units_suite(), CK_FORK_GETENV);
}
