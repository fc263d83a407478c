/* Parsing helpers shared by the config test suites (test-config.c, test-config-services.c):
 * JSON written with single quotes, parsed the way a request body is. */
#pragma once

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "vps/config.h"
#include "vps/json.h"

#include "test-helpers.h"

/* A config with one service whose body follows the name and command. */
#define SVC(extra)                                                                                 \
    "{'name': 'web1', 'services': [{'name': 'ssh', 'command': ['/bin/sh']" extra "}]}"

/* Single quotes in test inputs stand for double quotes, so the JSON stays readable. */
static inline char *dequote(const char *squoted)
{
    char *text = strdup(squoted);

    ck_assert_ptr_nonnull(text);
    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    return text;
}

/* The path a request body takes: text, then the config. */
static inline int cfg_parse_text(const char *text, size_t len, struct vps_config **ret,
                                 struct vps_error *err)
{
    cleanup_json json_t *j = NULL;

    if (vps_json_parse_text(text, len, &j, err) < 0)
        return -1;
    return vps_config_from_json(j, ret, err);
}

static inline int cfg_parse(const char *squoted, struct vps_config **ret, struct vps_error *err)
{
    cleanup_free char *text = dequote(squoted);
    return cfg_parse_text(text, strlen(text), ret, err);
}

/* Parses a config that must be valid; the caller frees it. */
static inline struct vps_config *cfg_ok(const char *squoted)
{
    struct vps_error err = {0};
    struct vps_config *c = NULL;

    ck_assert_msg(cfg_parse(squoted, &c, &err) == 0, "rejected %s: %s", squoted, err.msg);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* Parses a config that must be invalid, with frag in the message. */
static inline void cfg_invalid(const char *squoted, const char *frag)
{
    struct vps_error err = {0};
    struct vps_config *c = NULL;

    ck_assert_msg(cfg_parse(squoted, &c, &err) < 0, "accepted %s", squoted);
    ck_assert_ptr_null(c);
    ck_assert_err(err, VPS_ERR_INVALID, frag);
}

static inline char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);

    memset(s, ch, n);
    s[n] = '\0';
    return s;
}
