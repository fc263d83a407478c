/* Shared front addresses (front.h). Placeholder until content routing lands: no fronts. */
#include <stdlib.h>

#include "front.h"

struct front {
    struct vpsd *d;
};

int front_new(struct vpsd *d, struct front **ret, struct vps_error *err)
{
    struct front *f = calloc(1, sizeof *f);

    if (!f)
        return vps_error_errno(err, ENOMEM, "front");
    f->d = d;
    *ret = f;
    return 0;
}

void front_free(struct front *f)
{
    free(f);
}

int front_check(struct front *f, const struct vps_config *c, struct vps_error *err)
{
    (void) f, (void) c, (void) err;
    return 0;
}

void front_update_vps(struct front *f, const struct vps_config *c)
{
    (void) f, (void) c;
}

void front_remove_vps(struct front *f, const char *name)
{
    (void) f, (void) name;
}

json_t *front_status(struct front *f)
{
    (void) f;
    return json_array();
}
