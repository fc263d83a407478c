/* Unit tests for json.c: the strict table-driven walker (paths in messages, types, ranges,
 * required fields), emitting, the text parser's limits, merge patch, load and save. */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vps/fd.h"
#include "vps/json.h"

#include "test-helpers.h"

/* ---- a small object model for the walker: {name, flag, size, count, tags, sub: {inner}} ---- */

struct sub {
    char *inner;
};

struct thing {
    char *name;
    bool flag;
    uint64_t size;
    uint32_t count;
    struct vps_strv tags;
    struct sub sub;
};

static int check_no_x(const char *s, const char *path, struct vps_error *err)
{
    if (strchr(s, 'x'))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: 'x' is not allowed", path);
    return 0;
}

static const struct vps_json_field sub_fields[] = {
    {.name = "inner",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct sub, inner),
     .required = true},
};

static int parse_sub(const json_t *v, void *dst, const char *path, struct vps_error *err)
{
    return vps_json_parse_fields(v, sub_fields, ELEMENTSOF(sub_fields), dst, path, err);
}

static int emit_sub(const void *src, json_t **ret, struct vps_error *err)
{
    const struct sub *s = src;
    if (!s->inner) {
        *ret = NULL; /* omitted */
        return 0;
    }
    return vps_json_emit_fields(src, sub_fields, ELEMENTSOF(sub_fields), ret, err);
}

static void free_sub(void *dst)
{
    vps_json_free_fields(dst, sub_fields, ELEMENTSOF(sub_fields));
}

static const struct vps_json_field thing_fields[] = {
    {.name = "name",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct thing, name),
     .required = true,
     .min = 2,
     .max = 8,
     .check = check_no_x},
    {.name = "flag",
     .kind = VPS_JSON_BOOL,
     .offset = offsetof(struct thing, flag),
     .omit_zero = true},
    {.name = "size",
     .kind = VPS_JSON_UINT64,
     .offset = offsetof(struct thing, size),
     .min = 16,
     .max = 1000},
    {.name = "count",
     .kind = VPS_JSON_UINT32,
     .offset = offsetof(struct thing, count),
     .omit_zero = true},
    {.name = "tags",
     .kind = VPS_JSON_STRV,
     .offset = offsetof(struct thing, tags),
     .max = 3,
     .str_max = 8,
     .unique = true,
     .check = check_no_x,
     .omit_zero = true},
    {.name = "sub",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct thing, sub),
     .parse = parse_sub,
     .emit = emit_sub,
     .free = free_sub},
};

static void thing_done(struct thing *t)
{
    vps_json_free_fields(t, thing_fields, ELEMENTSOF(thing_fields));
}

/* Parses text (single quotes stand for double quotes, to keep the tests readable) into t,
 * which starts with size = 100 as its default. */
static int parse_thing(const char *squoted, struct thing *t, struct vps_error *err)
{
    cleanup_free char *text = strdup(squoted);
    cleanup_json json_t *j = NULL;
    json_error_t jerr;

    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(j != NULL, "test input '%s' is not JSON: %s", text, jerr.text);
    *t = (struct thing){.size = 100};
    return vps_json_parse_fields(j, thing_fields, ELEMENTSOF(thing_fields), t, "", err);
}

/* Expects the parse to fail with VPS_ERR_INVALID and frag in the message; frees t. */
static void expect_thing_invalid(const char *squoted, const char *frag)
{
    struct vps_error err = {0};
    struct thing t;

    ck_assert_msg(parse_thing(squoted, &t, &err) < 0, "'%s' was accepted", squoted);
    ck_assert_err(err, VPS_ERR_INVALID, frag);
    thing_done(&t);
}

