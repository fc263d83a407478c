/* Unit tests for caps.c: the bounding set keeps exactly the listed capabilities of a VPS root,
 * the permitted/effective/inheritable/ambient sets follow root or non-root, no_new_privs sticks.
 * Every test changes the capabilities of its process, so each runs in a forked child (CK_FORK
 * is forced in main()). Without root, a child first enters a fresh user namespace, where it
 * holds every capability of that namespace. */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vps/caps.h"

#include "test-helpers.h"

/* The contract of caps.c, restated: changing that list must change this one too. */
static const cap_value_t expected_kept[] = {
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_FSETID,
    CAP_KILL,
    CAP_SETGID,
    CAP_SETUID,
    CAP_SETPCAP,
    CAP_NET_BIND_SERVICE,
    CAP_NET_BROADCAST,
    CAP_NET_ADMIN,
    CAP_NET_RAW,
    CAP_IPC_LOCK,
    CAP_IPC_OWNER,
    CAP_SYS_CHROOT,
    CAP_SYS_PTRACE,
    CAP_SYS_ADMIN,
    CAP_SYS_BOOT,
    CAP_SYS_NICE,
    CAP_SYS_RESOURCE,
    CAP_SYS_TTY_CONFIG,
    CAP_MKNOD,
    CAP_LEASE,
    CAP_AUDIT_WRITE,
    CAP_SETFCAP,
    CAP_CHECKPOINT_RESTORE,
};

/* No check assertions here: it also runs in main()'s probe, outside any test. */
static bool has_effective(cap_value_t cap)
{
    cap_t caps = cap_get_proc();
    cap_flag_value_t v = CAP_CLEAR;

    if (!caps)
        return false;
    if (cap_get_flag(caps, cap, CAP_EFFECTIVE, &v) < 0)
        v = CAP_CLEAR;
    cap_free(caps);
    return v == CAP_SET;
}

/* Full capabilities for the calling test child: as they are for root, or those of a fresh user
 * namespace otherwise (the kernel gives its creator every capability in it). */
static bool gain_caps(void)
{
    if (has_effective(CAP_SETPCAP) && has_effective(CAP_SYS_ADMIN))
        return true;
    return unshare(CLONE_NEWUSER) == 0;
}

static void enter_privileged(void)
{
    ck_assert_msg(gain_caps(), "cannot gain capabilities: %s", strerror(errno));
}

static int bounding(cap_value_t cap)
{
    return prctl(PR_CAPBSET_READ, (unsigned long) cap, 0L, 0L, 0L);
}

/* The hex mask of a "CapXxx:" line of /proc/self/status. */
static uint64_t status_mask(const char *field)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    size_t len = strlen(field);
    uint64_t mask = UINT64_MAX;

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            mask = strtoull(line + len + 1, NULL, 16);
    fclose(f);
    ck_assert_msg(mask != UINT64_MAX, "no '%s' in /proc/self/status", field);
    return mask;
}

/* Drops cap from the effective set, and with permitted also from permitted (the kernel refuses
 * an effective cap that is not permitted). */
static void clear_cap(cap_value_t cap, bool permitted)
{
    cap_t caps = cap_get_proc();

    ck_assert_ptr_nonnull(caps);
    ck_assert_int_eq(cap_set_flag(caps, CAP_EFFECTIVE, 1, &cap, CAP_CLEAR), 0);
    if (permitted)
        ck_assert_int_eq(cap_set_flag(caps, CAP_PERMITTED, 1, &cap, CAP_CLEAR), 0);
    ck_assert_int_eq(cap_set_proc(caps), 0);
    cap_free(caps);
}

START_TEST(caps_drop_bounding_removes_host_powers)
{
    static const cap_value_t dropped[] = {
        CAP_SYS_MODULE, CAP_SYS_TIME, CAP_SYS_RAWIO, CAP_SYSLOG,          CAP_MAC_ADMIN,
        CAP_BPF,        CAP_PERFMON,  CAP_SYS_PACCT, CAP_LINUX_IMMUTABLE, CAP_AUDIT_CONTROL,
    };
    struct vps_error err = {0};

    enter_privileged();
    ck_assert_int_eq(vps_caps_drop_bounding(&err), 0);
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
        ck_assert_msg(bounding(dropped[i]) == 0, "cap %d still bounded", dropped[i]);
}
END_TEST

