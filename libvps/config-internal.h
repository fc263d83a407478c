/* What config.c shares with config-services.c: the name check both field tables use, the
 * canonical-form helper of services' addresses and mounts' paths, and the hooks of the
 * "services" field in config.c's table. Only config*.c include this. */
#pragma once

#include "vps/error.h"
#include "vps/json.h"

/* A VPS or service name field (vps_json_check_fn); VPS_ERR_INVALID naming path. */
int config_check_name(const char *s, const char *path, struct vps_error *err);

/* Replaces *s by canon(*s), a checked value's canonical form; ENOMEM naming path. */
int config_canon_in_place(char **s, char *(*canon)(const char *), const char *path,
                          struct vps_error *err);

/* The "services" field of struct vps_config: dst/src point at its services member. */
int config_parse_services(const json_t *v, void *dst, const char *path, struct vps_error *err);
int config_emit_services(const void *src, json_t **ret, struct vps_error *err);
void config_free_services(void *dst);