START_TEST(json_walker_fills_struct)
{
    struct vps_error err = {0};
    struct thing t;

    ck_assert_int_eq(parse_thing("{'name': 'ab', 'flag': true, 'size': 1000, 'count': 4294967295,"
                                 " 'tags': ['a', 'b'], 'sub': {'inner': 'i'}}",
                                 &t, &err),
                     0);
    ck_assert_str_eq(t.name, "ab");
    ck_assert(t.flag);
    ck_assert_uint_eq(t.size, 1000);
    ck_assert_uint_eq(t.count, 4294967295u);
    ck_assert_uint_eq(t.tags.n, 2);
    ck_assert_str_eq(t.tags.v[1], "b");
    ck_assert_ptr_null(t.tags.v[2]);
    ck_assert_str_eq(t.sub.inner, "i");
    ck_assert_int_eq(err.code, VPS_ERR_NONE);
    thing_done(&t);
    ck_assert_ptr_null(t.name);
    ck_assert_uint_eq(t.tags.n, 0);
}
END_TEST

START_TEST(json_walker_keeps_defaults_for_absent_fields)
{
    struct vps_error err = {0};
    struct thing t;

    ck_assert_int_eq(parse_thing("{'name': 'ab'}", &t, &err), 0);
    ck_assert_uint_eq(t.size, 100);
    ck_assert(!t.flag);
    ck_assert_uint_eq(t.tags.n, 0);
    ck_assert_ptr_null(t.sub.inner);
    thing_done(&t);
}
END_TEST

START_TEST(json_walker_rejects_unknown_field_with_path)
{
    expect_thing_invalid("{'name': 'ab', 'nmae': 'ab'}", "nmae: unknown field");
    expect_thing_invalid("{'name': 'ab', 'sub': {'inner': 'i', 'outer': 1}}",
                         "sub.outer: unknown field");
}
END_TEST

START_TEST(json_walker_rejects_wrong_types)
{
    expect_thing_invalid("{'name': 12}", "name: expected a string, got an integer");
    expect_thing_invalid("{'name': null}", "name: expected a string, got null");
    expect_thing_invalid("{'name': 'ab', 'flag': 'true'}",
                         "flag: expected a boolean, got a string");
    expect_thing_invalid("{'name': 'ab', 'flag': 1}", "flag: expected a boolean, got an integer");
    expect_thing_invalid("{'name': 'ab', 'size': 20.0}", "size: expected an integer, got a number");
    expect_thing_invalid("{'name': 'ab', 'size': '20'}", "size: expected an integer, got a string");
    expect_thing_invalid("{'name': 'ab', 'count': true}",
                         "count: expected an integer, got a boolean");
    expect_thing_invalid("{'name': 'ab', 'tags': 'a'}", "tags: expected an array, got a string");
    expect_thing_invalid("{'name': 'ab', 'tags': {}}", "tags: expected an array, got an object");
    expect_thing_invalid("{'name': 'ab', 'tags': ['a', 7]}",
                         "tags[1]: expected a string, got an integer");
    expect_thing_invalid("{'name': 'ab', 'sub': 'x'}", "sub: expected an object, got a string");
    expect_thing_invalid("{'name': 'ab', 'sub': []}", "sub: expected an object, got an array");
}
END_TEST

START_TEST(json_walker_rejects_values_out_of_range)
{
    expect_thing_invalid("{'name': 'ab', 'size': 15}", "size: 15 is out of range 16..1000");
    expect_thing_invalid("{'name': 'ab', 'size': 1001}", "size: 1001 is out of range 16..1000");
    expect_thing_invalid("{'name': 'ab', 'size': -1}", "size: -1 is out of range");
    expect_thing_invalid("{'name': 'ab', 'count': 4294967296}",
                         "count: 4294967296 is out of range 0..4294967295");
    expect_thing_invalid("{'name': 'ab', 'count': -4294967296}", "count: -4294967296 is out of");
    expect_thing_invalid("{'name': 'a'}", "name: must not be shorter than 2 characters");
    expect_thing_invalid("{'name': '123456789'}", "name: longer than 8 characters");
    expect_thing_invalid("{'name': 'ab', 'tags': ['a', 'b', 'c', 'd']}",
                         "tags: expected 0..3 entries, got 4");
    expect_thing_invalid("{'name': 'ab', 'tags': ['']}", "tags[0]: must not be shorter than 1");
    expect_thing_invalid("{'name': 'ab', 'tags': ['a', '123456789']}",
                         "tags[1]: longer than 8 characters");
}
END_TEST