START_TEST(caps_drop_bounding_keeps_what_a_vps_root_needs)
{
    static const cap_value_t needed[] = {CAP_CHOWN,     CAP_SYS_ADMIN, CAP_SETPCAP,
                                         CAP_NET_ADMIN, CAP_SYS_BOOT,  CAP_SETUID};
    struct vps_error err = {0};

    enter_privileged();
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        ck_assert_int_eq(bounding(needed[i]), 1);
    ck_assert_int_eq(vps_caps_drop_bounding(&err), 0);
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        ck_assert_msg(bounding(needed[i]) == 1, "cap %d dropped", needed[i]);
}
END_TEST

static bool expected(cap_value_t cap)
{
    for (size_t i = 0; i < sizeof expected_kept / sizeof expected_kept[0]; i++)
        if (expected_kept[i] == cap)
            return true;
    return false;
}

START_TEST(caps_drop_bounding_drops_every_cap_not_listed)
{
    struct vps_error err = {0};
    cap_value_t cap;

    enter_privileged();
    ck_assert_int_eq(vps_caps_drop_bounding(&err), 0);
    /* Up to the kernel's last capability, whatever libcap's headers know. */
    for (cap = 0; bounding(cap) >= 0; cap++)
        ck_assert_msg(bounding(cap) == 0 || expected(cap), "unlisted cap %d kept", cap);
    ck_assert_int_gt(cap, CAP_SETFCAP);
}
END_TEST

START_TEST(caps_drop_bounding_twice_succeeds)
{
    struct vps_error err = {0};

    enter_privileged();
    ck_assert_int_eq(vps_caps_drop_bounding(&err), 0);
    ck_assert_int_eq(vps_caps_drop_bounding(&err), 0);
    ck_assert_int_eq(bounding(CAP_SYS_MODULE), 0);
}
END_TEST

