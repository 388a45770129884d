// Compiled into every target that links cofcgi::hooks (INTERFACE_SOURCES). An executable
// usually calls none of the hooks library's symbols by name - it calls libc's read() and the
// hooks library merely comes first in lookup order - so under --as-needed the linker would
// drop it and no hook would ever run. This reference from a regular object keeps it.
extern "C" const int cofcgi_hooks_linked;
namespace {
[[maybe_unused]] __attribute__((used)) const int* const cofcgi_hooks_anchor = &cofcgi_hooks_linked;
}
