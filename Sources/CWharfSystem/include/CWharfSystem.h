#ifndef CWHARF_SYSTEM_H
#define CWHARF_SYSTEM_H

#include "wharf_system.h"
#include "wharf_net.h"
#include "wharf_crc32c.h"

#endif
