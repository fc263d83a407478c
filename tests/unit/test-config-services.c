/* Unit tests for config.c's services: defaults, fields, listen formats, match rules,
 * modes and the JSON paths of their errors. The rest of config.c is test-config.c's. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test-config-helpers.h"

/* A config with the given listen list in one service. */
static void listen_invalid(const char *addr)
{
    char text[512];

    snprintf(text, sizeof text, SVC(", 'listen': ['%s']"), addr);
    cfg_invalid(text, "services[0].listen[0]: expected");
}

/* addr is taken and stored as canon. */
static void listen_canon(const char *addr, const char *canon)
{
    char text[512];

    snprintf(text, sizeof text, SVC(", 'listen': ['%s']"), addr);
    cleanup_(vps_config_freep) struct vps_config *c = cfg_ok(text);
    ck_assert_str_eq(c->services[0].listen.v[0], canon);
}

static void listen_ok(const char *addr)
{
    listen_canon(addr, addr);
}

/* ---- services ---- */

START_TEST(config_service_gets_defaults)
{
    cleanup_(vps_config_freep) struct vps_config *c = cfg_ok(SVC(", 'listen': ['198.18.0.2:22']"));
    const struct vps_service *s = &c->services[0];

    ck_assert_uint_eq(c->n_services, 1);
    ck_assert_str_eq(s->name, "ssh");
    ck_assert_uint_eq(s->command.n, 1);
    ck_assert_str_eq(s->command.v[0], "/bin/sh");
    ck_assert_int_eq(s->mode, VPS_SERVICE_ACCEPT);
    ck_assert_int_eq(s->restart, VPS_RESTART_NO);
    ck_assert_uint_eq(s->idle_timeout_ms, 0);
    ck_assert_ptr_null(s->user);
    ck_assert_ptr_null(s->cwd);
    ck_assert_ptr_null(s->proxy_to);
    ck_assert_uint_eq(s->n_match, 0);
    ck_assert_uint_eq(s->env.n, 0);
}
END_TEST

START_TEST(config_service_parses_all_fields)
{
    cleanup_(vps_config_freep) struct vps_config *c = cfg_ok(
        "{'name': 'web1', 'services': [{'name': 'panel', 'command': ['/usr/bin/panel', '-v'],"
        " 'user': 'www-data', 'cwd': '/srv', 'env': ['LANG=C.UTF-8', 'EMPTY='],"
        " 'listen': ['198.18.0.2:8080'], 'match': [{'front': '198.18.0.1:443',"
        " 'tls_sni': 'panel.example'}, {'front': '[2001:db8::1]:80', 'http_host': '*.example.com'},"
        " {'front': '198.18.0.1:22', 'protocol': 'ssh'}], 'mode': 'proxy',"
        " 'proxy_to': '127.0.0.1:8080', 'idle_timeout_ms': 60000, 'restart': 'on-failure'}]}");
    const struct vps_service *s = &c->services[0];

    ck_assert_str_eq(s->user, "www-data");
    ck_assert_str_eq(s->cwd, "/srv");
    ck_assert_uint_eq(s->env.n, 2);
    ck_assert_int_eq(s->mode, VPS_SERVICE_PROXY);
    ck_assert_str_eq(s->proxy_to, "127.0.0.1:8080");
    ck_assert_uint_eq(s->idle_timeout_ms, 60000);
    ck_assert_int_eq(s->restart, VPS_RESTART_ON_FAILURE);
    ck_assert_uint_eq(s->n_match, 3);
    ck_assert_int_eq(s->match[0].kind, VPS_MATCH_TLS_SNI);
    ck_assert_str_eq(s->match[0].front, "198.18.0.1:443");
    ck_assert_str_eq(s->match[0].value, "panel.example");
    ck_assert_int_eq(s->match[1].kind, VPS_MATCH_HTTP_HOST);
    ck_assert_str_eq(s->match[1].value, "*.example.com");
    ck_assert_int_eq(s->match[2].kind, VPS_MATCH_PROTOCOL);
    ck_assert_str_eq(s->match[2].value, "ssh");
}
END_TEST

