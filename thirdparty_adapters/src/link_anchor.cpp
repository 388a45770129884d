// Compiled into every target that links cofcgi::adapters (INTERFACE_SOURCES): a reference
// from a regular object, so --as-needed keeps libcofcgi_adapters (whose interposed
// getaddrinfo & co. the executable never names). See hooks/README.md, "Linking".
extern "C" const int cofcgi_adapters_linked;
namespace {
[[maybe_unused]] __attribute__((used)) const int* const cofcgi_adapters_anchor =
    &cofcgi_adapters_linked;
}
