/* Proxy mode's byte relay (vps/relay.h). Placeholder: the splice() relay lands next. */
#include <errno.h>

#include "vps/relay.h"

int vps_relay_new(int a, int b, struct vps_relay **ret, struct vps_error *err)
{
    (void) a, (void) b, (void) ret;
    return vps_error_errno(err, ENOSYS, "relay");
}

int vps_relay_run(struct vps_relay *r, struct vps_error *err)
{
    (void) r, (void) err;
    return 0;
}

void vps_relay_get_stats(const struct vps_relay *r, struct vps_relay_stats *ret)
{
    (void) r;
    *ret = (struct vps_relay_stats){0};
}

int vps_relay_fd_a(const struct vps_relay *r)
{
    (void) r;
    return -1;
}

int vps_relay_fd_b(const struct vps_relay *r)
{
    (void) r;
    return -1;
}

void vps_relay_free(struct vps_relay *r)
{
    (void) r;
}
