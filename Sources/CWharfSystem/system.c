#include "wharf_system.h"