START_TEST(config_service_needs_absolute_command)
{
    cfg_invalid("{'name': 'web1', 'services': [{'name': 'ssh', 'command': ['sshd', '-i']}]}",
                "services[0].command[0]: expected an absolute path, got 'sshd'");
    cfg_invalid("{'name': 'web1', 'services': [{'name': 'ssh', 'command': ['./sshd']}]}",
                "services[0].command[0]: expected an absolute path");
    cfg_invalid("{'name': 'web1', 'services': [{'name': 'ssh', 'command': []}]}",
                "services[0].command: expected 1..256 entries, got 0");
    cfg_invalid("{'name': 'web1', 'services': [{'name': 'ssh', 'command': ['']}]}",
                "services[0].command[0]: expected an absolute path");
    /* Arguments may be empty, as in any argv. */
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok("{'name': 'web1', 'services': [{'name': 'k', 'command': ['/usr/bin/ssh-keygen', "
               "'-N', '', '-f', '/k']}]}");
    ck_assert_str_eq(c->services[0].command.v[2], "");
    cfg_invalid("{'name': 'web1', 'services': [{'name': 'ssh', 'command': '/bin/sh'}]}",
                "services[0].command: expected an array, got a string");
    cfg_invalid("{'name': 'web1', 'services': [{'name': 'ssh'}]}",
                "services[0].command: required field is missing");
    cfg_invalid("{'name': 'web1', 'services': [{'command': ['/bin/sh']}]}",
                "services[0].name: required field is missing");
    cfg_invalid("{'name': 'web1', 'services': [{'name': 'SSH', 'command': ['/bin/sh']}]}",
                "services[0].name: 'SSH' is not a valid name");
}
END_TEST

START_TEST(config_proxy_mode_requires_proxy_to)
{
    cfg_invalid(SVC(", 'mode': 'proxy'"),
                "services[0].proxy_to: required with \"mode\": \"proxy\"");
    cfg_invalid(SVC(", 'proxy_to': '127.0.0.1:8080'"),
                "services[0].proxy_to: only allowed with \"mode\": \"proxy\"");
    cfg_invalid(SVC(", 'mode': 'listen', 'proxy_to': '127.0.0.1:8080'"),
                "services[0].proxy_to: only allowed");
    cfg_invalid(SVC(", 'mode': 'proxy', 'proxy_to': '127.0.0.1'"),
                "services[0].proxy_to: expected \"ip:port\"");
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok(SVC(", 'mode': 'proxy', 'proxy_to': '[::1]:8080'"));
    ck_assert_str_eq(c->services[0].proxy_to, "[::1]:8080");
}
END_TEST

START_TEST(config_rejects_bad_enums)
{
    cfg_invalid(
        SVC(", 'mode': 'daemon'"),
        "services[0].mode: expected one of \"accept\", \"listen\", \"proxy\", got 'daemon'");
    cfg_invalid(SVC(", 'mode': 1"), "services[0].mode: expected one of \"accept\", \"listen\", "
                                    "\"proxy\", got an integer");
    cfg_invalid(SVC(", 'mode': 'Accept'"), "services[0].mode: expected one of");
    cfg_invalid(SVC(", 'restart': 'sometimes'"),
                "services[0].restart: expected one of \"no\", \"on-failure\", \"always\", got "
                "'sometimes'");
    cfg_invalid(SVC(", 'restart': false"), "services[0].restart: expected one of");
}
END_TEST

START_TEST(config_accepts_listen_formats)
{
    listen_ok("198.18.0.2:22");
    listen_canon("tcp:198.18.0.2:22", "198.18.0.2:22");
    listen_canon("198.18.0.2:0022", "198.18.0.2:22");
    listen_canon("[2001:DB8:0::1]:443", "[2001:db8::1]:443");
    listen_canon("udp:[0::0]:53", "udp:[::]:53");
    listen_canon("unix://run//panel.sock/", "unix:/run/panel.sock");
    listen_ok("udp:[::]:53");
    listen_ok("udp:198.18.0.2:53");
    listen_ok("[2001:db8::1]:443");
    listen_ok("0.0.0.0:1");
    listen_ok("0.0.0.0:65535");
    listen_ok("unix:/x");
    listen_ok("unix:/run/panel.sock");
}
END_TEST

