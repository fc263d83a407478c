/* Pinned namespaces: a namespace file (nsfs) bind-mounted onto an empty file, so that the
 * namespace outlives every process in it and a later start can open it again. vpsd pins a
 * VPS's user and network namespaces under <run-dir>/<name>/ns/. Making the namespaces is
 * spawn.c's (vps_ns_create()). None of these is meant for the spawned child. */
#pragma once

#include "error.h"

/* Pins the namespace ns_fd refers to onto dir_fd/name: the file is created (0600) if it is
 * missing, then the namespace is mounted over it (open_tree() + move_mount()), in the
 * caller's mount namespace. VPS_ERR_EXISTS if dir_fd/name pins a namespace already;
 * VPS_ERR_SYSTEM otherwise. On failure no mount is left (the empty file may be). */
int vps_ns_pin(int ns_fd, int dir_fd, const char *name, struct vps_error *err);

/* Opens the namespace pinned at dir_fd/name; nstype (CLONE_NEWNET, CLONE_NEWUSER, ...) is
 * the kind it must be. The caller owns *ret_fd. VPS_ERR_NOT_FOUND if nothing is pinned
 * there (no file, or an empty one left by an interrupted pin); VPS_ERR_SYSTEM if another
 * kind of namespace is, or a call fails. */
int vps_ns_open_pinned(int dir_fd, const char *name, int nstype, int *ret_fd,
                       struct vps_error *err);

/* Checks that the user namespace userns_fd owns the namespace ns_fd (NS_GET_USERNS):
 * VPS_ERR_SYSTEM if not, or if a call fails. */
int vps_ns_check_owner(int ns_fd, int userns_fd, struct vps_error *err);

/* Unmounts the pin at dir_fd/name (lazily: MNT_DETACH) and removes the file. The namespace
 * ends when nothing else holds it. Nothing pinned or no file there: 0. */
int vps_ns_unpin(int dir_fd, const char *name, struct vps_error *err);
