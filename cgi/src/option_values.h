// The text forms of option values (cofcgi/cgi/options.h): parsing with an error message that
// says what was expected, and printing in a form that parses back to the same value.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace co::cgi::detail {

// Each throws std::invalid_argument("needs ..., got '<text>'") on a bad value.
bool parse_flag_value(const std::string& text);  // true/false, yes/no, on/off, 1/0
long long parse_integer_value(const std::string& text, long long min, long long max);
std::size_t parse_bytes_value(const std::string& text);                 // 4096, 64k, 16M, 1G
std::chrono::milliseconds parse_millis_value(const std::string& text);  // 250, 250ms, 10s, 2m
mode_t parse_octal_value(const std::string& text);                      // 0660, at most 07777

std::string format_bytes_value(std::size_t bytes);              // 16M when exact, else the number
std::string format_millis_value(std::chrono::milliseconds ms);  // 10s when exact, else 250ms
std::string format_octal_value(mode_t mode);                    // 0660

}  // namespace co::cgi::detail