START_TEST(json_walker_accepts_range_bounds)
{
    struct vps_error err = {0};
    struct thing t;

    ck_assert_int_eq(
        parse_thing("{'name': '12345678', 'size': 16, 'tags': ['a','b','c']}", &t, &err), 0);
    ck_assert_uint_eq(t.size, 16);
    thing_done(&t);
}
END_TEST

START_TEST(json_walker_runs_check_on_strings_and_elements)
{
    expect_thing_invalid("{'name': 'axb'}", "name: 'x' is not allowed");
    expect_thing_invalid("{'name': 'ab', 'tags': ['a', 'xy']}", "tags[1]: 'x' is not allowed");
}
END_TEST

START_TEST(json_walker_rejects_duplicate_list_entries)
{
    expect_thing_invalid("{'name': 'ab', 'tags': ['a', 'b', 'a']}", "tags[2]: 'a' is listed twice");
}
END_TEST

START_TEST(json_walker_reports_missing_required_field)
{
    expect_thing_invalid("{}", "name: required field is missing");
    expect_thing_invalid("{'name': 'ab', 'sub': {}}", "sub.inner: required field is missing");
}
END_TEST

START_TEST(json_walker_truncates_long_paths_safely)
{
    /* Paths live in fixed buffers: a hostile 1000-byte key is cut, never overflows. */
    struct vps_error err = {0};
    struct thing t = {0};
    char key[1001];

    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    cleanup_json json_t *j = json_pack("{s:s, s:{s:i}}", "name", "ab", "sub", key, 1);
    ck_assert_int_eq(vps_json_parse_fields(j, thing_fields, ELEMENTSOF(thing_fields), &t, "", &err),
                     -1);
    ck_assert_err(err, VPS_ERR_INVALID, "sub.kkkk");
    ck_assert_uint_lt(strlen(err.msg), sizeof err.msg);
    thing_done(&t);
}
END_TEST

START_TEST(json_walker_rejects_non_object)
{
    struct vps_error err = {0};
    struct thing t = {0};
    cleanup_json json_t *a = json_array();

    ck_assert_int_eq(vps_json_parse_fields(a, thing_fields, ELEMENTSOF(thing_fields), &t, "", &err),
                     -1);
    ck_assert_err(err, VPS_ERR_INVALID, "body: expected an object, got an array");
}
END_TEST

START_TEST(json_walker_rejects_nul_inside_string)
{
    /* jansson refuses "\u0000" in text, but a json_t built in code can carry it. */
    struct vps_error err = {0};
    struct thing t = {0};
    cleanup_json json_t *j = json_pack("{s:s#}", "name", "a\0b", (size_t) 3);

    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(vps_json_parse_fields(j, thing_fields, ELEMENTSOF(thing_fields), &t, "", &err),
                     -1);
    ck_assert_err(err, VPS_ERR_INVALID, "name: string contains a NUL byte");
    thing_done(&t);
}
END_TEST

START_TEST(json_walker_failure_leaves_freeable_partial_struct)
{
    /* The walker stops at the first bad field; what it parsed before must be freeable. */
    expect_thing_invalid("{'name': 'ab', 'tags': ['a', 'b'], 'sub': {'inner': 'i'}, 'size': 1}",
                         "size: 1 is out of range");
    expect_thing_invalid("{'tags': ['a', 'b', 'b'], 'name': 'ab'}", "tags[2]: 'b' is listed");
    expect_thing_invalid("{'sub': {'inner': 'i'}, 'name': 'ab', 'zzz': 1}", "zzz: unknown field");
}
END_TEST

