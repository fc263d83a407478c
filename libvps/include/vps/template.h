/* Templates: root filesystem trees that VPSes are created from, kept under
 * <state-dir>/templates/<name>/{rootfs/,template.json}. The built-in "minimal" template is
 * made from the host's busybox-static, the built-in "host-usr" is a skeleton around the
 * host's /usr; others are imported from tarballs with libarchive or built with Debian's
 * debootstrap. Copying a template into a VPS is storage.c's. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "json.h"

#define VPS_TEMPLATE_BUILTIN "minimal"
/* A Debian-like skeleton (usr-merged links, /etc with the accounts Debian's daemons expect,
 * /run/sshd, no init) whose VPSes bind the host's /usr read-only by default. */
#define VPS_TEMPLATE_HOST_USR "host-usr"
/* Where the built-in template takes busybox from (Debian's busybox-static). */
#define VPS_BUSYBOX_PATH "/bin/busybox"

/* Progress of a long template operation, 0..100, with a short word of what is happening.
 * Called from the worker that does the work (a forked child of vpsd). */
typedef void (*vps_progress_fn)(unsigned percent, const char *what, void *userdata);

/* Opens (creating if needed, mode 0700) <state-dir>/templates. */
int vps_template_dir_open(int state_fd, int *ret_fd, struct vps_error *err);

/* A JSON array of {"name", "source", "created_at", "size_bytes"} sorted by name, with
 * "mounts" (see vps_template_default_mounts()) where a template has default mounts. */
int vps_template_list(int templates_fd, json_t **ret, struct vps_error *err);
/* One template's metadata as above. VPS_ERR_NOT_FOUND if absent. */
int vps_template_get(int templates_fd, const char *name, json_t **ret, struct vps_error *err);
bool vps_template_exists(int templates_fd, const char *name);

/* True for the names of the built-in templates, which vps_template_ensure() can (re)build. */
bool vps_template_is_builtin(const char *name);

/* Builds the built-in template name if it is missing (idempotent; a crashed half-build is
 * detected and redone). busybox_path (normally VPS_BUSYBOX_PATH) is read for "minimal",
 * VPS_ERR_NOT_FOUND if it is missing. Neither has sbin/init or inittab: how a VPS boots is
 * decided elsewhere. host-usr's template.json carries the default "mounts": the host's /usr
 * and, where the host has it, /etc/alternatives, both read-only. VPS_ERR_INVALID for a name
 * that is not built in. */
int vps_template_ensure(int templates_fd, const char *name, const char *busybox_path,
                        struct vps_error *err);
/* vps_template_ensure() for every built-in template: host-usr first, which needs nothing of
 * the host to build, then minimal; each is tried, the first failure is returned. */
int vps_template_ensure_builtin(int templates_fd, const char *busybox_path, struct vps_error *err);

/* The "mounts" (a JSON array in the config's form) a VPS made from template name gets when
 * its config names none: a new reference in *ret, or NULL when the template has none.
 * VPS_ERR_NOT_FOUND if the template does not exist. */
int vps_template_default_mounts(int templates_fd, const char *name, json_t **ret,
                                struct vps_error *err);

/* Extracts the archive read from archive_fd (tar, optionally gzip/xz/zstd/bzip2
 * compressed; libarchive detects it) into a new template name. Entries with absolute paths
 * or ".." components and hard links pointing outside the tree are refused (VPS_ERR_INVALID),
 * device nodes included; symlinks are created as they are (never followed at extraction).
 * Device nodes (character and block) are otherwise skipped, not extracted, and so are hard
 * links to a skipped node: a VPS gets its own /dev at start. The template appears
 * atomically (built under a temporary name, then renamed), or not at all. VPS_ERR_EXISTS if
 * name exists. progress may be NULL. The extraction runs in a forked child, chrooted into
 * the new tree when the caller may chroot; progress is called in the calling process (by
 * bytes of archive_fd read when it is a regular file, else every 256 entries), and last
 * with 100 and "done", or "done, skipped 12 device nodes" when nodes were skipped.
 * Compression filters are the ones libarchive implements in-process only. */
int vps_template_import(int templates_fd, const char *name, int archive_fd,
                        vps_progress_fn progress, void *userdata, struct vps_error *err);

/* Writes template name's rootfs as a gzip-compressed tar (pax) to out_fd, with entry names
 * "./bin/busybox", numeric owners, modes, times, symlinks, hard links and xattrs; sockets
 * are left out. A pipe or socket closed by its reader raises SIGPIPE unless the caller
 * ignores it. VPS_ERR_NOT_FOUND if absent. */
