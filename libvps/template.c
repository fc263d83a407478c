/* template: being written. */
#include "vps/error.h"
