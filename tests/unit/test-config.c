/* Unit tests for config.c: name and host name rules, defaults, limits, network addresses,
 * owners, bind mounts, error paths and the JSON round trip. Services are test-config-services.c's.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vps/config.h"

#include "test-config-helpers.h"

/* ---- names ---- */

START_TEST(config_requires_name)
{
    cfg_invalid("{}", "name: required field is missing");
    cfg_invalid("{'hostname': 'web1'}", "name: required field is missing");
}
END_TEST

START_TEST(config_rejects_bad_names)
{
    static const char *const bad[] = {"../x", "a/b",  "",    "Web1", "-web", "a_b",
                                      "a.b",  " web", "a b", ".",    "..",   "web1\\n"};

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        char text[128];
        snprintf(text, sizeof text, "{'name': '%s'}", bad[i]);
        cfg_invalid(text, "name: '");
        cfg_invalid(text, "is not a valid name");
    }
    cfg_invalid("{'name': 'caf\\u00e9'}", "is not a valid name");
    cfg_invalid("{'name': 12}", "name: expected a string, got an integer");
}
END_TEST

START_TEST(config_rejects_overlong_names)
{
    cleanup_free char *n64 = repeat('a', 64), *n300 = repeat('b', 300);
    char text[400];

    snprintf(text, sizeof text, "{'name': '%s'}", n64);
    cfg_invalid(text, "name: longer than 63 characters");
    snprintf(text, sizeof text, "{'name': '%s'}", n300);
    cfg_invalid(text, "name: longer than 63 characters");
    /* However long the input, the message stays short. */
    struct vps_error err = {0};
    struct vps_config *c = NULL;
    ck_assert_int_eq(cfg_parse(text, &c, &err), -1);
    ck_assert_uint_lt(strlen(err.msg), 200);
}
END_TEST

START_TEST(config_accepts_numeric_and_63_char_names)
{
    cleanup_free char *n63 = repeat('a', 63);
    char text[128];

    cleanup_(vps_config_freep) struct vps_config *num = cfg_ok("{'name': '101'}");
    ck_assert_str_eq(num->name, "101");
    ck_assert_str_eq(num->hostname, "101");

    snprintf(text, sizeof text, "{'name': '%s'}", n63);
    cleanup_(vps_config_freep) struct vps_config *c = cfg_ok(text);
    ck_assert_str_eq(c->name, n63);
    ck_assert_str_eq(c->hostname, n63);

    cleanup_(vps_config_freep) struct vps_config *d = cfg_ok("{'name': '0-a-9'}");
    ck_assert_str_eq(d->name, "0-a-9");
}
END_TEST

