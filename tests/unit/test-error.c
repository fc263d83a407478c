/* Unit tests for error.c: setting, prefixing and formatting error values, and the one table
 * that maps codes to HTTP status, API code strings and vpsctl exit codes. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vps/error.h"

#include "test-helpers.h"

START_TEST(error_set_fills_code_and_message)
{
    struct vps_error err = {0};

    ck_assert_int_eq(vps_error_set(&err, VPS_ERR_NOT_FOUND, "vps '%s' does not exist", "web1"), -1);
    ck_assert_int_eq(err.code, VPS_ERR_NOT_FOUND);
    ck_assert_int_eq(err.errnum, 0);
    ck_assert_str_eq(err.msg, "vps 'web1' does not exist");
}
END_TEST

START_TEST(error_set_clears_previous_errnum)
{
    struct vps_error err = {0};

    vps_error_errno(&err, ENOENT, "open 'x'");
    vps_error_set(&err, VPS_ERR_INVALID, "bad");
    ck_assert_int_eq(err.code, VPS_ERR_INVALID);
    ck_assert_int_eq(err.errnum, 0);
    ck_assert_str_eq(err.msg, "bad");
}
END_TEST

START_TEST(error_errno_is_system_and_keeps_errnum)
{
    struct vps_error err = {0};

    ck_assert_int_eq(vps_error_errno(&err, EACCES, "open '%s'", "config.json"), -1);
    ck_assert_int_eq(err.code, VPS_ERR_SYSTEM);
    ck_assert_int_eq(err.errnum, EACCES);
    ck_assert_str_eq(err.msg, "open 'config.json'");
}
END_TEST

START_TEST(error_message_is_truncated_not_overflowed)
{
    struct vps_error err = {0};
    char big[2000];

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    vps_error_set(&err, VPS_ERR_INVALID, "%s", big);
    ck_assert_uint_eq(strlen(err.msg), sizeof err.msg - 1);
}
END_TEST

START_TEST(error_prefix_adds_context_and_keeps_code)
{
    struct vps_error err = {0};

    vps_error_errno(&err, EBUSY, "write '1073741824' to 'memory.max'");
    ck_assert_int_eq(vps_error_prefix(&err, "cgroup '%s'", "vps/web1"), -1);
    ck_assert_int_eq(vps_error_prefix(&err, "vps '%s': start", "web1"), -1);
    ck_assert_str_eq(err.msg,
                     "vps 'web1': start: cgroup 'vps/web1': write '1073741824' to 'memory.max'");
    ck_assert_int_eq(err.code, VPS_ERR_SYSTEM);
    ck_assert_int_eq(err.errnum, EBUSY);

    struct vps_error inv = {0};
    vps_error_set(&inv, VPS_ERR_INVALID, "name: required field is missing");
    vps_error_prefix(&inv, "vps 'x'");
    ck_assert_int_eq(inv.code, VPS_ERR_INVALID);
    ck_assert_str_eq(inv.msg, "vps 'x': name: required field is missing");
}
END_TEST

START_TEST(error_prefix_without_error_becomes_system)
{
    struct vps_error err = {0};

    vps_error_prefix(&err, "ctx");
    ck_assert_int_eq(err.code, VPS_ERR_SYSTEM);
    ck_assert_str_eq(err.msg, "ctx: ");
}
END_TEST

START_TEST(error_prefix_truncates_a_full_message)
{
    struct vps_error err = {0};

    memset(err.msg, 'y', sizeof err.msg - 1);
    err.code = VPS_ERR_CONFLICT;
    vps_error_prefix(&err, "outer");
    ck_assert_uint_eq(strlen(err.msg), sizeof err.msg - 1);
    ck_assert(strncmp(err.msg, "outer: yyy", 10) == 0);
    ck_assert_int_eq(err.code, VPS_ERR_CONFLICT);
}
END_TEST

START_TEST(error_format_appends_strerror_only_with_errnum)
{
    struct vps_error err = {0};
    char buf[600];

    vps_error_errno(&err, ENOENT, "open 'config.json'");
    ck_assert_str_eq(vps_error_format(&err, buf, sizeof buf),
                     "open 'config.json': No such file or directory");

    vps_error_set(&err, VPS_ERR_EXISTS, "vps 'web1' exists");
    ck_assert_str_eq(vps_error_format(&err, buf, sizeof buf), "vps 'web1' exists");
}
END_TEST

START_TEST(error_format_truncates_to_buffer)
{
    struct vps_error err = {0};
    char buf[8];

    vps_error_errno(&err, ENOENT, "open 'config.json'");
    ck_assert_str_eq(vps_error_format(&err, buf, sizeof buf), "open 'c");
}
END_TEST

START_TEST(error_table_maps_http_status)
{
    ck_assert_uint_eq(vps_error_http_status(VPS_ERR_INVALID), 400);
    ck_assert_uint_eq(vps_error_http_status(VPS_ERR_FORBIDDEN), 403);
    ck_assert_uint_eq(vps_error_http_status(VPS_ERR_NOT_FOUND), 404);
    ck_assert_uint_eq(vps_error_http_status(VPS_ERR_EXISTS), 409);
    ck_assert_uint_eq(vps_error_http_status(VPS_ERR_CONFLICT), 409);
    ck_assert_uint_eq(vps_error_http_status(VPS_ERR_TOO_LARGE), 413);
    ck_assert_uint_eq(vps_error_http_status(VPS_ERR_TIMEOUT), 504);
    ck_assert_uint_eq(vps_error_http_status(VPS_ERR_SYSTEM), 500);
    ck_assert_uint_eq(vps_error_http_status(VPS_ERR_UNAVAILABLE), 503);
    /* A value that is not an error must never turn into a success status. */
    ck_assert_uint_eq(vps_error_http_status(VPS_ERR_NONE), 500);
    ck_assert_uint_eq(vps_error_http_status(_VPS_ERR_MAX), 500);
    ck_assert_uint_eq(vps_error_http_status((enum vps_errcode) - 1), 500);
}
END_TEST

