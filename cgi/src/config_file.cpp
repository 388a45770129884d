#include "config_file.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "option_values.h"

namespace co::cgi::detail {
namespace {

std::string where(const std::string& path, const toml::source_region& at) {
  return path + ":" + std::to_string(at.begin.line) + ":" + std::to_string(at.begin.column);
}

const char* type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number with a fraction";
    case toml::node_type::boolean: return "true/false";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    default: return "a date or time";
  }
}

[[noreturn]] void wrong_type(const char* expected, const toml::node& node) {
  throw std::invalid_argument(std::string("needs ") + expected + ", got " + type_name(node));
}

// text_of: the value as the row's set() reads it on the command line. Sizes, durations and
// numbers may be TOML integers or strings ("16M", "10s"); a mode is "0660" or 0o660.
std::string text_of(const Option& row, const toml::node& node) {
  switch (row.kind) {
    case OptionKind::flag:
      if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
      wrong_type("true or false", node);
    case OptionKind::text:
      if (const auto* s = node.as_string()) return s->get();
      wrong_type("a string (in quotes)", node);
    case OptionKind::octal:
      if (const auto* s = node.as_string()) return s->get();
      if (const auto* i = node.as_integer()) {
        // 660 is not 0o660: TOML has no leading-zero octal, so say how to write it.
        if ((i->flags() & toml::value_flags::format_as_octal) == toml::value_flags::none)
          throw std::invalid_argument("needs an octal file mode, written \"0660\" or 0o660, got " +
                                      std::to_string(i->get()));
        if (i->get() < 0) throw std::invalid_argument("needs an octal file mode, got a negative");
        return format_octal_value(static_cast<mode_t>(i->get()));
      }
      wrong_type("an octal file mode (\"0660\" or 0o660)", node);
    case OptionKind::integer:
    case OptionKind::bytes:
    case OptionKind::millis:
      if (const auto* i = node.as_integer()) return std::to_string(i->get());
      if (const auto* s = node.as_string()) return s->get();
      wrong_type("an integer", node);
  }
  wrong_type("a value", node);
}

class FileReader {
 public:
  FileReader(std::string path, const std::vector<Option>& rows) : path_(std::move(path)) {
    for (const Option& row : rows) by_key_.push_back(&row);
  }

  // read_table applies every key of `table`, whose dotted name is `prefix` ("" at the top).
  void read_table(const toml::table& table, const std::string& prefix) const {
    for (const auto& [key, node] : table) {
      const std::string name =
          prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
      if (const Option* row = find(name)) {
        apply(*row, name, node);
      } else if (node.is_table() && has_prefix(name + ".")) {
        read_table(*node.as_table(), name);
      } else {
        throw std::invalid_argument(where(path_, key.source()) + ": " + unknown(name));
      }
    }
  }

 private:
  const Option* find(const std::string& key) const {
    for (const Option* row : by_key_) {
      if (row->key == key) return row;
    }
    return nullptr;
  }

  bool has_prefix(const std::string& prefix) const {
    return std::any_of(by_key_.begin(), by_key_.end(),
                       [&](const Option* row) { return row->key.rfind(prefix, 0) == 0; });
  }

  std::string unknown(const std::string& name) const {
    std::vector<std::string> keys;
    for (const Option* row : by_key_) keys.push_back(row->key);
    std::string message = "unknown key '" + name + "'";
    const std::string near = closest_name(name, keys);
    if (!near.empty()) message += " (did you mean '" + near + "'?)";
    return message + "; --help lists the options, each flag's key is its name with '_' for '-'";
  }

  void apply(const Option& row, const std::string& name, const toml::node& node) const {
    try {
      if (row.value_optional && node.is_boolean()) {
        if (node.as_boolean()->get()) row.set("");
        return;
      }
      row.set(text_of(row, node));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where(path_, node.source()) + ": " + name + ": " + e.what());
    }
  }

  std::string path_;
  std::vector<const Option*> by_key_;
};

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

void apply_config_file(const std::string& path, const std::vector<Option>& rows) {
  const std::string text = read_whole_file(path);
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw std::invalid_argument(where(path, e.source()) +
                                ": TOML syntax: " + std::string(e.description()));
  }
  FileReader(path, rows).read_table(table, "");
}

std::string closest_name(const std::string& name, const std::vector<std::string>& candidates) {
  // Levenshtein distance; a suggestion only within a third of the name's length.
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
        diagonal = above;
      }
    }
    return row[b.size()];
  };
  std::string best;
  std::size_t best_distance = name.size() / 3 + 1;
  for (const std::string& c : candidates) {
    const std::size_t d = distance(name, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace co::cgi::detail
