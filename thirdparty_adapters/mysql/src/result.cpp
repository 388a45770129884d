// co::mysql::Result and Row: column names, and the text-to-value conversions of
// Row::get<T> (see cofcgi/adapters/mysql.h).
#include <charconv>
#include <stdexcept>
#include <string>

#include "cofcgi/adapters/mysql.h"

namespace co::mysql {

namespace {

const std::vector<std::string>& no_columns() {
  static const std::vector<std::string> empty;
  return empty;
}

std::size_t find_column(const std::vector<std::string>& columns, std::string_view name) {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return i;
  }
  throw std::out_of_range("co::mysql: no column " + std::string(name));
}

[[noreturn]] void throw_not_a_number(std::string_view text, const char* type) {
  throw std::invalid_argument("co::mysql::Row::get: '" + std::string(text.substr(0, 40)) +
                              "' is not " + type);
}

// parse_whole: std::from_chars over the whole text.
template <class T>
T parse_whole(std::string_view text, const char* type) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::result_out_of_range) detail::throw_out_of_range(text);
  if (ec != std::errc() || ptr != end) throw_not_a_number(text, type);
  return value;
}

}  // namespace

std::size_t Row::column_index(std::string_view name) const {
  return find_column(columns_ ? *columns_ : no_columns(), name);
}

const std::vector<std::string>& Result::columns() const {
  return columns_ ? *columns_ : no_columns();
}

void Result::set_columns(std::vector<std::string> names) {
  columns_ = std::make_shared<const std::vector<std::string>>(std::move(names));
}

const std::string& Result::value(std::size_t row, std::size_t col) const {
  const auto& v = rows.at(row).at(col);
  if (!v) throw std::out_of_range("co::mysql::Result::value: NULL");
  return *v;
}

std::size_t Result::column_index(std::string_view name) const {
  return find_column(columns(), name);
}

namespace detail {

std::int64_t parse_int64(std::string_view text) {
  return parse_whole<std::int64_t>(text, "an integer");
}

std::uint64_t parse_uint64(std::string_view text) {
  return parse_whole<std::uint64_t>(text, "an unsigned integer");
}

double parse_double(std::string_view text) { return parse_whole<double>(text, "a number"); }

void throw_null_value(std::size_t col) {
  throw std::out_of_range("co::mysql::Row::get: column " + std::to_string(col) +
                          " is NULL (ask for std::optional<T>)");
}

void throw_out_of_range(std::string_view text) {
  throw std::out_of_range("co::mysql::Row::get: " + std::string(text.substr(0, 40)) +
                          " does not fit the type asked for");
}

}  // namespace detail
}  // namespace co::mysql