START_TEST(json_walker_replaces_value_given_twice)
{
    /* Parsing onto a struct that already holds values (defaults) must not leak them. */
    struct vps_error err = {0};
    struct thing t;

    ck_assert_int_eq(parse_thing("{'name': 'ab', 'tags': ['a']}", &t, &err), 0);
    cleanup_json json_t *j = json_pack("{s:s, s:[s, s]}", "name", "cd", "tags", "b", "c");
    ck_assert_int_eq(vps_json_parse_fields(j, thing_fields, ELEMENTSOF(thing_fields), &t, "", &err),
                     0);
    ck_assert_str_eq(t.name, "cd");
    ck_assert_uint_eq(t.tags.n, 2);
    ck_assert_str_eq(t.tags.v[0], "b");
    thing_done(&t);
}
END_TEST

START_TEST(json_emit_writes_fields_and_omits_defaults)
{
    struct vps_error err = {0};
    struct thing t;
    cleanup_json json_t *out = NULL, *want = NULL;

    ck_assert_int_eq(parse_thing("{'name': 'ab'}", &t, &err), 0);
    ck_assert_int_eq(vps_json_emit_fields(&t, thing_fields, ELEMENTSOF(thing_fields), &out, &err),
                     0);
    want = json_pack("{s:s, s:I}", "name", "ab", "size", (json_int_t) 100);
    ck_assert_msg(json_equal(out, want), "emitted %s", json_dumps(out, JSON_COMPACT));
    thing_done(&t);
}
END_TEST

START_TEST(json_emit_then_parse_round_trips)
{
    struct vps_error err = {0};
    struct thing t, u = {0};
    cleanup_json json_t *a = NULL, *b = NULL;

    ck_assert_int_eq(parse_thing("{'name': 'ab', 'flag': true, 'size': 999, 'count': 7,"
                                 " 'tags': ['a', 'b'], 'sub': {'inner': 'i'}}",
                                 &t, &err),
                     0);
    ck_assert_int_eq(vps_json_emit_fields(&t, thing_fields, ELEMENTSOF(thing_fields), &a, &err), 0);
    ck_assert_int_eq(vps_json_parse_fields(a, thing_fields, ELEMENTSOF(thing_fields), &u, "", &err),
                     0);
    ck_assert_int_eq(vps_json_emit_fields(&u, thing_fields, ELEMENTSOF(thing_fields), &b, &err), 0);
    ck_assert(json_equal(a, b));
    ck_assert_uint_eq(json_object_size(a), 6);
    thing_done(&t);
    thing_done(&u);
}
END_TEST

/* ---- vps_json_parse_text ---- */

/* A string literal and its length, embedded NUL bytes included. */
#define TEXT(s) (s), sizeof(s) - 1

static void expect_text_invalid(const char *text, size_t len, const char *frag)
{
    struct vps_error err = {0};
    json_t *j = (json_t *) 0x1; /* must stay untouched */

    ck_assert_int_eq(vps_json_parse_text(text, len, &j, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, frag);
    ck_assert_ptr_eq(j, (json_t *) 0x1);
}

START_TEST(json_text_accepts_object)
{
    struct vps_error err = {0};
    cleanup_json json_t *j = NULL;
    const char *text = "{\"a\": [1, {\"b\": \"\\u00e9\"}]}";

    ck_assert_int_eq(vps_json_parse_text(text, strlen(text), &j, &err), 0);
    ck_assert(json_is_object(j));
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "a"), 1), "b")),
        "\xc3\xa9");
}
END_TEST

START_TEST(json_text_parses_only_len_bytes)
{
    struct vps_error err = {0};
    cleanup_json json_t *j = NULL;

    ck_assert_int_eq(vps_json_parse_text("{}garbage", 2, &j, &err), 0);
    ck_assert_uint_eq(json_object_size(j), 0);
}
END_TEST

START_TEST(json_text_rejects_duplicate_keys)
{
    expect_text_invalid(TEXT("{\"a\": 1, \"a\": 2}"), "duplicate object key");
    expect_text_invalid(TEXT("{\"o\": {\"a\": 1, \"a\": 1}}"), "duplicate object key");
}
END_TEST