int vps_template_export(int templates_fd, const char *name, int out_fd, struct vps_error *err);

/* Opens templates/<name>/rootfs as an O_PATH|O_DIRECTORY fd. VPS_ERR_NOT_FOUND. */
int vps_template_open_rootfs(int templates_fd, const char *name, int *ret_fd,
                             struct vps_error *err);

/* Removes a template (metadata first, then the tree). VPS_ERR_NOT_FOUND if absent. */
int vps_template_remove(int templates_fd, const char *name, struct vps_error *err);

/* ---- Debian templates built with debootstrap (template-debootstrap.c) ---- */

#define VPS_DEBOOTSTRAP_PATH "/usr/sbin/debootstrap"
/* Every Release file is checked against this keyring (Debian package debian-archive-keyring),
 * so a plain http mirror cannot hand out packages of its own. */
#define VPS_DEBIAN_KEYRING             "/usr/share/keyrings/debian-archive-keyring.gpg"
#define VPS_DEBOOTSTRAP_MIRROR         "http://deb.debian.org/debian"
#define VPS_DEBOOTSTRAP_INCLUDE_MAX    64
#define VPS_DEBOOTSTRAP_TIMEOUT_MS     (30 * 60 * 1000ULL)
#define VPS_DEBOOTSTRAP_TIMEOUT_MAX_MS (24 * 60 * 60 * 1000ULL)

/* What a debootstrap build makes: the body of POST /v1/templates/{name}/build. */
struct vps_debootstrap {
    char *distribution;      /* "debian", the only one */
    char *suite;             /* "bullseye", "bookworm" or "trixie" */
    char *mirror;            /* http(s)://host[:port][/path] */
    char *variant;           /* "minbase", "buildd" or "-" (debootstrap's default set) */
    struct vps_strv include; /* extra packages, at most VPS_DEBOOTSTRAP_INCLUDE_MAX */
    uint64_t timeout_ms;     /* debootstrap is killed after this long */
};

/* Fills *ret from a request body obj for template name: the defaults first (distribution
 * "debian", the suite the name implies, VPS_DEBOOTSTRAP_MIRROR, variant "minbase",
 * VPS_DEBOOTSTRAP_TIMEOUT_MS), then obj's fields, strictly (unknown fields, wrong types and
 * bad values are VPS_ERR_INVALID with the JSON path). "debian-11", "debian-12", "debian-13"
 * and names starting with one of them and a dash imply bullseye, bookworm and trixie; any
 * other name needs "suite". *ret is written only on success; release it with
 * vps_debootstrap_done(). */
int vps_debootstrap_from_json(const char *name, const json_t *obj, struct vps_debootstrap *ret,
                              struct vps_error *err);
void vps_debootstrap_done(struct vps_debootstrap *o);

/* Whether this host can build: debootstrap_path is an executable and VPS_DEBIAN_KEYRING is
 * there. VPS_ERR_UNAVAILABLE naming the missing Debian package otherwise. */
int vps_debootstrap_available(const char *debootstrap_path, struct vps_error *err);

/* Builds template name with debootstrap_path (normally VPS_DEBOOTSTRAP_PATH) as o says, in
 * the temporary tree every template build uses, so that a failed or killed build leaves no
 * template (a killed one leaves a temporary tree for vps_storage_remove_stale()). debootstrap
 * runs in a forked child with a fixed argv and environment, in a PID and a mount namespace of
 * its own: its mounts never reach the host, and when it ends, is killed after o->timeout_ms,
 * or the caller dies, every process it started dies with it. progress (may be NULL) follows
 * its output, 0..99, and says 100 "done" at the end. Then the tree is made fit for VPSes: a
 * placeholder /etc/hostname, an empty /etc/resolv.conf (vpsd writes both when a VPS starts), an
 * empty /etc/machine-id if there is one, no SSH host keys (each VPS makes its own), an empty /dev,
 * no cached .debs. template.json says source "debootstrap", suite, mirror, variant and include.
 * VPS_ERR_EXISTS if name exists; VPS_ERR_TIMEOUT after the timeout; VPS_ERR_SYSTEM with the
 * newest lines of debootstrap's output that fit when it fails. Runs in the caller (a forked
 * worker of vpsd): it blocks for the whole build. */
int vps_template_debootstrap(int templates_fd, const char *name, const struct vps_debootstrap *o,
                             const char *debootstrap_path, vps_progress_fn progress, void *userdata,
                             struct vps_error *err);
