/* units: being written. */
#include "vps/error.h"