START_TEST(config_rejects_bad_listen_formats)
{
    static const char *const bad[] = {
        "80",
        "1.2.3.4:0",
        "1.2.3.4:70000",
        "[::1]22",
        "::1:22",
        "1.2.3.4:",
        "1.2.3.4",
        "1.2.3.4:+22",
        "1.2.3.4: 22",
        "1.2.3.4:22 ",
        "1.2.3.4:-1",
        ":22",
        "tcp:80",
        "udp:",
        "sctp:1.2.3.4:1",
        "host.example:80",
        "[1.2.3.4]:80",
        "[::1]:",
        "[::1",
        "1.2.3.4:0x16",
        "1.2.3.4:18446744073709551638",
        "[::1]:22:",
        "TCP:1.2.3.4:22",
        "1.2.3.04:22",
    };

    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        listen_invalid(bad[i]);
    cfg_invalid(SVC(", 'listen': ['80']"),
                "services[0].listen[0]: expected \"ip:port\" (IPv6 as \"[addr]:port\"), got '80'");
    cfg_invalid(SVC(", 'listen': ['unix:x']"),
                "services[0].listen[0]: expected \"unix:/absolute/path\"");
    cfg_invalid(SVC(", 'listen': ['unix:']"), "services[0].listen[0]: expected \"unix:/");

    /* sun_path holds 108 bytes with the NUL. */
    char path[200], text[400];
    cleanup_free char *p106 = repeat('p', 106), *p107 = repeat('p', 107);
    snprintf(path, sizeof path, "unix:/%s", p106);
    listen_ok(path);
    snprintf(text, sizeof text, SVC(", 'listen': ['unix:/%s']"), p107);
    cfg_invalid(text, "services[0].listen[0]: expected \"unix:/absolute/path\" (under 108 bytes");
    cfg_invalid(SVC(", 'listen': ['unix:/run/../etc/x']"), "services[0].listen[0]: expected");
    cfg_invalid(SVC(", 'listen': ['unix:/run/./x']"), "services[0].listen[0]: expected");
    cfg_invalid(SVC(", 'listen': ['unix:/']"), "services[0].listen[0]: expected");
    cfg_invalid(SVC(", 'listen': ['198.18.0.2:+22']"), "services[0].listen[0]: expected");
}
END_TEST

START_TEST(config_rejects_same_listen_twice)
{
    /* Two spellings of one socket are one socket. */
    cfg_invalid(SVC(", 'listen': ['198.18.0.2:22', 'tcp:198.18.0.2:022']"),
                "services[0].listen[1]: '198.18.0.2:22' is listed twice");
    cfg_invalid(
        SVC(", 'mode': 'proxy', 'proxy_to': '127.0.0.1:80', 'listen': ['udp:198.18.0.2:53']"),
        "services[0].listen[0]: udp needs");
    cfg_invalid(SVC(", 'listen': ['198.18.0.2:22', '198.18.0.2:22']"),
                "services[0].listen[1]: '198.18.0.2:22' is listed twice");
    cfg_invalid("{'name': 'web1', 'services': ["
                "{'name': 'a', 'command': ['/bin/a'], 'listen': ['198.18.0.2:80']},"
                "{'name': 'b', 'command': ['/bin/b'], 'listen': ['198.18.0.2:81', '198.18.0.2:80']}"
                "]}",
                "services[1].listen[1]: '198.18.0.2:80' is used by service 'a'");
    /* The same port over TCP and UDP is two sockets. */
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok("{'name': 'web1', 'services': ["
               "{'name': 'a', 'command': ['/bin/a'], 'listen': ['tcp:198.18.0.2:53']},"
               "{'name': 'b', 'command': ['/bin/b'], 'listen': ['udp:198.18.0.2:53']}]}");
    ck_assert_uint_eq(c->n_services, 2);
}
END_TEST

