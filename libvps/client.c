/* client: being written. */
#include "vps/error.h"
