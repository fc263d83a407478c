/* Unit tests for idmap.c: picking the lowest free id range around VPS dirs, creates in
 * progress and /etc/subuid-style files, refusing to guess past an unreadable record, the
 * idmap.json round trip, and writing the maps of a real user namespace (as root only). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "vps/fd.h"
#include "vps/idmap.h"

#include "test-helpers.h"

#define SLOT(k) (VPS_IDMAP_FIRST + (k) *VPS_IDMAP_SIZE)

/* One private directory per test case, made in the parent (unchecked fixture) so that it is
 * removed even when a forked test fails halfway. Each test works in its own subdirectory. */
static char base_dir[256];

static void base_setup(void)
{
    make_base_dir(base_dir, sizeof base_dir, tmp_parent(), "idmap");
}

static void base_teardown(void)
{
    remove_tree(base_dir, FTW_PHYS);
}

/* A fresh, empty directory for the calling test, opened; its path in path if non-NULL. */
static int test_dir(const char *name, char *path, size_t size)
{
    return open_test_dir(base_dir, name, path, size);
}

static void put_file_len(int dir_fd, const char *name, const char *content, size_t len)
{
    write_file_at(dir_fd, name, content, len, 0600);
}

static void put_file(int dir_fd, const char *name, const char *content)
{
    put_file_len(dir_fd, name, content, strlen(content));
}