START_TEST(config_name_validate_explains_rule)
{
    struct vps_error err = {0};
    cleanup_free char *n64 = repeat('a', 64), *n63 = repeat('a', 63);

    ck_assert_int_eq(vps_name_validate("", "vps", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "vps name is empty");
    ck_assert_int_eq(vps_name_validate(NULL, "template", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "template name is empty");
    ck_assert_int_eq(vps_name_validate(n64, "vps", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "vps name is longer than 63 characters");
    ck_assert_int_eq(vps_name_validate("../x", "vps", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "vps name '../x' is invalid");
    ck_assert_int_eq(vps_name_validate("-x", "vps", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "starting with a letter or digit");

    struct vps_error ok = {0};
    ck_assert_int_eq(vps_name_validate(n63, "vps", &ok), 0);
    ck_assert_int_eq(vps_name_validate("101", "vps", &ok), 0);
    ck_assert_int_eq(ok.code, VPS_ERR_NONE);

    ck_assert(vps_name_is_valid("web1"));
    ck_assert(!vps_name_is_valid(NULL));
    ck_assert(!vps_name_is_valid(""));
    ck_assert(!vps_name_is_valid("WEB1"));
    ck_assert(!vps_name_is_valid("a/b"));
}
END_TEST

START_TEST(config_template_follows_name_rule)
{
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok("{'name': 'web1', 'template': 'debian-12'}");
    ck_assert_str_eq(c->template_name, "debian-12");
    cfg_invalid("{'name': 'web1', 'template': '../../etc'}",
                "template: '../../etc' is not a valid");
    cfg_invalid("{'name': 'web1', 'template': ''}", "template: '' is not a valid name");
}
END_TEST

/* ---- host names ---- */

START_TEST(config_hostname_defaults_to_name)
{
    cleanup_(vps_config_freep) struct vps_config *c = cfg_ok("{'name': 'web1'}");
    ck_assert_str_eq(c->hostname, "web1");

    cleanup_(vps_config_freep) struct vps_config *d =
        cfg_ok("{'name': 'web1', 'hostname': 'www.example.com'}");
    ck_assert_str_eq(d->hostname, "www.example.com");
}
END_TEST

START_TEST(config_hostname_follows_rfc1123)
{
    static const char *const good[] = {"a",    "web1",    "1a",           "101",
                                       "WEB1", "a-b.c-d", "x.example.com"};
    static const char *const bad[] = {"-a",  "a-",   "a..b", ".a",  "a.",  "a_b",
                                      "a b", "a.-b", "a-.b", "a/b", "a:b", "caf\xc3\xa9"};
    struct vps_error err = {0};
    cleanup_free char *l63 = repeat('a', 63), *l64 = repeat('a', 64), *h65 = NULL;
    char h64[65];

    for (size_t i = 0; i < ELEMENTSOF(good); i++)
        ck_assert_msg(vps_hostname_validate(good[i], "hostname", &err) == 0, "%s: %s", good[i],
                      err.msg);
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        ck_assert_msg(vps_hostname_validate(bad[i], "hostname", &err) < 0, "accepted %s", bad[i]);
        ck_assert_err(err, VPS_ERR_INVALID, "hostname: '");
        ck_assert_err(err, VPS_ERR_INVALID, "is not a valid host name");
    }
    ck_assert_int_eq(vps_hostname_validate("", "hostname", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "hostname: a host name has 1..64 characters");

    /* 64 characters in all is the UTS limit; one label is at most 63. */
    ck_assert_int_eq(vps_hostname_validate(l63, "hostname", &err), 0);
    ck_assert_int_eq(vps_hostname_validate(l64, "hostname", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "is not a valid host name");
    snprintf(h64, sizeof h64, "%.31s.%.32s", l63, l63);
    ck_assert_uint_eq(strlen(h64), 64);
    ck_assert_int_eq(vps_hostname_validate(h64, "hostname", &err), 0);
    h65 = malloc(66);
    snprintf(h65, 66, "%.32s.%.32s", l63, l63);
    ck_assert_int_eq(vps_hostname_validate(h65, "hostname", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "1..64 characters");
}
END_TEST

START_TEST(config_rejects_bad_hostname_with_path)
{
    cfg_invalid("{'name': 'web1', 'hostname': 'web_1'}",
                "hostname: 'web_1' is not a valid host name");
    cfg_invalid("{'name': 'web1', 'hostname': ''}", "hostname: a host name has 1..64 characters");
    cfg_invalid("{'name': 'web1', 'hostname': true}", "hostname: expected a string, got a boolean");
}
END_TEST

START_TEST(config_name_unfit_as_hostname_needs_explicit_hostname)
{
    /* "a-" is a valid name but not a valid host name: the default must not produce a config
     * that its own canonical form fails to load. */
    cfg_invalid("{'name': 'a-'}", "hostname: the name 'a-' is not a valid host name");
    cleanup_(vps_config_freep) struct vps_config *c = cfg_ok("{'name': 'a-', 'hostname': 'a'}");
    ck_assert_str_eq(c->hostname, "a");
}
END_TEST

/* ---- defaults and limits ---- */

START_TEST(config_new_holds_defaults)
{
    struct vps_error err = {0};
    cleanup_(vps_config_freep) struct vps_config *c = NULL;

    ck_assert_int_eq(vps_config_new(&c, &err), 0);
    ck_assert_uint_eq(c->limits.ram_bytes, 512ULL << 20);
    ck_assert_uint_eq(c->limits.cpu_weight, 100);
    ck_assert_uint_eq(c->limits.pids, 4096);
    ck_assert_str_eq(c->template_name, "minimal");
    ck_assert_ptr_null(c->name);
    vps_config_free(NULL);
}
END_TEST

START_TEST(config_fills_defaults_for_absent_fields)
{
    cleanup_(vps_config_freep) struct vps_config *c = cfg_ok("{'name': 'web1'}");

    ck_assert_str_eq(c->name, "web1");
    ck_assert_str_eq(c->hostname, "web1");
    ck_assert_str_eq(c->template_name, "minimal");
    ck_assert_ptr_null(c->created_at);
    ck_assert(!c->autostart);
    ck_assert_uint_eq(c->n_owners, 0);
    ck_assert_uint_eq(c->limits.ram_bytes, 536870912);
    ck_assert_uint_eq(c->limits.swap_bytes, 0);
    ck_assert_uint_eq(c->limits.disk_bytes, 0);
    ck_assert_uint_eq(c->limits.cpu_limit_millicpus, 0);
    ck_assert_uint_eq(c->limits.cpu_weight, 100);
    ck_assert_uint_eq(c->limits.io_weight, 0);
    ck_assert_uint_eq(c->limits.pids, 4096);
    ck_assert_ptr_null(c->limits.cpuset);
    ck_assert_uint_eq(c->network.addresses.n, 0);
    ck_assert_uint_eq(c->network.nameservers.n, 0);
    ck_assert_uint_eq(c->n_services, 0);

    /* An empty limits object changes nothing either. */
    cleanup_(vps_config_freep) struct vps_config *d = cfg_ok("{'name': 'web1', 'limits': {}}");
    ck_assert_uint_eq(d->limits.ram_bytes, 536870912);
    ck_assert_uint_eq(d->limits.pids, 4096);
}
END_TEST

START_TEST(config_accepts_limits_in_range)
{
    cleanup_(vps_config_freep) struct vps_config *c = cfg_ok(
        "{'name': 'web1', 'autostart': true, 'created_at': '2026-11-23T04:33:58Z', 'limits': "
        "{'ram_bytes': 16777216, 'swap_bytes': 1125899906842624, 'disk_bytes': 10737418240,"
        " 'cpu_limit_millicpus': 1500, 'cpu_weight': 10000, 'io_weight': 1, 'pids': 0,"
        " 'cpuset': '0-3,6'}}");

    ck_assert(c->autostart);
    ck_assert_str_eq(c->created_at, "2026-11-23T04:33:58Z");
    ck_assert_uint_eq(c->limits.ram_bytes, 16ULL << 20);
    ck_assert_uint_eq(c->limits.swap_bytes, 1ULL << 50);
    ck_assert_uint_eq(c->limits.disk_bytes, 10ULL << 30);
    ck_assert_uint_eq(c->limits.cpu_limit_millicpus, 1500);
    ck_assert_uint_eq(c->limits.cpu_weight, 10000);
    ck_assert_uint_eq(c->limits.io_weight, 1);
    ck_assert_uint_eq(c->limits.pids, 0); /* 0: no limit */
    ck_assert_str_eq(c->limits.cpuset, "0-3,6");
}
END_TEST

START_TEST(config_network_rates_are_zero_or_in_range)
{
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok("{'name': 'web1', 'limits': {'net_egress_bits_per_s': 8000,"
               " 'net_ingress_bits_per_s': 0}}");
    cleanup_(vps_config_freep) struct vps_config *d = cfg_ok("{'name': 'web1'}");

    ck_assert_uint_eq(c->limits.net_egress_bits_per_s, 8000);
    ck_assert_uint_eq(c->limits.net_ingress_bits_per_s, 0); /* 0: unlimited */
    ck_assert_uint_eq(d->limits.net_egress_bits_per_s, 0);  /* absent: unlimited */
    cfg_invalid("{'name': 'web1', 'limits': {'net_egress_bits_per_s': 7999}}",
                "limits.net_egress_bits_per_s: 7999 is out of range");
    cfg_invalid("{'name': 'web1', 'limits': {'net_ingress_bits_per_s': -1}}",
                "limits.net_ingress_bits_per_s: -1 is out of range");
    cfg_invalid("{'name': 'web1', 'limits': {'net_ingress_bits_per_s': '8M'}}",
                "limits.net_ingress_bits_per_s: expected an integer, got a string");
}
END_TEST

START_TEST(config_rejects_limits_out_of_range)
{
    cfg_invalid("{'name': 'web1', 'limits': {'ram_bytes': 16777215}}",
                "limits.ram_bytes: 16777215 is out of range 16777216..");
    cfg_invalid("{'name': 'web1', 'limits': {'ram_bytes': 1125899906842625}}",
                "limits.ram_bytes: 1125899906842625 is out of range");
    cfg_invalid("{'name': 'web1', 'limits': {'ram_bytes': 0}}", "limits.ram_bytes: 0 is out of");
    cfg_invalid("{'name': 'web1', 'limits': {'ram_bytes': -1}}", "limits.ram_bytes: -1 is out of");
    cfg_invalid("{'name': 'web1', 'limits': {'ram_bytes': '512M'}}",
                "limits.ram_bytes: expected an integer, got a string");
    cfg_invalid("{'name': 'web1', 'limits': {'ram_bytes': 5.12e8}}",
                "limits.ram_bytes: expected an integer, got a number");
    cfg_invalid("{'name': 'web1', 'limits': {'swap_bytes': 1125899906842625}}",
                "limits.swap_bytes: 1125899906842625 is out of range");
    cfg_invalid("{'name': 'web1', 'limits': {'cpu_weight': 0}}",
                "limits.cpu_weight: 0 is out of range 1..10000");
    cfg_invalid("{'name': 'web1', 'limits': {'cpu_weight': 10001}}",
                "limits.cpu_weight: 10001 is out of range 1..10000");
    cfg_invalid("{'name': 'web1', 'limits': {'io_weight': 0}}",
                "limits.io_weight: 0 is out of range 1..10000");
    cfg_invalid("{'name': 'web1', 'limits': {'cpu_limit_millicpus': 1024001}}",
                "limits.cpu_limit_millicpus: 1024001 is out of range");
    cfg_invalid("{'name': 'web1', 'limits': {'pids': 4194305}}",
                "limits.pids: 4194305 is out of range 0..4194304");
    cfg_invalid("{'name': 'web1', 'limits': {'memory': 1}}", "limits.memory: unknown field");
    cfg_invalid("{'name': 'web1', 'limits': []}", "limits: expected an object, got an array");
}
END_TEST

START_TEST(config_rejects_bad_cpuset)
{
    static const char *const bad[] = {"", "a", "0-", "-1", ",1", "1,", "1,,2", "0--3", "0 1"};

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        char text[128];
        snprintf(text, sizeof text, "{'name': 'web1', 'limits': {'cpuset': '%s'}}", bad[i]);
        cfg_invalid(text, "limits.cpuset: ");
    }
    cfg_invalid("{'name': 'web1', 'limits': {'cpuset': 'x'}}",
                "limits.cpuset: expected a CPU list like");
}
END_TEST

START_TEST(config_rejects_bad_created_at)
{
    cfg_invalid("{'name': 'web1', 'created_at': '2026-11-23 04:33:58'}",
                "created_at: expected \"YYYY-MM-DDTHH:MM:SSZ\"");
    cfg_invalid("{'name': 'web1', 'created_at': '2026-11-23T04:33:58+01:00'}", "created_at: ");
    cfg_invalid("{'name': 'web1', 'created_at': 'yesterday'}", "created_at: ");
}
END_TEST

START_TEST(config_rejects_unknown_field)
{
    cfg_invalid("{'name': 'web1', 'ram': 1}", "ram: unknown field");
    cfg_invalid("{'name': 'web1', 'network': {'gateway': '198.18.0.1'}}",
                "network.gateway: unknown field");
    cfg_invalid(SVC(", 'args': []"), "services[0].args: unknown field");
    cfg_invalid(SVC(", 'match': [{'front': '198.18.0.1:443', 'tls_sni': 'a.example', 'x': 1}]"),
                "services[0].match[0].x: unknown field");
}
END_TEST

START_TEST(config_rejects_top_level_non_object)
{
    struct vps_error err = {0};
    struct vps_config *c = NULL;
    cleanup_json json_t *a = json_array();

    ck_assert_int_eq(vps_config_from_json(a, &c, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "body: expected an object, got an array");
    ck_assert_ptr_null(c);
}
END_TEST

/* ---- network ---- */

START_TEST(config_canonicalizes_addresses)
{
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok("{'name': 'web1', 'network': {'addresses': ['198.18.0.2', '2001:DB8::2/64',"
               " '198.18.1.2/24', '2001:db8:0:0:0:0:0:3', '::FFFF:198.18.0.9/128']}}");

    ck_assert_uint_eq(c->network.addresses.n, 5);
    ck_assert_str_eq(c->network.addresses.v[0], "198.18.0.2/32");
    ck_assert_str_eq(c->network.addresses.v[1], "2001:db8::2/64");
    ck_assert_str_eq(c->network.addresses.v[2], "198.18.1.2/24");
    ck_assert_str_eq(c->network.addresses.v[3], "2001:db8::3/128");
    ck_assert_str_eq(c->network.addresses.v[4], "::ffff:198.18.0.9/128");
    ck_assert_ptr_null(c->network.addresses.v[5]);
}
END_TEST

START_TEST(config_rejects_duplicate_address)
{
    cfg_invalid("{'name': 'web1', 'network': {'addresses': ['198.18.0.2', '198.18.0.2']}}",
                "network.addresses[1]: address '198.18.0.2/32' is listed twice");
    /* Another prefix or another spelling is still the same address. */
    cfg_invalid("{'name': 'web1', 'network': {'addresses': ['198.18.0.2/24', '198.18.0.2/32']}}",
                "network.addresses[1]: address '198.18.0.2/32' is listed twice");
    cfg_invalid("{'name': 'web1', 'network': {'addresses': ['2001:db8::2/64', '2001:DB8:0::2']}}",
                "network.addresses[1]: address '2001:db8::2/128' is listed twice");
}
END_TEST

START_TEST(config_rejects_bad_addresses)
{
    static const char *const bad[] = {
        "198.18.0.2/33",
        "198.18.0.2/0",
        "198.18.0.2/",
        "198.18.0.2/-1",
        "198.18.0.2/24x",
        "198.18.0.2/ 24",
        "2001:db8::2/129",
        "198.18.0.256",
        "198.18.0",
        "web1.example",
        "",
        "/24",
        "fe80::1%eth0",
        "198.18.0.2/+24",
        "1.2.3.4/024x",
    };

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        char text[256];
        snprintf(text, sizeof text, "{'name': 'web1', 'network': {'addresses': ['%s']}}", bad[i]);
        cfg_invalid(text, "network.addresses[0]: ");
    }
    cfg_invalid("{'name': 'web1', 'network': {'addresses': ['198.18.0.2/33']}}",
                "network.addresses[0]: expected an IPv4 or IPv6 address with optional /prefix, got "
                "'198.18.0.2/33'");
    cfg_invalid("{'name': 'web1', 'network': {'addresses': '198.18.0.2'}}",
                "network.addresses: expected an array, got a string");
    cfg_invalid("{'name': 'web1', 'network': {'addresses': [1]}}",
                "network.addresses[0]: expected a string, got an integer");
}
END_TEST

START_TEST(config_checks_nameservers)
{
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok("{'name': 'web1', 'network': {'nameservers': ['198.18.0.1', '2001:db8::1']}}");
    ck_assert_uint_eq(c->network.nameservers.n, 2);
    ck_assert_str_eq(c->network.nameservers.v[1], "2001:db8::1");

    cfg_invalid("{'name': 'web1', 'network': {'nameservers': ['198.18.0.1/24']}}",
                "network.nameservers[0]: '198.18.0.1/24' is not an IP address");
    cfg_invalid("{'name': 'web1', 'network': {'nameservers': ['dns.example']}}",
                "network.nameservers[0]: 'dns.example' is not an IP address");
    cfg_invalid("{'name': 'web1', 'network': {'nameservers': ['198.18.0.1', '198.18.0.1']}}",
                "network.nameservers[1]: '198.18.0.1' is listed twice");
    cfg_invalid("{'name': 'web1', 'network': {'nameservers': ['1.1.1.1', '1.1.1.2', '1.1.1.3',"
                " '1.1.1.4', '1.1.1.5', '1.1.1.6', '1.1.1.7', '1.1.1.8', '1.1.1.9']}}",
                "network.nameservers: expected 0..8 entries, got 9");
}
END_TEST

/* ---- owners ---- */

START_TEST(config_accepts_owners)
{
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok("{'name': 'web1', 'owners': [1000, 0, 4294967294]}");

    ck_assert_uint_eq(c->n_owners, 3);
    ck_assert(vps_config_has_owner(c, 1000));
    ck_assert(vps_config_has_owner(c, 0));
    ck_assert(vps_config_has_owner(c, 4294967294u));
    ck_assert(!vps_config_has_owner(c, 1001));

    cleanup_(vps_config_freep) struct vps_config *none = cfg_ok("{'name': 'web1', 'owners': []}");
    ck_assert_uint_eq(none->n_owners, 0);
    ck_assert(!vps_config_has_owner(none, 0));
}
END_TEST

START_TEST(config_rejects_bad_owners)
{
    cfg_invalid("{'name': 'web1', 'owners': [1000, 1000]}", "owners[1]: uid 1000 is listed twice");
    cfg_invalid("{'name': 'web1', 'owners': [-1]}",
                "owners[0]: expected a uid, got a value out of");
    cfg_invalid("{'name': 'web1', 'owners': [1, 4294967295]}",
                "owners[1]: expected a uid, got a value out of range");
    cfg_invalid("{'name': 'web1', 'owners': [4294967296]}", "owners[0]: expected a uid");
    cfg_invalid("{'name': 'web1', 'owners': ['1000']}", "owners[0]: expected a uid, got a string");
    cfg_invalid("{'name': 'web1', 'owners': [1000.0]}", "owners[0]: expected a uid, got a number");
    cfg_invalid("{'name': 'web1', 'owners': [null]}", "owners[0]: expected a uid, got null");
    cfg_invalid("{'name': 'web1', 'owners': 1000}",
                "owners: expected an array of uids, got an integer");
}
END_TEST

START_TEST(config_limits_number_of_owners)
{
    char text[1024], *p = text;

    p += sprintf(p, "{'name': 'web1', 'owners': [");
    for (int i = 0; i <= VPS_MAX_OWNERS; i++)
        p += sprintf(p, "%s%d", i ? "," : "", 1000 + i);
    sprintf(p, "]}");
    cfg_invalid(text, "owners: at most 64 owners");
}
END_TEST

/* ---- the JSON form ---- */

static char *dump_config(const struct vps_config *c)
{
    struct vps_error err = {0};
    cleanup_json json_t *j = NULL;

    ck_assert_msg(vps_config_to_json(c, &j, &err) == 0, "to_json: %s", err.msg);
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* from_json, to_json, from_json, to_json: both dumps must be equal. Returns the dump. */
static char *round_trip(const char *squoted)
{
    cleanup_(vps_config_freep) struct vps_config *a = cfg_ok(squoted), *b = NULL;
    cleanup_free char *first = dump_config(a);
    struct vps_error err = {0};

    ck_assert_msg(cfg_parse_text(first, strlen(first), &b, &err) == 0,
                  "canonical form %s does not load: %s", first, err.msg);
    cleanup_free char *second = dump_config(b);
    ck_assert_str_eq(first, second);
    return TAKE_PTR(first);
}

static const char full_config[] =
    "{'name': 'web1', 'hostname': 'web1', 'template': 'minimal', 'autostart': false,"
    " 'owners': [1000], 'created_at': '2026-11-23T04:33:58Z',"
    " 'limits': {'ram_bytes': 536870912, 'swap_bytes': 0, 'disk_bytes': 10737418240,"
    "  'cpu_limit_millicpus': 1500, 'cpu_weight': 100, 'io_weight': 100, 'pids': 4096,"
    "  'cpuset': '0-1'},"
    " 'network': {'addresses': ['198.18.0.2/24', '2001:db8::2/64'],"
    "  'nameservers': ['198.18.0.1']},"
    " 'services': [{'name': 'ssh', 'command': ['/usr/sbin/sshd', '-i'], 'user': 'root',"
    "  'cwd': '/', 'env': ['LANG=C.UTF-8'],"
    "  'listen': ['198.18.0.2:22', 'udp:[::]:53', 'unix:/run/panel.sock'],"
    "  'match': [{'front': '198.18.0.1:443', 'tls_sni': 'panel.example'}],"
    "  'mode': 'accept', 'idle_timeout_ms': 60000, 'restart': 'on-failure'},"
    " {'name': 'panel', 'command': ['/usr/bin/panel'], 'mode': 'proxy',"
    "  'proxy_to': '127.0.0.1:8080', 'restart': 'always',"
    "  'match': [{'front': '198.18.0.1:80', 'http_host': '*.example.com'},"
    "   {'front': '198.18.0.1:22', 'protocol': 'ssh'}]}]}";

START_TEST(config_round_trips_documented_example)
{
    cleanup_free char *dump = round_trip(full_config);

    ck_assert_msg(strstr(dump, "\"tls_sni\":\"panel.example\""), "%s", dump);
    ck_assert_msg(strstr(dump, "\"proxy_to\":\"127.0.0.1:8080\""), "%s", dump);
}
END_TEST

START_TEST(config_round_trips_minimal_with_defaults_spelled_out)
{
    cleanup_free char *dump = round_trip("{'name': 'web1'}");
    cleanup_json json_t *j = json_loads(dump, 0, NULL);
    json_t *limits = json_object_get(j, "limits");

    ck_assert_str_eq(json_string_value(json_object_get(j, "hostname")), "web1");
    ck_assert_str_eq(json_string_value(json_object_get(j, "template")), "minimal");
    ck_assert(json_is_false(json_object_get(j, "autostart")));
    ck_assert(json_is_false(json_object_get(j, "autostop")));
    ck_assert_int_eq(json_integer_value(json_object_get(limits, "ram_bytes")), 536870912);
    ck_assert_int_eq(json_integer_value(json_object_get(limits, "cpu_weight")), 100);
    ck_assert_int_eq(json_integer_value(json_object_get(limits, "pids")), 4096);
    ck_assert_ptr_null(json_object_get(j, "created_at"));
}
END_TEST

START_TEST(config_round_trips_canonical_addresses)
{
    cleanup_free char *dump =
        round_trip("{'name': 'web1', 'network': {'addresses': ['198.18.0.2', '2001:DB8::2/64']}}");

    ck_assert_msg(strstr(dump, "\"addresses\":[\"198.18.0.2/32\",\"2001:db8::2/64\"]"), "%s", dump);
}
END_TEST

START_TEST(config_round_trips_pids_without_limit)
{
    /* pids 0 means "no limit" and differs from the default 4096: it must survive a save and
     * a load, not turn back into the default. */
    cleanup_free char *dump = round_trip("{'name': 'web1', 'limits': {'pids': 0}}");
    cleanup_json json_t *j = json_loads(dump, 0, NULL);

    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "limits"), "pids")), 0);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(j, "limits"), "pids"));
}
END_TEST

START_TEST(config_round_trips_odd_but_valid_values)
{
    free(round_trip("{'name': '0', 'hostname': 'A.B', 'owners': [], 'services': [],"
                    " 'limits': {'cpu_limit_millicpus': 0, 'disk_bytes': 0, 'swap_bytes': 0}}"));
    free(round_trip(SVC(", 'listen': [], 'env': [], 'match': [], 'idle_timeout_ms': 0")));
    free(round_trip("{'name': 'web1', 'services': [{'name': 's', 'command': ['/x', '\\u00e9',"
                    " '\\\"', '\\\\'], 'cwd': '/\\u2603'}]}"));
}
END_TEST

START_TEST(config_accepts_its_own_output_as_patch_base)
{
    /* A PATCH is merge(to_json(old), body), then from_json: null resets to the default. */
    struct vps_error err = {0};
    cleanup_(vps_config_freep) struct vps_config *old =
        cfg_ok("{'name': 'web1', 'hostname': 'www', 'limits': {'ram_bytes': 1073741824}}");
    cleanup_(vps_config_freep) struct vps_config *patched = NULL;
    cleanup_json json_t *cur = NULL, *merged = NULL;
    cleanup_json json_t *patch = json_loads("{\"hostname\": null, \"limits\": {\"ram_bytes\": null,"
                                            " \"pids\": 10}}",
                                            0, NULL);

    ck_assert_int_eq(vps_config_to_json(old, &cur, &err), 0);
    ck_assert_int_eq(vps_json_merge_patch(cur, patch, &merged, &err), 0);
    ck_assert_int_eq(vps_config_from_json(merged, &patched, &err), 0);
    ck_assert_str_eq(patched->hostname, "web1");
    ck_assert_uint_eq(patched->limits.ram_bytes, VPS_DEFAULT_RAM_BYTES);
    ck_assert_uint_eq(patched->limits.pids, 10);
}
END_TEST

START_TEST(config_failures_free_partial_config)
{
    /* Failures deep inside services, after much has been allocated; ASan checks the frees. */
    cfg_invalid("{'name': 'web1', 'hostname': 'h', 'owners': [1, 2], 'limits': {'cpuset': '0'},"
                " 'network': {'addresses': ['198.18.0.2'], 'nameservers': ['198.18.0.1']},"
                " 'services': [{'name': 'a', 'command': ['/a', 'b'], 'env': ['A=1'],"
                " 'listen': ['198.18.0.2:1'], 'match': [{'front': '198.18.0.1:1', 'protocol': "
                "'ssh'}]}, {'name': 'b', 'command': ['/b'], 'match': [{'front': '198.18.0.1:2',"
                " 'protocol': 'tls'}, {'front': '198.18.0.1:2', 'protocol': 'tls', 'http_host': "
                "'x.example'}]}]}",
                "services[1].match[1]: exactly one of");
    cfg_invalid("{'name': 'web1', 'network': {'addresses': ['198.18.0.2', '198.18.0.3', 'bad']}}",
                "network.addresses[2]: ");
    cfg_invalid("{'name': 'web1', 'owners': [1, 2, 3, 'x']}", "owners[3]: ");
    cfg_invalid(SVC(", 'user': 'u', 'cwd': '/', 'listen': ['1.2.3.4:5'], 'mode': 'proxy'"),
                "proxy_to: required");
    cfg_invalid("{'name': 'web1', 'hostname': 'h', 'template': 't', 'created_at': 'x'}",
                "created_at: ");
}
END_TEST

START_TEST(config_rejects_duplicate_keys_in_text)
{
    cfg_invalid("{'name': 'web1', 'name': 'web2'}", "duplicate object key");
    cfg_invalid("{'name': 'web1', 'limits': {'pids': 1, 'pids': 2}}", "duplicate object key");
}
END_TEST

/* ---- mounts ---- */

START_TEST(config_accepts_mounts_in_canonical_form)
{
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok("{'name': 'web1', 'mounts': [{'source': '/usr', 'target': '/usr'},"
               " {'source': '//srv//www/', 'target': '/srv/www/', 'readonly': false},"
               " {'source': '/', 'target': '/host', 'readonly': true},"
               " {'source': '/etc/hosts', 'target': '/devices'}]}");

    ck_assert_uint_eq(c->n_mounts, 4);
    ck_assert_str_eq(c->mounts[0].source, "/usr");
    ck_assert_str_eq(c->mounts[0].target, "/usr");
    ck_assert(c->mounts[0].readonly); /* the default */
    ck_assert_str_eq(c->mounts[1].source, "/srv/www");
    ck_assert_str_eq(c->mounts[1].target, "/srv/www");
    ck_assert(!c->mounts[1].readonly);
    ck_assert_str_eq(c->mounts[2].source, "/");
    ck_assert_str_eq(c->mounts[3].target, "/devices"); /* not under /dev */

    cleanup_(vps_config_freep) struct vps_config *none = cfg_ok("{'name': 'web1', 'mounts': []}");
    ck_assert_uint_eq(none->n_mounts, 0);
    ck_assert_ptr_null(none->mounts);
}
END_TEST

START_TEST(config_rejects_bad_mounts)
{
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': 'usr', 'target': '/usr'}]}",
                "mounts[0].source: expected an absolute path, got 'usr'");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '/usr', 'target': '/a/../etc'}]}",
                "mounts[0].target: '/a/../etc' has a \".\" or \"..\" component");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '/usr/./bin', 'target': '/b'}]}",
                "mounts[0].source: '/usr/./bin' has a");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '/srv/..', 'target': '/b'}]}",
                "mounts[0].source: '/srv/..' has a");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '/usr', 'target': '//'}]}",
                "mounts[0].target: cannot be /");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '/usr', 'target': '/proc'}]}",
                "mounts[0].target: '/proc' is in /proc, which vpsd mounts");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '/usr', 'target': '/sys/'}]}",
                "mounts[0].target: '/sys' is in /sys");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '/usr', 'target': '/a'},"
                " {'source': '/tmp', 'target': '//dev//shm'}]}",
                "mounts[1].target: '/dev/shm' is in /dev");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '/usr', 'target': '/usr'},"
                " {'source': '/opt', 'target': '/usr/'}]}",
                "mounts[1].target: '/usr' is the target of mounts[0] too");
    cfg_invalid("{'name': 'web1', 'mounts': [{'target': '/usr'}]}",
                "mounts[0].source: required field is missing");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '/usr'}]}",
                "mounts[0].target: required field is missing");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '/usr', 'target': '/usr', 'rw': true}]}",
                "mounts[0].rw: unknown field");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '/usr', 'target': '/usr', 'readonly': 1}]}",
                "mounts[0].readonly: expected a boolean, got an integer");
    cfg_invalid("{'name': 'web1', 'mounts': [{'source': '', 'target': '/usr'}]}",
                "mounts[0].source: must not be shorter than 1");
    cfg_invalid("{'name': 'web1', 'mounts': ['/usr']}",
                "mounts[0]: expected an object, got a string");
    cfg_invalid("{'name': 'web1', 'mounts': {'source': '/usr', 'target': '/usr'}}",
                "mounts: expected an array, got an object");
}
END_TEST

