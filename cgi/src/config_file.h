// apply_config_file: a TOML file (toml++) applied to the option rows. Every key must be a
// row's; each error names the file, the line and column, and the key.
#pragma once

#include <string>
#include <vector>

#include "cofcgi/cgi/options.h"

namespace co::cgi::detail {

// Throws std::invalid_argument: "app.toml:7:1: unknown key 'thread' (did you mean
// 'threads'?)", "app.toml:3:11: threads: needs a whole number from 1 to 1024, got '0'",
// "app.toml:2:9: TOML syntax: ...", "app.toml: cannot read: No such file or directory".
void apply_config_file(const std::string& path, const std::vector<Option>& rows);

// closest_name: the candidate nearest to `name` by edit distance, or "" when none is near
// (a typo's suggestion in an error message).
std::string closest_name(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace co::cgi::detail
