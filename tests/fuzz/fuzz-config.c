/* Fuzz target for the VPS config parser: request text to JSON to struct vps_config, and back.
 * Beyond "no crash, no leak" it checks the properties the API relies on: bad input is always
 * VPS_ERR_INVALID, an accepted config's canonical form loads again to the same form, and a
 * merge patch onto a valid config either fails cleanly or yields such a config. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vps/config.h"

static const char base_config[] =
    "{\"name\":\"web1\",\"owners\":[1000],\"limits\":{\"ram_bytes\":1073741824},"
    "\"network\":{\"addresses\":[\"198.18.0.2/24\"]},"
    "\"services\":[{\"name\":\"ssh\",\"command\":[\"/usr/sbin/sshd\",\"-i\"],"
    "\"listen\":[\"198.18.0.2:22\"],"
    "\"match\":[{\"front\":\"198.18.0.1:443\",\"tls_sni\":\"panel.example\"}]}]}";

static void fail(const char *what, const char *detail, const char *text)
{
    fprintf(stderr, "fuzz-config: %s: %s\n%s\n", what, detail, text ? text : "");
    abort();
}

/* Bad input must never look like a host failure (a 500); ENOMEM is the one SYSTEM case. */
static void check_error(const struct vps_error *err)
{
    if (memchr(err->msg, '\0', sizeof err->msg) == NULL || err->msg[0] == '\0')
        fail("error without a message", "", NULL);
    if (err->code != VPS_ERR_INVALID && !(err->code == VPS_ERR_SYSTEM && err->errnum == ENOMEM))
        fail("bad input gave a code other than invalid", err->msg, NULL);
}

static char *dump(const struct vps_config *c)
{
    struct vps_error err = {0};
    cleanup_json json_t *j = NULL;

    if (vps_config_to_json(c, &j, &err) < 0)
        fail("to_json failed", err.msg, NULL);
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    if (!s)
        fail("json_dumps failed", "", NULL);
    return s;
}

/* from_json(j) either fails with a proper error, or its canonical dump loads again to the
 * very same dump. */
static void check_config(const json_t *j)
{
    struct vps_error err = {0};
    cleanup_(vps_config_freep) struct vps_config *c = NULL, *again = NULL;
    cleanup_json json_t *reparsed = NULL;

    if (vps_config_from_json(j, &c, &err) < 0) {
        check_error(&err);
        return;
    }
    cleanup_free char *first = dump(c);
    if (vps_json_parse_text(first, strlen(first), &reparsed, &err) < 0 ||
        vps_config_from_json(reparsed, &again, &err) < 0)
        fail("canonical form does not load", err.msg, first);
    cleanup_free char *second = dump(again);
    if (strcmp(first, second) != 0)
        fail("canonical form changes when loaded again", first, second);
}

/* The PATCH path: the input as an RFC 7396 patch onto a valid config's canonical form. */
static void check_patch(const json_t *patch)
{
    struct vps_error err = {0};
    cleanup_json json_t *base_json = NULL, *canon = NULL, *merged = NULL;
    cleanup_(vps_config_freep) struct vps_config *base = NULL;

    if (vps_json_parse_text(base_config, sizeof base_config - 1, &base_json, &err) < 0 ||
        vps_config_from_json(base_json, &base, &err) < 0 ||
        vps_config_to_json(base, &canon, &err) < 0)
        fail("base config does not load", err.msg, base_config);
    if (vps_json_merge_patch(canon, patch, &merged, &err) < 0)
        fail("merge patch failed", err.msg, NULL);
    check_config(merged);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vps_error err = {0};
    cleanup_json json_t *j = NULL;

    /* The store and the API never read more than this. */
    if (size > VPS_CONFIG_MAX_BYTES)
        return 0;
    if (vps_json_parse_text((const char *) data, size, &j, &err) < 0) {
        check_error(&err);
        return 0;
    }
    check_config(j);
    check_patch(j);
    return 0;
}