START_TEST(config_limits_number_of_mounts)
{
    char text[2048], *p = text;

    p += sprintf(p, "{'name': 'web1', 'mounts': [");
    for (int i = 0; i <= VPS_MAX_MOUNTS; i++)
        p += sprintf(p, "%s{'source': '/srv', 'target': '/m%d'}", i ? "," : "", i);
    sprintf(p, "]}");
    cfg_invalid(text, "mounts: at most 16 mounts");
}
END_TEST

START_TEST(config_round_trips_mounts)
{
    cleanup_free char *dump = round_trip("{'name': 'web1', 'mounts': [{'source': '/usr/',"
                                         " 'target': '/usr'}, {'source': '/srv//www',"
                                         " 'target': '/var/www', 'readonly': false}]}");

    /* readonly is spelled out, paths are canonical, the order is kept. */
    ck_assert_msg(strstr(dump, "\"mounts\":[{\"readonly\":true,\"source\":\"/usr\",\"target\":"
                               "\"/usr\"},{\"readonly\":false,\"source\":\"/srv/www\",\"target\":"
                               "\"/var/www\"}]"),
                  "%s", dump);
    cleanup_free char *plain = round_trip("{'name': 'web1'}");
    ck_assert_msg(strstr(plain, "\"mounts\":[]"), "%s", plain);
}
END_TEST

