/* What template.c (the store, the built-in template), template-archive.c (import and
 * export) and template-debootstrap.c share inside libvps: the one way a template is built,
 * and the checks of what a debootstrap build records. Not installed, not for vpsd or vpsctl;
 * <vps/template.h> is the interface. */
#pragma once

#include <dirent.h>

#include "vps/error.h"
#include "vps/json.h"

/* Fills the empty rootfs directory rootfs_fd of a template being built. */
typedef int (*vps_template_fill_fn)(int rootfs_fd, void *userdata, struct vps_error *err);

/* Builds template name from scratch: clears an incomplete leftover of that name, makes a
 * temporary directory, lets fill populate its rootfs, writes the metadata (source is
 * "builtin" or "import") and publishes it with one rename. On failure nothing is left
 * behind; VPS_ERR_EXISTS if a complete template of that name appeared meanwhile, else
 * fill's error or VPS_ERR_SYSTEM; the caller adds the template's name as context. */
int vps_template_build(int templates_fd, const char *name, const char *source,
                       vps_template_fill_fn fill, void *userdata, struct vps_error *err);

/* Where a debootstrap build came from, kept in its template.json; NULL members (and an
 * empty include) are left out. */
struct vps_template_origin {
    const char *suite;
    const char *mirror;
    const char *variant;
    const struct vps_strv *include;
};

/* vps_template_build() that also records origin (a debootstrap build's) in template.json. */
int vps_template_build_origin(int templates_fd, const char *name, const char *source,
                              const struct vps_template_origin *origin, vps_template_fill_fn fill,
                              void *userdata, struct vps_error *err);

/* The checks of the fields above (vps_json_check_fn), shared by the request parser and
 * template.json's (template-debootstrap.c). VPS_ERR_INVALID naming path. */
int vps_debootstrap_check_suite(const char *s, const char *path, struct vps_error *err);
int vps_debootstrap_check_mirror(const char *s, const char *path, struct vps_error *err);
int vps_debootstrap_check_variant(const char *s, const char *path, struct vps_error *err);
int vps_debootstrap_check_package(const char *s, const char *path, struct vps_error *err);

static inline void closedirp(DIR **d)
{
    if (*d)
        (void) closedir(*d);
}