START_TEST(error_table_maps_code_names)
{
    ck_assert_str_eq(vps_error_code_name(VPS_ERR_INVALID), "invalid");
    ck_assert_str_eq(vps_error_code_name(VPS_ERR_FORBIDDEN), "forbidden");
    ck_assert_str_eq(vps_error_code_name(VPS_ERR_NOT_FOUND), "not_found");
    ck_assert_str_eq(vps_error_code_name(VPS_ERR_EXISTS), "exists");
    ck_assert_str_eq(vps_error_code_name(VPS_ERR_CONFLICT), "conflict");
    ck_assert_str_eq(vps_error_code_name(VPS_ERR_TOO_LARGE), "too_large");
    ck_assert_str_eq(vps_error_code_name(VPS_ERR_TIMEOUT), "timeout");
    ck_assert_str_eq(vps_error_code_name(VPS_ERR_SYSTEM), "internal");
    ck_assert_str_eq(vps_error_code_name(VPS_ERR_UNAVAILABLE), "unavailable");
    ck_assert_str_eq(vps_error_code_name(VPS_ERR_NONE), "internal");
    ck_assert_str_eq(vps_error_code_name(_VPS_ERR_MAX), "internal");
}
END_TEST

START_TEST(error_code_from_name_inverts_code_name)
{
    for (int c = VPS_ERR_NONE + 1; c < _VPS_ERR_MAX; c++)
        ck_assert_int_eq(vps_error_code_from_name(vps_error_code_name((enum vps_errcode) c)), c);
}
END_TEST

START_TEST(error_code_from_name_maps_unknown_to_system)
{
    ck_assert_int_eq(vps_error_code_from_name("no_such_code"), VPS_ERR_SYSTEM);
    ck_assert_int_eq(vps_error_code_from_name(""), VPS_ERR_SYSTEM);
    ck_assert_int_eq(vps_error_code_from_name("INVALID"), VPS_ERR_SYSTEM);
    ck_assert_int_eq(vps_error_code_from_name("ok"), VPS_ERR_SYSTEM);
    ck_assert_int_eq(vps_error_code_from_name(NULL), VPS_ERR_SYSTEM);
}
END_TEST

START_TEST(error_exit_status_follows_table)
{
    ck_assert_int_eq(vps_error_exit_status(VPS_ERR_SYSTEM), 1);
    ck_assert_int_eq(vps_error_exit_status(VPS_ERR_INVALID), 2);
    ck_assert_int_eq(vps_error_exit_status(VPS_ERR_TOO_LARGE), 2);
    ck_assert_int_eq(vps_error_exit_status(VPS_ERR_FORBIDDEN), 3);
    ck_assert_int_eq(vps_error_exit_status(VPS_ERR_NOT_FOUND), 4);
    ck_assert_int_eq(vps_error_exit_status(VPS_ERR_EXISTS), 5);
    ck_assert_int_eq(vps_error_exit_status(VPS_ERR_CONFLICT), 5);
    ck_assert_int_eq(vps_error_exit_status(VPS_ERR_TIMEOUT), 6);
    ck_assert_int_eq(vps_error_exit_status(VPS_ERR_UNAVAILABLE), 7);
    /* An exit status of 0 would tell a script that a failed command succeeded. */
    ck_assert_int_eq(vps_error_exit_status(VPS_ERR_NONE), 1);
    ck_assert_int_eq(vps_error_exit_status(_VPS_ERR_MAX), 1);
    for (int c = VPS_ERR_NONE + 1; c < _VPS_ERR_MAX; c++)
        ck_assert_int_ne(vps_error_exit_status((enum vps_errcode) c), 0);
}
END_TEST

static Suite *error_suite(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, error_set_fills_code_and_message);
    tcase_add_test(tc, error_set_clears_previous_errnum);
    tcase_add_test(tc, error_errno_is_system_and_keeps_errnum);
    tcase_add_test(tc, error_message_is_truncated_not_overflowed);
    tcase_add_test(tc, error_prefix_adds_context_and_keeps_code);
    tcase_add_test(tc, error_prefix_without_error_becomes_system);
    tcase_add_test(tc, error_prefix_truncates_a_full_message);
    tcase_add_test(tc, error_format_appends_strerror_only_with_errnum);
    tcase_add_test(tc, error_format_truncates_to_buffer);
    tcase_add_test(tc, error_table_maps_http_status);
    tcase_add_test(tc, error_table_maps_code_names);
    tcase_add_test(tc, error_code_from_name_inverts_code_name);
    tcase_add_test(tc, error_code_from_name_maps_unknown_to_system);
    tcase_add_test(tc, error_exit_status_follows_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(error_suite(), CK_FORK_GETENV);
}
