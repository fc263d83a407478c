/* storage: being written. */
#include "vps/error.h"
