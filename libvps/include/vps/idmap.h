/* User-namespace id ranges: each VPS maps its root (and ids 0..size-1) to its own range of
 * unprivileged host ids, recorded in <state>/<name>/idmap.json, never overlapping another
 * VPS's nor a range /etc/subuid or /etc/subgid hands to a host user, and freed with the VPS's
 * directory on destroy. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define VPS_IDMAP_SIZE  65536U
#define VPS_IDMAP_FIRST 1000000U /* far above distribution and LDAP ranges */
/* No range reaches this id: 2^32-1 is (uid_t)-1, "no id" to chown() and setresuid(), and the
 * kernel refuses to map it; 2^32-2 was nfsnobody on older systems. */
#define VPS_IDMAP_LIMIT 4294967294ULL

#define VPS_IDMAP_FILE      "idmap.json"
#define VPS_IDMAP_MAX_BYTES 4096
#define VPS_IDMAP_SUBUID    "/etc/subuid"
#define VPS_IDMAP_SUBGID    "/etc/subgid"

struct vps_idmap {
    uint32_t host_base; /* host uid/gid of VPS id 0; at least VPS_IDMAP_FIRST */
    uint32_t size;      /* VPS_IDMAP_SIZE; stored so a later version may vary it */
    bool shifted;       /* the rootfs is stored in the host range (no idmapped mount) */
};

/* Picks the lowest range at VPS_IDMAP_FIRST + k * VPS_IDMAP_SIZE that overlaps no range in
 * <state>/<dir>/idmap.json (for every VPS dir, the hidden ".<name>.new" of a create in
 * progress and ".<name>.deleting" of a destroy in progress) and none in /etc/subuid or
 * /etc/subgid. Nothing is reserved: the caller saves the result into the new VPS's dir (with
 * vps_idmap_save()) before the next call, as vpsd's single writer does.
 * A dir without idmap.json holds no range. An idmap.json that cannot be read or parsed is an
 * error naming the dir (never skipped: that could hand its range out twice). A missing
 * subuid/subgid file reserves nothing. VPS_ERR_CONFLICT "no free id range" when every range
 * up to VPS_IDMAP_LIMIT is taken. */
int vps_idmap_allocate(int state_fd, struct vps_idmap *ret, struct vps_error *err);
/* The same with other subuid/subgid files (tests); NULL skips that file. */
int vps_idmap_allocate_with(int state_fd, const char *subuid_path, const char *subgid_path,
                            struct vps_idmap *ret, struct vps_error *err);

/* Reads vps_dir_fd/idmap.json strictly (unknown fields, wrong types, host_base below
 * VPS_IDMAP_FIRST, a size other than VPS_IDMAP_SIZE or a range past VPS_IDMAP_LIMIT are
 * VPS_ERR_INVALID naming the file). A missing file is VPS_ERR_SYSTEM with errnum ENOENT. */
int vps_idmap_load(int vps_dir_fd, struct vps_idmap *ret, struct vps_error *err);
/* Writes vps_dir_fd/idmap.json atomically, mode 0600. An invalid map (as above) is refused
 * with VPS_ERR_INVALID and nothing is written. */
int vps_idmap_save(int vps_dir_fd, const struct vps_idmap *m, struct vps_error *err);

/* Writes "0 <host_base> <size>\n" to /proc/<pid>/uid_map, then to gid_map, each in the single
 * write() the kernel requires. pid must be a child the caller has not reaped (so the number
 * cannot be reused) in a new user namespace whose maps are unset; the caller needs
 * CAP_SETUID/CAP_SETGID over the parent namespace, so /proc/<pid>/setgroups is left alone.
 * Does not allocate. VPS_ERR_SYSTEM on failure. */
int vps_idmap_write(pid_t pid, const struct vps_idmap *m, struct vps_error *err);
