// Symbol visibility: the library builds with -fvisibility=hidden; only what is marked
// COFCGI_API is exported.
#pragma once

#define COFCGI_API __attribute__((visibility("default")))