START_TEST(caps_drop_bounding_without_setpcap_names_the_cap)
{
    struct vps_error err = {0};

    enter_privileged();
    clear_cap(CAP_SETPCAP, false);
    ck_assert_int_eq(vps_caps_drop_bounding(&err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "from the bounding set");
    ck_assert_int_eq(err.errnum, EPERM);
    ck_assert_msg(strstr(err.msg, "'cap_"), "no cap name in '%s'", err.msg);
}
END_TEST

START_TEST(caps_set_for_non_root_clears_every_set)
{
    struct vps_error err = {0};

    enter_privileged();
    ck_assert_int_eq(vps_caps_set_for(false, &err), 0);
    ck_assert_uint_eq(status_mask("CapEff"), 0);
    ck_assert_uint_eq(status_mask("CapPrm"), 0);
    ck_assert_uint_eq(status_mask("CapInh"), 0);
    ck_assert_uint_eq(status_mask("CapAmb"), 0);
}
END_TEST

START_TEST(caps_set_for_root_matches_the_reduced_bounding_set)
{
    struct vps_error err = {0};

    enter_privileged();
    ck_assert_int_eq(vps_caps_drop_bounding(&err), 0);
    ck_assert_int_eq(vps_caps_set_for(true, &err), 0);
    uint64_t bnd = status_mask("CapBnd");
    ck_assert_uint_eq(status_mask("CapEff"), bnd);
    ck_assert_uint_eq(status_mask("CapPrm"), bnd);
    ck_assert_uint_eq(status_mask("CapInh"), bnd);
    ck_assert_uint_eq(status_mask("CapAmb"), 0);
    ck_assert(has_effective(CAP_SYS_ADMIN));
}
END_TEST

START_TEST(caps_set_for_root_never_grants_unlisted_caps)
{
    struct vps_error err = {0};

    /* Even without the bounding step first, root gets the kept list and nothing more. */
    enter_privileged();
    ck_assert_int_eq(vps_caps_set_for(true, &err), 0);
    ck_assert(!has_effective(CAP_SYS_MODULE));
    ck_assert(!has_effective(CAP_SYS_RAWIO));
    ck_assert(!has_effective(CAP_SYS_TIME));
    ck_assert(has_effective(CAP_CHOWN));
}
END_TEST

START_TEST(caps_set_for_root_clears_ambient)
{
    struct vps_error err = {0};
    cap_t caps = NULL;
    cap_value_t cap = CAP_NET_BIND_SERVICE;

    enter_privileged();
    caps = cap_get_proc();
    ck_assert_ptr_nonnull(caps);
    ck_assert_int_eq(cap_set_flag(caps, CAP_INHERITABLE, 1, &cap, CAP_SET), 0);
    ck_assert_int_eq(cap_set_proc(caps), 0);
    cap_free(caps);
    ck_assert_int_eq(cap_set_ambient(cap, CAP_SET), 0);
    ck_assert_uint_ne(status_mask("CapAmb"), 0);

    /* A root keeps net_bind_service in permitted and inheritable, so only an explicit clear
     * empties the ambient set. */
    ck_assert_int_eq(vps_caps_set_for(true, &err), 0);
    ck_assert_uint_eq(status_mask("CapAmb"), 0);
}
END_TEST

START_TEST(caps_set_for_root_fails_when_a_kept_cap_is_not_permitted)
{
    struct vps_error err = {0};

    enter_privileged();
    clear_cap(CAP_CHOWN, true);
    ck_assert_int_eq(vps_caps_set_for(true, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "set capabilities of a vps root");
    ck_assert_int_eq(err.errnum, EPERM);
}
END_TEST

START_TEST(caps_no_new_privs_reads_back_1)
{
    struct vps_error err = {0};

    ck_assert_int_eq(prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L), 0);
    ck_assert_int_eq(vps_caps_no_new_privs(&err), 0);
    ck_assert_int_eq(prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L), 1);
    ck_assert_uint_eq(status_mask("NoNewPrivs"), 1);
}
END_TEST

static Suite *caps_suite(void)
{
    Suite *s = suite_create("caps");
    TCase *bnd = tcase_create("bounding");
    TCase *sets = tcase_create("sets");

    tcase_add_test(bnd, caps_drop_bounding_removes_host_powers);
    tcase_add_test(bnd, caps_drop_bounding_keeps_what_a_vps_root_needs);
    tcase_add_test(bnd, caps_drop_bounding_drops_every_cap_not_listed);
    tcase_add_test(bnd, caps_drop_bounding_twice_succeeds);
    tcase_add_test(bnd, caps_drop_bounding_without_setpcap_names_the_cap);
    suite_add_tcase(s, bnd);

    tcase_add_test(sets, caps_set_for_non_root_clears_every_set);
    tcase_add_test(sets, caps_set_for_root_matches_the_reduced_bounding_set);
    tcase_add_test(sets, caps_set_for_root_never_grants_unlisted_caps);
    tcase_add_test(sets, caps_set_for_root_clears_ambient);
    tcase_add_test(sets, caps_set_for_root_fails_when_a_kept_cap_is_not_permitted);
    tcase_add_test(sets, caps_no_new_privs_reads_back_1);
    suite_add_tcase(s, sets);
    return s;
}

int main(void)
{
    /* Whether a child can gain capabilities at all: not without root where user namespaces are
     * disabled. Then the whole binary is skipped (exit 77). */
    if (!child_succeeds(gain_caps)) {
        fprintf(stderr, "test-caps: needs root or unprivileged user namespaces, skipping\n");
        return 77;
    }

    /* Forced, not left to $CK_FORK: a test that ran in this process would drop the runner's
     * own capabilities and poison every later test. */
    return run_suite(caps_suite(), CK_FORK);
}