START_TEST(config_rejects_duplicate_service_names)
{
    cfg_invalid("{'name': 'web1', 'services': [{'name': 'ssh', 'command': ['/bin/a']},"
                "{'name': 'web', 'command': ['/bin/b']}, {'name': 'ssh', 'command': ['/bin/c']}]}",
                "services[2].name: service 'ssh' is listed twice");
}
END_TEST

START_TEST(config_limits_number_of_services)
{
    size_t size = 128 + 80 * (VPS_MAX_SERVICES + 1);
    cleanup_free char *text = malloc(size);
    char *p = text;

    p += sprintf(p, "{'name': 'web1', 'services': [");
    for (int i = 0; i <= VPS_MAX_SERVICES; i++)
        p += sprintf(p, "%s{'name': 's%d', 'command': ['/bin/true']}", i ? "," : "", i);
    sprintf(p, "]}");
    cfg_invalid(text, "services: at most 64 services");
    cfg_invalid("{'name': 'web1', 'services': {}}", "services: expected an array, got an object");
    cfg_invalid("{'name': 'web1', 'services': [1]}",
                "services[0]: expected an object, got an integer");
}
END_TEST

START_TEST(config_checks_match_rules)
{
#define MATCH(m) SVC(", 'match': [" m "]")
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok(MATCH("{'front': '198.18.0.1:443', 'http_host': '*.example.com'}"));
    ck_assert_str_eq(c->services[0].match[0].value, "*.example.com");

    cfg_invalid(MATCH("{'front': '198.18.0.1:443'}"),
                "services[0].match[0]: exactly one of \"http_host\", \"tls_sni\", \"protocol\"");
    cfg_invalid(MATCH("{'front': '198.18.0.1:443', 'http_host': 'a.example', 'tls_sni': "
                      "'a.example'}"),
                "services[0].match[0]: exactly one of");
    cfg_invalid(MATCH("{'front': '198.18.0.1:443', 'protocol': 'ssh', 'tls_sni': 'a.example'}"),
                "services[0].match[0]: exactly one of");
    cfg_invalid(MATCH("{'tls_sni': 'a.example'}"),
                "services[0].match[0].front: required field is missing");
    cfg_invalid(MATCH("{'front': '198.18.0.1', 'tls_sni': 'a.example'}"),
                "services[0].match[0].front: expected \"ip:port\"");
    cfg_invalid(MATCH("{'front': '198.18.0.1:443', 'tls_sni': 'Panel.example'}"),
                "services[0].match[0].tls_sni: host names are matched in lower case");
    cfg_invalid(MATCH("{'front': '198.18.0.1:443', 'http_host': '*.Example.com'}"),
                "services[0].match[0].http_host: host names are matched in lower case");
    cfg_invalid(MATCH("{'front': '198.18.0.1:443', 'protocol': 'ftp'}"),
                "services[0].match[0].protocol: expected one of \"ssh\", \"tls\", \"http\", got "
                "'ftp'");
    cfg_invalid(MATCH("{'front': '198.18.0.1:443', 'tls_sni': 'example.com.'}"),
                "services[0].match[0].tls_sni: 'example.com.' ends in a dot");
    cfg_invalid(MATCH("{'front': '198.18.0.1:443', 'http_host': ''}"),
                "services[0].match[0].http_host: '' is not a valid host name");
    cfg_invalid(MATCH("[]"), "services[0].match[0]: expected an object, got an array");
    cfg_invalid(SVC(", 'match': {}"), "services[0].match: expected an array, got an object");
    cfg_invalid(MATCH("{'front': '198.18.0.1:443', 'default': false}"),
                "services[0].match[0]: exactly one of");
    cfg_invalid(MATCH("{'front': '198.18.0.1:443', 'default': true, 'protocol': 'ssh'}"),
                "services[0].match[0]: exactly one of");
    cfg_invalid(MATCH("{'front': '198.18.0.1:443', 'tls_sni': 'a.example'},"
                      "{'front': '198.18.0.1:0443', 'tls_sni': 'a.example'}"),
                "services[0].match[1]: listed twice");
    cfg_invalid("{'name': 'web1', 'services': ["
                "{'name': 'a', 'command': ['/bin/a'], 'match': [{'front': '198.18.0.1:80', "
                "'default': true}]},"
                "{'name': 'b', 'command': ['/bin/b'], 'match': [{'front': '198.18.0.1:80', "
                "'default': true}]}]}",
                "services[1].match[0]: service 'a' has the same rule");

    static const char *const bad_hosts[] = {"*",    "*.",   "a.*.b", "**.a", "a..b",  ".a",
                                            "-a.b", "a-.b", "a_b.c", "a b",  "*.*.a", "a:443"};
    for (size_t i = 0; i < ELEMENTSOF(bad_hosts); i++) {
        char text[256];
        snprintf(text, sizeof text, MATCH("{'front': '198.18.0.1:443', 'http_host': '%s'}"),
                 bad_hosts[i]);
        cfg_invalid(text, "services[0].match[0].http_host: '");
    }
#undef MATCH
}
END_TEST