START_TEST(config_set_mounts_checks_like_the_field)
{
    /* What a create gets from its template's defaults, checked as if the body had them. */
    struct vps_error err = {0};
    cleanup_(vps_config_freep) struct vps_config *c =
        cfg_ok("{'name': 'web1', 'mounts': [{'source': '/opt', 'target': '/opt'}]}");
    cleanup_json json_t *good =
        json_loads("[{\"source\": \"/usr/\", \"target\": \"/usr\"}]", 0, NULL);
    cleanup_json json_t *bad =
        json_loads("[{\"source\": \"/usr\", \"target\": \"/proc\"}]", 0, NULL);

    ck_assert_int_eq(vps_config_set_mounts(c, good, &err), 0);
    ck_assert_uint_eq(c->n_mounts, 1);
    ck_assert_str_eq(c->mounts[0].source, "/usr");
    ck_assert(c->mounts[0].readonly);
    ck_assert_int_eq(vps_config_set_mounts(c, bad, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "mounts[0].target: '/proc' is in /proc");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *names = tcase_create("names");
    TCase *limits = tcase_create("limits");
    TCase *network = tcase_create("network");
    TCase *json = tcase_create("json");
    TCase *mounts = tcase_create("mounts");

    tcase_add_test(names, config_requires_name);
    tcase_add_test(names, config_rejects_bad_names);
    tcase_add_test(names, config_rejects_overlong_names);
    tcase_add_test(names, config_accepts_numeric_and_63_char_names);
    tcase_add_test(names, config_name_validate_explains_rule);
    tcase_add_test(names, config_template_follows_name_rule);
    tcase_add_test(names, config_hostname_defaults_to_name);
    tcase_add_test(names, config_hostname_follows_rfc1123);
    tcase_add_test(names, config_rejects_bad_hostname_with_path);
    tcase_add_test(names, config_name_unfit_as_hostname_needs_explicit_hostname);
    suite_add_tcase(s, names);

    tcase_add_test(limits, config_new_holds_defaults);
    tcase_add_test(limits, config_fills_defaults_for_absent_fields);
    tcase_add_test(limits, config_accepts_limits_in_range);
    tcase_add_test(limits, config_rejects_limits_out_of_range);
    tcase_add_test(limits, config_network_rates_are_zero_or_in_range);
    tcase_add_test(limits, config_rejects_bad_cpuset);
    tcase_add_test(limits, config_rejects_bad_created_at);
    tcase_add_test(limits, config_rejects_unknown_field);
    tcase_add_test(limits, config_rejects_top_level_non_object);
    tcase_add_test(limits, config_accepts_owners);
    tcase_add_test(limits, config_rejects_bad_owners);
    tcase_add_test(limits, config_limits_number_of_owners);
    suite_add_tcase(s, limits);

    tcase_add_test(network, config_canonicalizes_addresses);
    tcase_add_test(network, config_rejects_duplicate_address);
    tcase_add_test(network, config_rejects_bad_addresses);
    tcase_add_test(network, config_checks_nameservers);
    suite_add_tcase(s, network);

    tcase_add_test(json, config_round_trips_documented_example);
    tcase_add_test(json, config_round_trips_minimal_with_defaults_spelled_out);
    tcase_add_test(json, config_round_trips_canonical_addresses);
    tcase_add_test(json, config_round_trips_pids_without_limit);
    tcase_add_test(json, config_round_trips_odd_but_valid_values);
    tcase_add_test(json, config_accepts_its_own_output_as_patch_base);
    tcase_add_test(json, config_failures_free_partial_config);
    tcase_add_test(json, config_rejects_duplicate_keys_in_text);
    suite_add_tcase(s, json);

    tcase_add_test(mounts, config_accepts_mounts_in_canonical_form);
    tcase_add_test(mounts, config_rejects_bad_mounts);
    tcase_add_test(mounts, config_limits_number_of_mounts);
    tcase_add_test(mounts, config_round_trips_mounts);
    tcase_add_test(mounts, config_set_mounts_checks_like_the_field);
    suite_add_tcase(s, mounts);
    return s;
}

int main(void)
{
    return run_suite(config_suite(), CK_FORK_GETENV);
}
