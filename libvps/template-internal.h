/* What template.c (the store, the built-in template) and template-archive.c (import and
 * export) share inside libvps: the one way a template is built. Not installed, not for
 * vpsd or vpsctl; <vps/template.h> is the interface. */
#pragma once

#include <dirent.h>

#include "vps/error.h"

/* Fills the empty rootfs directory rootfs_fd of a template being built. */
typedef int (*vps_template_fill_fn)(int rootfs_fd, void *userdata, struct vps_error *err);

/* Builds template name from scratch: clears an incomplete leftover of that name, makes a
 * temporary directory, lets fill populate its rootfs, writes the metadata (source is
 * "builtin" or "import") and publishes it with one rename. On failure nothing is left
 * behind; VPS_ERR_EXISTS if a complete template of that name appeared meanwhile, else
 * fill's error or VPS_ERR_SYSTEM; the caller adds the template's name as context. */
int vps_template_build(int templates_fd, const char *name, const char *source,
                       vps_template_fill_fn fill, void *userdata, struct vps_error *err);

static inline void closedirp(DIR **d)
{
    if (*d)
        (void) closedir(*d);
}