/* state/<name>/ with an idmap.json holding json, or none when json is NULL. */
static void put_vps(int state_fd, const char *name, const char *json)
{
    ck_assert_int_eq(mkdirat(state_fd, name, 0700), 0);
    cleanup_close int fd = openat(state_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    if (json)
        put_file(fd, VPS_IDMAP_FILE, json);
}

static void put_vps_at(int state_fd, const char *name, uint32_t base)
{
    char json[96];

    snprintf(json, sizeof json, "{\"host_base\": %" PRIu32 ", \"size\": %u}", base, VPS_IDMAP_SIZE);
    put_vps(state_fd, name, json);
}

/* Allocates with no subuid/subgid files and returns the base; fails the test on error. */
static uint32_t allocate(int state_fd)
{
    struct vps_error err = {0};
    struct vps_idmap m = {0};

    ck_assert_msg(vps_idmap_allocate_with(state_fd, NULL, NULL, &m, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(m.size, VPS_IDMAP_SIZE);
    return m.host_base;
}

/* ---- allocation around the state dir ---- */

START_TEST(idmap_allocate_in_empty_state_dir_gives_first)
{
    cleanup_close int state = test_dir("empty", NULL, 0);

    ck_assert_uint_eq(allocate(state), VPS_IDMAP_FIRST);
}
END_TEST

START_TEST(idmap_allocate_gives_lowest_gap)
{
    cleanup_close int state = test_dir("gap", NULL, 0);

    put_vps_at(state, "web1", SLOT(0));
    put_vps_at(state, "web3", SLOT(2));
    ck_assert_uint_eq(allocate(state), SLOT(1));
    put_vps_at(state, "web2", SLOT(1));
    ck_assert_uint_eq(allocate(state), SLOT(3));
}
END_TEST

START_TEST(idmap_allocate_counts_creates_and_destroys_in_progress)
{
    cleanup_close int state = test_dir("in-progress", NULL, 0);

    put_vps_at(state, ".web1.new", SLOT(0));
    ck_assert_uint_eq(allocate(state), SLOT(1));
    put_vps_at(state, ".101.deleting", SLOT(1));
    ck_assert_uint_eq(allocate(state), SLOT(2));
}
END_TEST

START_TEST(idmap_allocate_ignores_what_is_not_a_vps_dir)
{
    cleanup_close int state = test_dir("others", NULL, 0);

    put_vps(state, "web1", NULL); /* a VPS made before id mapping */
    put_vps_at(state, "Not-A-Name", SLOT(0));
    put_vps_at(state, ".web2.tmp", SLOT(0));
    put_vps_at(state, "..new", SLOT(0));
    put_file(state, "web3", "not a dir");
    put_vps_at(state, "real", SLOT(2));
    ck_assert_int_eq(symlinkat("real", state, "web4"), 0);
    put_file(state, ".lock", "");
    ck_assert_uint_eq(allocate(state), SLOT(0));
}
END_TEST

START_TEST(idmap_allocate_skips_unaligned_ranges_whole)
{
    cleanup_close int state = test_dir("unaligned", NULL, 0);
    char json[96];

    /* Records are not checked for alignment, so a hand-made one may straddle two slots. */
    snprintf(json, sizeof json, "{\"host_base\": %u, \"size\": %u}", SLOT(0) + 1, VPS_IDMAP_SIZE);
    put_vps(state, "web1", json);
    ck_assert_uint_eq(allocate(state), SLOT(2));
}
END_TEST

START_TEST(idmap_allocate_refuses_malformed_record)
{
    static const struct {
        const char *json, *frag;
    } cases[] = {
        {"{\"host_base\": \"1000000\", \"size\": 65536}", "host_base: expected an integer"},
        {"{\"host_base\": 1000000, \"size\": 65536, \"x\": 1}", "x: unknown field"},
        {"{\"host_base\": 1000000}", "size: required field is missing"},
        {"{\"host_base\": 1000000, \"size\": 1}", "size: 1 is out of range"},
        {"{\"host_base\": 0, \"size\": 65536}", "host_base: 0 is out of range"},
        {"{\"host_base\": 4294967295, \"size\": 65536}", "host_base: 4294967295 is out of range"},
        {"{\"host_base\": 1000000, ", "invalid JSON"},
        {"[]", "expected a JSON object"},
    };
    char name[32];
    cleanup_close int state = test_dir("malformed", NULL, 0);

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct vps_error err = {0};
        struct vps_idmap m = {.host_base = 7};

        snprintf(name, sizeof name, "bad%zu", i);
        put_vps(state, name, cases[i].json);
        ck_assert_int_eq(vps_idmap_allocate_with(state, NULL, NULL, &m, &err), -1);
        ck_assert_err(err, VPS_ERR_INVALID, cases[i].frag);
        snprintf(name, sizeof name, "allocate id range: 'bad%zu': 'idmap.json': ", i);
        ck_assert_err(err, VPS_ERR_INVALID, name);
        ck_assert_uint_eq(m.host_base, 7); /* untouched on failure */
        /* Leave the dir without a record, so the next case fails on its own file only. */
        snprintf(name, sizeof name, "bad%zu/%s", i, VPS_IDMAP_FILE);
        ck_assert_int_eq(unlinkat(state, name, 0), 0);
    }
}
END_TEST

START_TEST(idmap_allocate_refuses_unreadable_record)
{
    struct vps_error err = {0};
    struct vps_idmap m;
    cleanup_close int state = test_dir("unreadable", NULL, 0);

    /* A directory where the file should be: open() works, read() fails with EISDIR. */
    put_vps(state, "web1", NULL);
    ck_assert_int_eq(mkdirat(state, "web1/" VPS_IDMAP_FILE, 0700), 0);
    ck_assert_int_eq(vps_idmap_allocate_with(state, NULL, NULL, &m, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "'web1': 'idmap.json'");
    ck_assert_int_eq(err.errnum, EISDIR);
}
END_TEST

START_TEST(idmap_allocate_refuses_oversized_record)
{
    struct vps_error err = {0};
    struct vps_idmap m;
    char big[VPS_IDMAP_MAX_BYTES + 64];
    cleanup_close int state = test_dir("oversized", NULL, 0);

    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "{\"host_base\": 1000000, \"size\": 65536}", 37);
    put_vps(state, "web1", big);
    ck_assert_int_eq(vps_idmap_allocate_with(state, NULL, NULL, &m, &err), -1);
    ck_assert_err(err, VPS_ERR_TOO_LARGE, "'web1': 'idmap.json'");
}
END_TEST

/* ---- /etc/subuid and /etc/subgid ---- */

START_TEST(idmap_allocate_avoids_subuid_and_subgid_ranges)
{
    struct vps_error err = {0};
    struct vps_idmap m;
    char dir[512], subuid[600], subgid[600];
    cleanup_close int files = test_dir("subid", dir, sizeof dir);
    cleanup_close int state = test_dir("subid-state", NULL, 0);

    snprintf(subuid, sizeof subuid, "%s/subuid", dir);
    snprintf(subgid, sizeof subgid, "%s/subgid", dir);
    put_file(files, "subuid", "alice:1000000:65536\n");
    put_file(files, "subgid", "bob:1065600:1"); /* no final newline; inside slot 1 */
    ck_assert_int_eq(vps_idmap_allocate_with(state, subuid, subgid, &m, &err), 0);
    ck_assert_uint_eq(m.host_base, SLOT(2));
    put_vps_at(state, "web1", SLOT(2));
    ck_assert_int_eq(vps_idmap_allocate_with(state, subuid, subgid, &m, &err), 0);
    ck_assert_uint_eq(m.host_base, SLOT(3));
}
END_TEST

START_TEST(idmap_allocate_ignores_malformed_subid_lines)
{
    struct vps_error err = {0};
    struct vps_idmap m;
    char dir[512], subuid[600];
    cleanup_close int files = test_dir("subid-bad", dir, sizeof dir);
    cleanup_close int state = test_dir("subid-bad-state", NULL, 0);

    static const char text[] = "\n"
                               ":1000000:5\n"
                               "a:1000000\n"
                               "b:1000000:0\n"
                               "c:-1000000:5\n"
                               "d:+1000000:5\n"
                               "e: 1000000:5\n"
                               "f:1000000:5 \n"
                               "g:1000000:5:x\n"
                               "h:1000000:\n"
                               "i::5\n"
                               "j:4294967296:5\n"
                               "k:1000000:4294967297\n"
                               "l:99999999999999999999999:5\n"
                               "m:1000000:5\r\n"
                               "n:1000000:5\0ignored\n"
                               "ok:1065536:65536\n";

    snprintf(subuid, sizeof subuid, "%s/subuid", dir);
    put_file_len(files, "subuid", text, sizeof text - 1);
    ck_assert_int_eq(vps_idmap_allocate_with(state, subuid, NULL, &m, &err), 0);
    ck_assert_uint_eq(m.host_base, SLOT(0));

    /* The one good line counts: the first slot is free, the second is not. */
    put_vps_at(state, "web1", SLOT(0));
    ck_assert_int_eq(vps_idmap_allocate_with(state, subuid, NULL, &m, &err), 0);
    ck_assert_uint_eq(m.host_base, SLOT(2));
}
END_TEST

START_TEST(idmap_allocate_treats_missing_subid_file_as_empty)
{
    struct vps_error err = {0};
    struct vps_idmap m;
    char dir[512], missing[600];
    cleanup_close int files = test_dir("subid-missing", dir, sizeof dir);
    cleanup_close int state = test_dir("subid-missing-state", NULL, 0);

    snprintf(missing, sizeof missing, "%s/nonexistent", dir);
    ck_assert_int_eq(vps_idmap_allocate_with(state, missing, missing, &m, &err), 0);
    ck_assert_uint_eq(m.host_base, SLOT(0));
}
END_TEST

START_TEST(idmap_allocate_reports_unreadable_subid_file)
{
    struct vps_error err = {0};
    struct vps_idmap m;
    char dir[512];
    cleanup_close int files = test_dir("subid-dir", dir, sizeof dir);
    cleanup_close int state = test_dir("subid-dir-state", NULL, 0);

    ck_assert_int_eq(vps_idmap_allocate_with(state, dir, NULL, &m, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "allocate id range: '");
    ck_assert_int_eq(err.errnum, EISDIR);
}
END_TEST

START_TEST(idmap_allocate_uses_last_slot_then_reports_full)
{
    struct vps_error err = {0};
    struct vps_idmap m;
    char dir[512], subuid[600], line[64];
    cleanup_close int files = test_dir("full", dir, sizeof dir);
    cleanup_close int state = test_dir("full-state", NULL, 0);
    uint64_t last = VPS_IDMAP_FIRST + (VPS_IDMAP_LIMIT - VPS_IDMAP_FIRST - VPS_IDMAP_SIZE) /
                                          VPS_IDMAP_SIZE * VPS_IDMAP_SIZE;

    ck_assert_uint_le(last + VPS_IDMAP_SIZE, VPS_IDMAP_LIMIT);
    ck_assert_uint_gt(last + 2 * VPS_IDMAP_SIZE, VPS_IDMAP_LIMIT);
    snprintf(subuid, sizeof subuid, "%s/subuid", dir);
    snprintf(line, sizeof line, "all:%u:%" PRIu64 "\n", VPS_IDMAP_FIRST, last - VPS_IDMAP_FIRST);
    put_file(files, "subuid", line);
    ck_assert_int_eq(vps_idmap_allocate_with(state, subuid, NULL, &m, &err), 0);
    ck_assert_uint_eq(m.host_base, last);

    put_vps_at(state, "web1", (uint32_t) last);
    ck_assert_int_eq(vps_idmap_allocate_with(state, subuid, NULL, &m, &err), -1);
    ck_assert_err(err, VPS_ERR_CONFLICT, "allocate id range: no free id range");
}
END_TEST

/* ---- idmap.json ---- */

START_TEST(idmap_save_load_round_trip)
{
    struct vps_error err = {0};
    struct vps_idmap in = {.host_base = SLOT(5), .size = VPS_IDMAP_SIZE}, out = {0};
    cleanup_free char *text = NULL;
    cleanup_close int dir = test_dir("round-trip", NULL, 0);
    struct stat st;

    ck_assert_int_eq(vps_idmap_save(dir, &in, &err), 0);
    ck_assert_int_eq(vps_idmap_load(dir, &out, &err), 0);
    ck_assert_uint_eq(out.host_base, in.host_base);
    ck_assert_uint_eq(out.size, in.size);
    ck_assert_int_eq(fstatat(dir, VPS_IDMAP_FILE, &st, 0), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(vps_read_at(dir, VPS_IDMAP_FILE, 4096, &text, NULL, &err), 0);
    ck_assert_str_eq(text, "{\n  \"host_base\": 1327680,\n  \"size\": 65536\n}\n");
}
END_TEST

START_TEST(idmap_save_refuses_invalid_map_and_writes_nothing)
{
    static const struct vps_idmap bad[] = {
        {.host_base = 0, .size = VPS_IDMAP_SIZE},
        {.host_base = VPS_IDMAP_FIRST - 1, .size = VPS_IDMAP_SIZE},
        {.host_base = VPS_IDMAP_FIRST, .size = 0},
        {.host_base = (uint32_t) (VPS_IDMAP_LIMIT - VPS_IDMAP_SIZE + 1), .size = VPS_IDMAP_SIZE},
    };
    cleanup_close int dir = test_dir("save-invalid", NULL, 0);
    struct stat st;

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct vps_error err = {0};
        ck_assert_int_eq(vps_idmap_save(dir, &bad[i], &err), -1);
        ck_assert_err(err, VPS_ERR_INVALID, "save 'idmap.json': id range");
    }
    ck_assert_int_eq(fstatat(dir, VPS_IDMAP_FILE, &st, 0), -1);
}
END_TEST

START_TEST(idmap_load_missing_file_keeps_enoent)
{
    struct vps_error err = {0};
    struct vps_idmap m = {.host_base = 7};
    cleanup_close int dir = test_dir("load-missing", NULL, 0);

    ck_assert_int_eq(vps_idmap_load(dir, &m, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "open 'idmap.json'");
    ck_assert_int_eq(err.errnum, ENOENT);
    ck_assert_uint_eq(m.host_base, 7);
}
END_TEST

/* ---- writing the maps (root only) ---- */

struct child_pipes {
    int go[2];     /* parent -> child: maps are written */
    int report[2]; /* child -> parent: its uid_map and gid_map */
};

static void copy_file(const char *path, int out)
{
    char buf[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;

    if (n > 0)
        (void) !write(out, buf, (size_t) n);
    if (fd >= 0)
        close(fd);
}

static void child_report_maps(struct child_pipes *p)
{
    char c;

    close(p->go[1]);
    close(p->report[0]);
    if (read(p->go[0], &c, 1) != 1)
        _exit(1);
    copy_file("/proc/self/uid_map", p->report[1]);
    copy_file("/proc/self/gid_map", p->report[1]);
    _exit(0);
}

/* A child in a new user namespace, blocked until a byte arrives on p->go. The raw clone runs
 * the child on a copy of this stack like fork(), which the sanitizers follow without a
 * complaint about a foreign stack. */
static pid_t spawn_userns_child(struct child_pipes *p)
{
    ck_assert_int_eq(pipe2(p->go, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(p->report, O_CLOEXEC), 0);
    pid_t pid = (pid_t) syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        child_report_maps(p);
    close(p->go[0]);
    close(p->report[1]);
    return pid;
}

static void finish_child(struct child_pipes *p, pid_t pid, char *report, size_t size)
{
    size_t len = 0;
    ssize_t n;
    int status;

    ck_assert_int_eq(write(p->go[1], "x", 1), 1);
    close(p->go[1]);
    while (len + 1 < size && (n = read(p->report[0], report + len, size - 1 - len)) > 0)
        len += (size_t) n;
    report[len] = '\0';
    close(p->report[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

START_TEST(idmap_write_maps_child_user_namespace)
{
    struct vps_error err = {0};
    struct vps_idmap m = {.host_base = SLOT(3), .size = VPS_IDMAP_SIZE};
    struct child_pipes p;
    char report[512];
    unsigned v[6];

    if (geteuid() != 0) {
        fprintf(stderr, "idmap_write_maps_child_user_namespace: skipped, needs root\n");
        return;
    }
    pid_t pid = spawn_userns_child(&p);
    int r = vps_idmap_write(pid, &m, &err);
    /* A second write is refused by the kernel: the maps are set once per namespace. */
    struct vps_error again = {0};
    int r2 = vps_idmap_write(pid, &m, &again);
    finish_child(&p, pid, report, sizeof report);

    ck_assert_msg(r == 0, "%s", err.msg);
    ck_assert_int_eq(sscanf(report, "%u %u %u %u %u %u", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]),
                     6);
    for (size_t i = 0; i < 6; i += 3) {
        ck_assert_uint_eq(v[i], 0);
        ck_assert_uint_eq(v[i + 1], SLOT(3));
        ck_assert_uint_eq(v[i + 2], VPS_IDMAP_SIZE);
    }
    ck_assert_int_eq(r2, -1);
    ck_assert_err(again, VPS_ERR_SYSTEM, "write id maps of pid");
    ck_assert_err(again, VPS_ERR_SYSTEM, "to 'uid_map'");
    ck_assert_int_eq(again.errnum, EPERM);
}
END_TEST

START_TEST(idmap_write_refuses_bad_pid_and_map)
{
    struct vps_error err = {0};
    struct vps_idmap m = {.host_base = SLOT(0), .size = VPS_IDMAP_SIZE};
    struct vps_idmap bad = {.host_base = 0, .size = VPS_IDMAP_SIZE};

    ck_assert_int_eq(vps_idmap_write(0, &m, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "bad pid 0");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_idmap_write(getpid(), &bad, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "id range 0+65536");
    err = (struct vps_error){0};
    /* Above the kernel's pid_max limit (2^22), so no such process. */
    ck_assert_int_eq(vps_idmap_write(1 << 23, &m, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "open '/proc/8388608'");
    ck_assert_int_eq(err.errnum, ENOENT);
}
END_TEST

static Suite *idmap_suite(void)
{
    Suite *s = suite_create("idmap");
    TCase *alloc = tcase_create("allocate");
    TCase *subid = tcase_create("subid");
    TCase *file = tcase_create("file");
    TCase *wr = tcase_create("write");

    tcase_add_unchecked_fixture(alloc, base_setup, base_teardown);
    tcase_add_test(alloc, idmap_allocate_in_empty_state_dir_gives_first);
    tcase_add_test(alloc, idmap_allocate_gives_lowest_gap);
    tcase_add_test(alloc, idmap_allocate_counts_creates_and_destroys_in_progress);
    tcase_add_test(alloc, idmap_allocate_ignores_what_is_not_a_vps_dir);
    tcase_add_test(alloc, idmap_allocate_skips_unaligned_ranges_whole);
    tcase_add_test(alloc, idmap_allocate_refuses_malformed_record);
    tcase_add_test(alloc, idmap_allocate_refuses_unreadable_record);
    tcase_add_test(alloc, idmap_allocate_refuses_oversized_record);
    suite_add_tcase(s, alloc);

    tcase_add_unchecked_fixture(subid, base_setup, base_teardown);
    tcase_add_test(subid, idmap_allocate_avoids_subuid_and_subgid_ranges);
    tcase_add_test(subid, idmap_allocate_ignores_malformed_subid_lines);
    tcase_add_test(subid, idmap_allocate_treats_missing_subid_file_as_empty);
    tcase_add_test(subid, idmap_allocate_reports_unreadable_subid_file);
    tcase_add_test(subid, idmap_allocate_uses_last_slot_then_reports_full);
    suite_add_tcase(s, subid);

    tcase_add_unchecked_fixture(file, base_setup, base_teardown);
    tcase_add_test(file, idmap_save_load_round_trip);
    tcase_add_test(file, idmap_save_refuses_invalid_map_and_writes_nothing);
    tcase_add_test(file, idmap_load_missing_file_keeps_enoent);
    suite_add_tcase(s, file);

    tcase_add_test(wr, idmap_write_maps_child_user_namespace);
    tcase_add_test(wr, idmap_write_refuses_bad_pid_and_map);
    suite_add_tcase(s, wr);
    return s;
}

int main(void)
{
    return run_suite(idmap_suite(), CK_FORK_GETENV);
}