START_TEST(json_text_rejects_deep_nesting_before_parsing)
{
    size_t n = 10000;
    cleanup_free char *text = malloc(n);

    memset(text, '[', n);
    expect_text_invalid(text, n, "body: JSON nested deeper than 32 levels");
    memset(text, '{', n);
    expect_text_invalid(text, n, "nested deeper than 32 levels");
}
END_TEST

/* {"a":[[...]]} with depth levels in all (the object counts as one). */
static char *nested(size_t depth)
{
    char *s = malloc(2 * depth + 8), *p = s;

    p += sprintf(p, "{\"a\":");
    for (size_t i = 1; i < depth; i++)
        *p++ = '[';
    for (size_t i = 1; i < depth; i++)
        *p++ = ']';
    *p++ = '}';
    *p = '\0';
    return s;
}

START_TEST(json_text_accepts_depth_at_limit)
{
    struct vps_error err = {0};
    cleanup_json json_t *j = NULL;
    cleanup_free char *ok = nested(VPS_JSON_MAX_DEPTH), *deep = nested(VPS_JSON_MAX_DEPTH + 1);

    ck_assert_int_eq(vps_json_parse_text(ok, strlen(ok), &j, &err), 0);
    expect_text_invalid(deep, strlen(deep), "nested deeper than 32 levels");
}
END_TEST

START_TEST(json_text_ignores_brackets_inside_strings)
{
    struct vps_error err = {0};
    cleanup_json json_t *j = NULL;
    char text[200];

    /* 100 '[' in a string, and an escaped quote that must not end the string early. */
    int n = snprintf(text, sizeof text, "{\"a\": \"\\\"%.100s\"}",
                     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                     "[[[[[[[[[[[[[[[[[[[[[[[[");
    ck_assert_int_eq(vps_json_parse_text(text, (size_t) n, &j, &err), 0);
}
END_TEST

START_TEST(json_text_rejects_invalid_utf8)
{
    expect_text_invalid(TEXT("{\"a\": \"\xff\"}"), "invalid JSON");
    expect_text_invalid(TEXT("{\"a\": \"\xc0\xaf\"}"), "unable to decode byte 0xc0");
    expect_text_invalid(TEXT("{\"\xe9\": 1}"), "invalid JSON");
    expect_text_invalid(TEXT("{\"a\": \"\\ud800\"}"), "invalid Unicode");
}
END_TEST

START_TEST(json_text_rejects_truncated_json)
{
    expect_text_invalid(TEXT("{\"a\":"), "body: invalid JSON at line 1");
    expect_text_invalid(TEXT("{\"a\": \"abc"), "invalid JSON");
    expect_text_invalid(TEXT("{\"a\": [1, 2"), "invalid JSON");
    expect_text_invalid(TEXT("{"), "invalid JSON");
    expect_text_invalid(TEXT("{\"a\":\n\n"), "invalid JSON at line 3");
}
END_TEST

START_TEST(json_text_rejects_empty_body)
{
    expect_text_invalid(TEXT(""), "body: empty, expected a JSON object");
    expect_text_invalid(NULL, 0, "body: empty");
    expect_text_invalid(TEXT("  \n"), "invalid JSON");
}
END_TEST

START_TEST(json_text_rejects_top_level_non_object)
{
    expect_text_invalid(TEXT("[]"), "body: expected a JSON object, got an array");
    expect_text_invalid(TEXT("[{\"a\": 1}]"), "got an array");
    expect_text_invalid(TEXT("\"x\""), "body: expected a JSON object, got a string");
    expect_text_invalid(TEXT("42"), "body: expected a JSON object, got an integer");
    expect_text_invalid(TEXT("null"), "body: expected a JSON object, got null");
    expect_text_invalid(TEXT("true"), "body: expected a JSON object, got a boolean");
}
END_TEST

START_TEST(json_text_rejects_nul_bytes)
{
    expect_text_invalid(TEXT("{\"a\": \"x\\u0000y\"}"), "u0000 is not allowed");
    expect_text_invalid(TEXT("{\"a\": \"x\0y\"}"), "control character");
    expect_text_invalid(TEXT("{}\0"), "invalid JSON");
    expect_text_invalid(TEXT("{\"a\": 1}\0{"), "invalid JSON");
}
END_TEST

