/* Unit tests for the request of a debootstrap build (template-debootstrap.c's
 * vps_debootstrap_from_json): defaults from the template name, every field, and bad input
 * refused with its JSON path before anything runs. The build itself needs the network and
 * is test-template-debootstrap.sh's (behind VPS_TEST_DEBOOTSTRAP=1). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "vps/json.h"
#include "vps/template.h"

#include "test-config-helpers.h"

/* body in single quotes for template name: parsed, or NULL with err filled. */
static int parse(const char *name, const char *body, struct vps_debootstrap *ret,
                 struct vps_error *err)
{
    cleanup_free char *text = dequote(body);
    cleanup_json json_t *j = NULL;

    if (vps_json_parse_text(text, strlen(text), &j, err) < 0)
        return -1;
    return vps_debootstrap_from_json(name, j, ret, err);
}

static void invalid(const char *name, const char *body, const char *fragment)
{
    struct vps_debootstrap o = {0};
    struct vps_error e = {0};

    ck_assert_msg(parse(name, body, &o, &e) < 0, "'%s' for '%s' was taken", body, name);
    ck_assert_int_eq(e.code, VPS_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, fragment), "message '%s' lacks '%s'", e.msg, fragment);
}

START_TEST(debootstrap_defaults_follow_the_name)
{
    static const struct {
        const char *name, *suite;
    } cases[] = {{"debian-11", "bullseye"},
                 {"debian-12", "bookworm"},
                 {"debian-13", "trixie"},
                 {"debian-12-ssh", "bookworm"}};

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct vps_debootstrap o = {0};
        struct vps_error e = {0};
        ck_assert_msg(parse(cases[i].name, "{}", &o, &e) == 0, "%s: %s", cases[i].name, e.msg);
        ck_assert_str_eq(o.suite, cases[i].suite);
        ck_assert_str_eq(o.distribution, "debian");
        ck_assert_str_eq(o.mirror, VPS_DEBOOTSTRAP_MIRROR);
        ck_assert_str_eq(o.variant, "minbase");
        ck_assert_uint_eq(o.include.n, 0);
        ck_assert_uint_eq(o.timeout_ms, VPS_DEBOOTSTRAP_TIMEOUT_MS);
        vps_debootstrap_done(&o);
    }
}
END_TEST

START_TEST(debootstrap_takes_every_field)
{
    struct vps_debootstrap o = {0};
    struct vps_error e = {0};

    ck_assert_msg(parse("web-base",
                        "{'distribution': 'debian', 'suite': 'trixie', 'mirror': "
                        "'https://mirror.example:8443/debian', 'variant': 'buildd', 'include': "
                        "['openssh-server', 'libc6-dev', 'g++'], 'timeout_ms': 60000}",
                        &o, &e) == 0,
                  "%s", e.msg);
    ck_assert_str_eq(o.suite, "trixie");
    ck_assert_str_eq(o.mirror, "https://mirror.example:8443/debian");
    ck_assert_str_eq(o.variant, "buildd");
    ck_assert_uint_eq(o.include.n, 3);
    ck_assert_str_eq(o.include.v[2], "g++");
    ck_assert_uint_eq(o.timeout_ms, 60000);
    vps_debootstrap_done(&o);
}
END_TEST

START_TEST(debootstrap_refuses_bad_input)
{
    invalid("web-base", "{}", "suite: required");
    invalid("debian-12", "{'suite': 'sid'}", "suite: expected");
    invalid("debian-12", "{'distribution': 'ubuntu'}", "distribution: expected \"debian\"");
    invalid("debian-12", "{'variant': 'fat'}", "variant: expected");
    invalid("debian-12", "{'mirror': 'ftp://x/debian'}", "mirror: expected");
    invalid("debian-12", "{'mirror': 'http://x/debian; rm -rf /'}", "mirror: expected");
    invalid("debian-12", "{'mirror': 'http://user@x/debian'}", "mirror: expected");
    invalid("debian-12", "{'mirror': 'http://x/debian?q=1'}", "mirror: expected");
    invalid("debian-12", "{'include': ['Bad_Name']}", "include[0]");
    invalid("debian-12", "{'include': ['-x']}", "include[0]");
    invalid("debian-12", "{'include': ['vim', 'vim']}", "include[1]");
    invalid("debian-12", "{'include': 'openssh-server'}", "include: expected an array");
    invalid("debian-12", "{'timeout_ms': 0}", "timeout_ms");
    invalid("debian-12", "{'timeout_ms': 86400001}", "timeout_ms");
    invalid("debian-12", "{'suite': 12}", "suite: expected a string");
    invalid("debian-12", "{'unknown': 1}", "unknown");
    invalid("debian-12", "[]", "expected a JSON object");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("debootstrap");
    TCase *tc = tcase_create("request");

    tcase_add_test(tc, debootstrap_defaults_follow_the_name);
    tcase_add_test(tc, debootstrap_takes_every_field);
    tcase_add_test(tc, debootstrap_refuses_bad_input);
    suite_add_tcase(s, tc);
    return run_suite(s, CK_NOFORK);
}