/* The default rule of a front, and fronts in canonical form, through a JSON round trip. */
START_TEST(config_match_default_and_canonical_front)
{
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok(SVC(", 'match': [{'front': '[2001:DB8::1]:080', 'default': true}]"));
    cleanup_json json_t *j = NULL;
    struct vps_error e = {0};

    ck_assert_int_eq(c->services[0].match[0].kind, VPS_MATCH_DEFAULT);
    ck_assert_ptr_null(c->services[0].match[0].value);
    ck_assert_str_eq(c->services[0].match[0].front, "[2001:db8::1]:80");
    ck_assert_int_eq(vps_config_to_json(c, &j, &e), 0);
    json_t *m = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "services"), 0), "match"), 0);
    ck_assert(json_is_true(json_object_get(m, "default")));
    ck_assert_str_eq(json_string_value(json_object_get(m, "front")), "[2001:db8::1]:80");
    ck_assert_ptr_null(json_object_get(m, "http_host"));
}
END_TEST

START_TEST(config_match_accepts_long_host_names)
{
    /* Match rules are DNS names (253 characters), not UTS host names (64). */
    char host[300], text[512];
    cleanup_free char *l63 = repeat('a', 63), *l64 = repeat('a', 64);

    snprintf(host, sizeof host, "%s.%s.%s.%.61s", l63, l63, l63, l63);
    ck_assert_uint_eq(strlen(host), 253);
    snprintf(text, sizeof text, SVC(", 'match': [{'front': '198.18.0.1:80', 'http_host': '%s'}]"),
             host);
    cleanup_(vps_config_freep) struct vps_config *c = cfg_ok(text);

    snprintf(host, sizeof host, "%s.%s.%s.%.62s", l63, l63, l63, l63);
    snprintf(text, sizeof text, SVC(", 'match': [{'front': '198.18.0.1:80', 'http_host': '%s'}]"),
             host);
    cfg_invalid(text, "services[0].match[0].http_host: '");
    snprintf(text, sizeof text, SVC(", 'match': [{'front': '198.18.0.1:80', 'http_host': '%s.a'}]"),
             l64);
    cfg_invalid(text, "is not a valid host name");
}
END_TEST

START_TEST(config_rejects_match_in_listen_mode)
{
    cfg_invalid(SVC(", 'mode': 'listen', 'listen': ['198.18.0.2:80'], 'match': [{'front': "
                    "'198.18.0.1:80', 'http_host': 'a.example'}]"),
                "services[0].match: content rules need \"mode\" \"accept\" or \"proxy\"");
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok(SVC(", 'mode': 'listen', 'listen': ['198.18.0.2:80'], 'match': []"));
    ck_assert_int_eq(c->services[0].mode, VPS_SERVICE_LISTEN);
}
END_TEST