START_TEST(json_text_rejects_trailing_garbage)
{
    expect_text_invalid(TEXT("{} {}"), "invalid JSON");
    expect_text_invalid(TEXT("{}x"), "end of file expected");
}
END_TEST

/* ---- merge patch ---- */

/* RFC 7396 appendix A, plus nesting, in (target, patch, result) triples. */
static const char *const merge_cases[][3] = {
    {"{'a':'b'}", "{'a':'c'}", "{'a':'c'}"},
    {"{'a':'b'}", "{'b':'c'}", "{'a':'b','b':'c'}"},
    {"{'a':'b'}", "{'a':null}", "{}"},
    {"{'a':'b','b':'c'}", "{'a':null}", "{'b':'c'}"},
    {"{'a':['b']}", "{'a':'c'}", "{'a':'c'}"},
    {"{'a':'c'}", "{'a':['b']}", "{'a':['b']}"},
    {"{'a':{'b':'c'}}", "{'a':{'b':'d','c':null}}", "{'a':{'b':'d'}}"},
    {"{'a':[{'b':'c'}]}", "{'a':[1]}", "{'a':[1]}"},
    {"['a','b']", "['c','d']", "['c','d']"},
    {"{'a':'b'}", "['c']", "['c']"},
    {"{'a':'foo'}", "null", "null"},
    {"{'a':'foo'}", "'bar'", "'bar'"},
    {"{'e':null}", "{'a':1}", "{'e':null,'a':1}"},
    {"[1,2]", "{'a':'b','c':null}", "{'a':'b'}"},
    {"{}", "{'a':{'bb':{'ccc':null}}}", "{'a':{'bb':{}}}"},
    {"{'a':1}", "{'a':{'b':null}}", "{'a':{}}"},
    {"{'limits':{'ram_bytes':1,'pids':2}}", "{'limits':{'pids':null}}",
     "{'limits':{'ram_bytes':1}}"},
    {"{'missing':1}", "{'gone':null}", "{'missing':1}"},
};

static json_t *squoted_any(const char *squoted)
{
    cleanup_free char *text = strdup(squoted);
    json_error_t jerr;

    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    ck_assert_msg(j != NULL, "bad test JSON '%s': %s", text, jerr.text);
    return j;
}

START_TEST(json_merge_patch_follows_rfc7396)
{
    for (size_t i = 0; i < ELEMENTSOF(merge_cases); i++) {
        struct vps_error err = {0};
        cleanup_json json_t *target = squoted_any(merge_cases[i][0]);
        cleanup_json json_t *patch = squoted_any(merge_cases[i][1]);
        cleanup_json json_t *want = squoted_any(merge_cases[i][2]);
        cleanup_json json_t *before = json_deep_copy(target);
        cleanup_json json_t *out = NULL;

        ck_assert_int_eq(vps_json_merge_patch(target, patch, &out, &err), 0);
        cleanup_free char *got = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
        ck_assert_msg(json_equal(out, want), "case %zu: %s + %s gave %s", i, merge_cases[i][0],
                      merge_cases[i][1], got);
        /* The target is copied, never changed. */
        ck_assert_msg(json_equal(target, before), "case %zu changed its target", i);
    }
}
END_TEST

START_TEST(json_merge_patch_result_is_independent_of_inputs)
{
    struct vps_error err = {0};
    cleanup_json json_t *target = squoted_any("{'a':{'b':1},'k':[1]}");
    cleanup_json json_t *patch = squoted_any("{'c':{'d':2}}");
    cleanup_json json_t *out = NULL;

    ck_assert_int_eq(vps_json_merge_patch(target, patch, &out, &err), 0);
    json_object_set_new(json_object_get(out, "a"), "b", json_integer(9));
    json_object_set_new(json_object_get(out, "c"), "d", json_integer(9));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(target, "a"), "b")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(patch, "c"), "d")), 2);
}
END_TEST

