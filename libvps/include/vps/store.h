/* The state directory on disk: one directory per VPS holding config.json and rootfs/, the
 * lock that makes vpsd its only writer, and the crash-safe create/rename/remove steps.
 * A VPS exists exactly when <name>/config.json exists; everything else is a leftover that
 * vps_store_open() cleans up. */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "error.h"
#include "idmap.h"
#include "storage.h"

struct vps_store {
    int dir_fd;  /* the state dir */
    int lock_fd; /* flock()ed: one daemon per state dir */
    char *path;
    struct vps_storage storage;
};

/* Opens (creating, 0700) and locks the state dir. VPS_ERR_CONFLICT if another process holds
 * the lock. Removes leftovers of interrupted creates and destroys. */
int vps_store_open(const char *path, struct vps_store *ret, struct vps_error *err);
void vps_store_close(struct vps_store *s);

/* Names of all VPSes, sorted; the caller frees with vps_strv_free(). */
int vps_store_list(const struct vps_store *s, struct vps_strv *ret, struct vps_error *err);
/* Calls fn for every VPS of vps_store_list(), with its config, or with c NULL and e saying
 * why it could not be loaded. -1 only when the list itself cannot be read. */
typedef void (*vps_store_each_fn)(const char *name, const struct vps_config *c,
                                  const struct vps_error *e, void *userdata);
int vps_store_foreach(const struct vps_store *s, vps_store_each_fn fn, void *userdata,
                      struct vps_error *err);

/* VPS_ERR_NOT_FOUND "vps 'x' does not exist" when absent. */
int vps_store_load(const struct vps_store *s, const char *name, struct vps_config **ret,
                   struct vps_error *err);

/* Replaces an existing VPS's config.json atomically. */
int vps_store_save(const struct vps_store *s, const struct vps_config *c, struct vps_error *err);

/* Creates a VPS: an id range (idmap.json), the rootfs copied from template_rootfs_fd, then
 * config.json, all under a hidden temporary directory renamed into place last. With
 * shift_ids the rootfs is stored in the VPS's host id range (for filesystems without
 * idmapped mounts); otherwise it keeps the template's ids and is idmapped at start.
 * VPS_ERR_EXISTS if the name is taken. On failure nothing is left. */
int vps_store_create(const struct vps_store *s, const struct vps_config *c, int template_rootfs_fd,
                     bool shift_ids, struct vps_error *err);

/* Removes a VPS: renamed out of sight first (so it is gone at once, also after a crash), then
 * its tree is deleted. VPS_ERR_NOT_FOUND when absent. */
int vps_store_destroy(const struct vps_store *s, const char *name, struct vps_error *err);

/* <name>/idmap.json: the VPS's id range and whether its rootfs is stored shifted. */
int vps_store_load_idmap(const struct vps_store *s, const char *name, struct vps_idmap *ret,
                         struct vps_error *err);
/* An O_PATH fd of <name>/rootfs. */
int vps_store_open_rootfs(const struct vps_store *s, const char *name, int *ret_fd,
                          struct vps_error *err);