START_TEST(config_checks_service_env_user_cwd)
{
    cfg_invalid(SVC(", 'env': ['=x']"), "services[0].env[0]: expected \"KEY=value\", got '=x'");
    cfg_invalid(SVC(", 'env': ['NOEQ']"), "services[0].env[0]: expected \"KEY=value\"");
    cfg_invalid(SVC(", 'env': ['A-B=1']"), "services[0].env[0]: invalid variable name in 'A-B=1'");
    cfg_invalid(SVC(", 'user': '-x'"), "services[0].user: '-x' is not a valid user");
    cfg_invalid(SVC(", 'user': 'a b'"), "services[0].user: 'a b' is not a valid user");
    cfg_invalid(SVC(", 'user': ''"), "services[0].user: must not be shorter than 1 characters");
    cfg_invalid(SVC(", 'cwd': 'srv'"), "services[0].cwd: expected an absolute path, got 'srv'");
    cfg_invalid(SVC(", 'idle_timeout_ms': 604800001"),
                "services[0].idle_timeout_ms: 604800001 is out of range 0..604800000");

    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok(SVC(", 'user': '1000', 'cwd': '/', 'env': ['A_1=x=y'], 'idle_timeout_ms': "
                   "604800000"));
    ck_assert_str_eq(c->services[0].user, "1000");
    ck_assert_str_eq(c->services[0].env.v[0], "A_1=x=y");
}
END_TEST

START_TEST(config_error_paths_name_the_element)
{
    cfg_invalid("{'name': 'web1', 'services': ["
                "{'name': 'a', 'command': ['/bin/a'], 'listen': ['198.18.0.2:80']},"
                "{'name': 'b', 'command': ['/bin/b'], 'listen': ['80']}]}",
                "services[1].listen[0]: expected \"ip:port\" (IPv6 as \"[addr]:port\"), got '80'");
    cfg_invalid("{'name': 'web1', 'services': ["
                "{'name': 'a', 'command': ['/bin/a']},"
                "{'name': 'b', 'command': ['/bin/b'], 'match': [{'front': '198.18.0.1:80', "
                "'http_host': 'a.example'}, {'front': '198.18.0.1:80', 'tls_sni': 'B.example'}]}]}",
                "services[1].match[1].tls_sni: ");

    /* The message starts with the path: nothing before it. */
    struct vps_error err = {0};
    struct vps_config *c = NULL;
    ck_assert_int_eq(cfg_parse("{'name': 'web1', 'limits': {'pids': -5}}", &c, &err), -1);
    ck_assert_str_eq(err.msg, "limits.pids: -5 is out of range 0..4194304");
}
END_TEST

START_TEST(config_service_mode_names)
{
    ck_assert_str_eq(vps_service_mode_name(VPS_SERVICE_ACCEPT), "accept");
    ck_assert_str_eq(vps_service_mode_name(VPS_SERVICE_LISTEN), "listen");
    ck_assert_str_eq(vps_service_mode_name(VPS_SERVICE_PROXY), "proxy");
    ck_assert_str_eq(vps_service_mode_name((enum vps_service_mode) 42), "unknown");
}
END_TEST

static Suite *config_services_suite(void)
{
    Suite *s = suite_create("config-services");
    TCase *services = tcase_create("services");

    tcase_add_test(services, config_service_gets_defaults);
    tcase_add_test(services, config_service_parses_all_fields);
    tcase_add_test(services, config_service_needs_absolute_command);
    tcase_add_test(services, config_proxy_mode_requires_proxy_to);
    tcase_add_test(services, config_rejects_bad_enums);
    tcase_add_test(services, config_accepts_listen_formats);
    tcase_add_test(services, config_rejects_bad_listen_formats);
    tcase_add_test(services, config_rejects_same_listen_twice);
    tcase_add_test(services, config_rejects_duplicate_service_names);
    tcase_add_test(services, config_limits_number_of_services);
    tcase_add_test(services, config_checks_match_rules);
    tcase_add_test(services, config_match_accepts_long_host_names);
    tcase_add_test(services, config_rejects_match_in_listen_mode);
    tcase_add_test(services, config_checks_service_env_user_cwd);
    tcase_add_test(services, config_error_paths_name_the_element);
    tcase_add_test(services, config_service_mode_names);
    tcase_add_test(services, config_match_default_and_canonical_front);
    suite_add_tcase(s, services);
    return s;
}

int main(void)
{
    return run_suite(config_services_suite(), CK_FORK_GETENV);
}