/* ---- load and save ---- */

static char base_dir[256];

static void base_setup(void)
{
    make_base_dir(base_dir, sizeof base_dir, tmp_parent(), "json");
}

static void base_teardown(void)
{
    remove_tree(base_dir, FTW_PHYS);
}

static int test_dir(const char *name)
{
    return open_test_dir(base_dir, name, NULL, 0);
}

START_TEST(json_save_writes_sorted_indented_file_with_newline)
{
    struct vps_error err = {0};
    cleanup_close int dir = test_dir("save");
    cleanup_json json_t *j = json_pack("{s:i, s:{s:s}}", "z", 1, "a", "k", "v");
    cleanup_json json_t *back = NULL;
    cleanup_free char *text = NULL;
    struct stat st;

    ck_assert_int_eq(vps_json_save_at(dir, "config.json", j, &err), 0);
    ck_assert_int_eq(vps_read_at(dir, "config.json", 4096, &text, NULL, &err), 0);
    ck_assert_str_eq(text, "{\n  \"a\": {\n    \"k\": \"v\"\n  },\n  \"z\": 1\n}\n");
    ck_assert_int_eq(fstatat(dir, "config.json", &st, 0), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);

    ck_assert_int_eq(vps_json_load_at(dir, "config.json", 4096, &back, &err), 0);
    ck_assert(json_equal(j, back));
}
END_TEST

