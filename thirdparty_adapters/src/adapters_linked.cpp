// Referenced from every consumer through link_anchor.cpp, so --as-needed keeps the library.
extern "C" __attribute__((visibility("default"))) const int cofcgi_adapters_linked = 1;
