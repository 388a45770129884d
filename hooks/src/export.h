// Interposed libc symbols are exported from the hooks library; everything else is hidden.
#pragma once

#define COFCGI_HOOK_API __attribute__((visibility("default")))