START_TEST(json_load_names_file_in_errors)
{
    struct vps_error err = {0};
    cleanup_close int dir = test_dir("load");
    json_t *j = NULL;

    ck_assert_int_ge(dir, 0);
    ck_assert_int_eq(vps_json_load_at(dir, "missing.json", 4096, &j, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "open 'missing.json'");
    ck_assert_int_eq(err.errnum, ENOENT);

    ck_assert_int_eq(vps_write_atomic_at(dir, "list.json", "[1]", 3, 0600, &err), 0);
    ck_assert_int_eq(vps_json_load_at(dir, "list.json", 4096, &j, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "'list.json': body: expected a JSON object, got an array");

    ck_assert_int_eq(vps_write_atomic_at(dir, "big.json", "{\"a\": 12345}", 12, 0600, &err), 0);
    ck_assert_int_eq(vps_json_load_at(dir, "big.json", 11, &j, &err), -1);
    ck_assert_err(err, VPS_ERR_TOO_LARGE, "'big.json': more than 11 bytes");
    ck_assert_ptr_null(j);
}
END_TEST

/* ---- small helpers ---- */

START_TEST(json_path_helpers_build_paths)
{
    char buf[VPS_JSON_PATH_MAX], small[8];

    vps_json_path_key(buf, sizeof buf, "", "services");
    ck_assert_str_eq(buf, "services");
    vps_json_path_index(buf, sizeof buf, "services", 1);
    ck_assert_str_eq(buf, "services[1]");
    vps_json_path_key(buf, sizeof buf, "services[1]", "listen");
    ck_assert_str_eq(buf, "services[1].listen");
    vps_json_path_key(small, sizeof small, "services[1]", "listen");
    ck_assert_str_eq(small, "service");
}
END_TEST

START_TEST(json_type_names_read_well)
{
    cleanup_json json_t *o = json_object(), *a = json_array(), *s = json_string("x"),
                        *i = json_integer(1), *r = json_real(1.5);

    ck_assert_str_eq(vps_json_type_name(o), "an object");
    ck_assert_str_eq(vps_json_type_name(a), "an array");
    ck_assert_str_eq(vps_json_type_name(s), "a string");
    ck_assert_str_eq(vps_json_type_name(i), "an integer");
    ck_assert_str_eq(vps_json_type_name(r), "a number");
    ck_assert_str_eq(vps_json_type_name(json_true()), "a boolean");
    ck_assert_str_eq(vps_json_type_name(json_false()), "a boolean");
    ck_assert_str_eq(vps_json_type_name(json_null()), "null");
}
END_TEST

START_TEST(json_strv_helpers_work)
{
    struct vps_error err = {0};
    struct vps_json_field f = {.kind = VPS_JSON_STRV, .max = 4, .str_max = 16};
    struct vps_strv sv = {0};
    cleanup_json json_t *in = json_pack("[s, s]", "one", "two"), *out = NULL;

    ck_assert_int_eq(vps_json_parse_strv(in, &f, &sv, "list", &err), 0);
    ck_assert(vps_strv_contains(&sv, "two"));
    ck_assert(!vps_strv_contains(&sv, "three"));
    out = vps_strv_to_json(&sv);
    ck_assert(json_equal(in, out));
    vps_strv_free(&sv);
    ck_assert_ptr_null(sv.v);
    ck_assert_uint_eq(sv.n, 0);
    vps_strv_free(&sv); /* freeing twice is harmless */
    ck_assert(!vps_strv_contains(&sv, "one"));
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *walker = tcase_create("walker");
    TCase *text = tcase_create("text");
    TCase *merge = tcase_create("merge");
    TCase *files = tcase_create("files");

    tcase_add_test(walker, json_walker_fills_struct);
    tcase_add_test(walker, json_walker_keeps_defaults_for_absent_fields);
    tcase_add_test(walker, json_walker_rejects_unknown_field_with_path);
    tcase_add_test(walker, json_walker_rejects_wrong_types);
    tcase_add_test(walker, json_walker_rejects_values_out_of_range);
    tcase_add_test(walker, json_walker_accepts_range_bounds);
    tcase_add_test(walker, json_walker_runs_check_on_strings_and_elements);
    tcase_add_test(walker, json_walker_rejects_duplicate_list_entries);
    tcase_add_test(walker, json_walker_reports_missing_required_field);
    tcase_add_test(walker, json_walker_truncates_long_paths_safely);
    tcase_add_test(walker, json_walker_rejects_non_object);
    tcase_add_test(walker, json_walker_rejects_nul_inside_string);
    tcase_add_test(walker, json_walker_failure_leaves_freeable_partial_struct);
    tcase_add_test(walker, json_walker_replaces_value_given_twice);
    tcase_add_test(walker, json_emit_writes_fields_and_omits_defaults);
    tcase_add_test(walker, json_emit_then_parse_round_trips);
    tcase_add_test(walker, json_path_helpers_build_paths);
    tcase_add_test(walker, json_type_names_read_well);
    tcase_add_test(walker, json_strv_helpers_work);
    suite_add_tcase(s, walker);

    tcase_add_test(text, json_text_accepts_object);
    tcase_add_test(text, json_text_parses_only_len_bytes);
    tcase_add_test(text, json_text_rejects_duplicate_keys);
    tcase_add_test(text, json_text_rejects_deep_nesting_before_parsing);
    tcase_add_test(text, json_text_accepts_depth_at_limit);
    tcase_add_test(text, json_text_ignores_brackets_inside_strings);
    tcase_add_test(text, json_text_rejects_invalid_utf8);
    tcase_add_test(text, json_text_rejects_truncated_json);
    tcase_add_test(text, json_text_rejects_empty_body);
    tcase_add_test(text, json_text_rejects_top_level_non_object);
    tcase_add_test(text, json_text_rejects_nul_bytes);
    tcase_add_test(text, json_text_rejects_trailing_garbage);
    suite_add_tcase(s, text);

    tcase_add_test(merge, json_merge_patch_follows_rfc7396);
    tcase_add_test(merge, json_merge_patch_result_is_independent_of_inputs);
    suite_add_tcase(s, merge);

    tcase_add_unchecked_fixture(files, base_setup, base_teardown);
    tcase_add_test(files, json_save_writes_sorted_indented_file_with_newline);
    tcase_add_test(files, json_load_names_file_in_errors);
    suite_add_tcase(s, files);
    return s;
}

int main(void)
{
    return run_suite(json_suite(), CK_FORK_GETENV);
}
