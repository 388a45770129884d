#include "command_line.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "cofcgi/cgi/request.h"
#include "config_file.h"

#ifndef COFCGI_VERSION
#define COFCGI_VERSION "unknown"
#endif

namespace co::cgi::detail {
namespace {

// search_word_args: how many of the last arguments are a CGI search query's words. RFC 3875
// 4.4: for a QUERY_STRING without '=' a CGI host may pass its '+'-separated words, decoded,
// as arguments (Apache does: /cgi-bin/app?a+b runs `app a b`). They are the request's, not
// options; a wrapper script that does not forward them leaves none.
int search_word_args(int argc, char** argv) {
  const char* gateway = std::getenv("GATEWAY_INTERFACE");
  const char* query = std::getenv("QUERY_STRING");
  if (gateway == nullptr || query == nullptr || *query == '\0') return 0;
  const std::string_view q(query);
  if (q.find('=') != std::string_view::npos) return 0;
  std::vector<std::string> words;
  std::size_t start = 0;
  for (;;) {
    const std::size_t plus = q.find('+', start);
    words.push_back(url_decode(q.substr(start, plus - start), false));
    if (plus == std::string_view::npos) break;
    start = plus + 1;
  }
  const int n = static_cast<int>(words.size());
  if (argc - 1 < n) return 0;
  for (int i = 0; i < n; ++i) {
    if (words[static_cast<std::size_t>(i)] != argv[argc - n + i]) return 0;
  }
  return n;
}

// The arguments every app takes that are not settings (they are not in the file).
struct Builtin {
  const char* flag;
  const char* help;
};
constexpr Builtin kBuiltins[] = {
    {"--config FILE", "read settings from a TOML file first; the command line overrides it"},
    {"--help", "this text"},
    {"--version", "the cofcgi version"},
    {"--options-reference", "every option as Markdown tables (the README's reference)"},
};

std::string left_column(const Option& row) {
  std::string left = "--" + row.flag;
  if (row.kind == OptionKind::flag) return left;
  return left + (row.value_optional ? " [" + row.value_name + "]" : " " + row.value_name);
}

std::string with_default(const Option& row, const std::string& value) {
  if (row.kind == OptionKind::flag) return row.help;
  return value.empty() ? row.help : row.help + " (default " + value + ")";
}

// help_line: "  --flag VALUE   help", the help in one column; a long flag puts it on the next
// line.
std::string help_line(const std::string& left, const std::string& help) {
  constexpr std::size_t kColumn = 40;
  std::string line = "  " + left;
  if (left.size() > kColumn) line += "\n  ";
  line.append(kColumn + 1 - (left.size() > kColumn ? 0 : left.size()), ' ');
  return line + help + "\n";
}

// split_inline: "--flag=value" -> ("--flag", "value").
bool split_inline(std::string& arg, std::string& value) {
  const std::size_t eq = arg.find('=');
  if (arg.rfind("--", 0) != 0 || eq == std::string::npos) return false;
  value = arg.substr(eq + 1);
  arg.resize(eq);
  return true;
}

}  // namespace

CommandLine::CommandLine(int argc, char** argv) {
  program_ = argc > 0 ? argv[0] : "app";
  argc -= search_word_args(argc, argv);
  for (int i = 1; i < argc; ++i) args_.emplace_back(argv[i]);
}

void CommandLine::add_rows(const std::vector<Option>& rows) {
  for (const Option& row : rows) {
    for (const Option& old : rows_) {
      if (old.flag == row.flag || old.key == row.key)
        throw std::logic_error("option --" + row.flag + " (key " + row.key + ") defined twice");
    }
    rows_.push_back(row);
    defaults_.push_back(row.get());
  }
}

const Option* CommandLine::find_flag(std::string_view name) const {
  if (name.rfind("--", 0) != 0) return nullptr;
  name.remove_prefix(2);
  for (const Option& row : rows_) {
    if (row.flag == name) return &row;
    for (const std::string& alias : row.aliases) {
      if (alias == name) return &row;
    }
  }
  return nullptr;
}

std::string CommandLine::unknown_argument(const std::string& arg) const {
  std::vector<std::string> flags;
  for (const Option& row : rows_) flags.push_back("--" + row.flag);
  for (const Builtin& b : kBuiltins)
    flags.emplace_back(std::string_view(b.flag).substr(0, std::string_view(b.flag).find(' ')));
  const std::string near = closest_name(arg, flags);
  return "unknown argument " + arg + (near.empty() ? "" : " (did you mean " + near + "?)") +
         "; --help lists the options";
}

void CommandLine::parse(std::vector<std::string>* rest, const std::string& extra_help) {
  std::string config;
  for (std::size_t i = 0; i < args_.size(); ++i) {
    std::string arg = args_[i];
    std::string value;
    const bool has_inline = split_inline(arg, value);
    if (arg == "--help" || arg == "-h") {
      std::fputs(help_text(extra_help).c_str(), stdout);
      std::exit(0);
    }
    if (arg == "--version") {
      std::printf("cofcgi %s\n", COFCGI_VERSION);
      std::exit(0);
    }
    if (arg == "--options-reference") {
      std::fputs(reference_markdown().c_str(), stdout);
      std::exit(0);
    }
    if (arg != "--config") continue;
    if (!has_inline) {
      if (i + 1 >= args_.size()) throw std::invalid_argument("--config needs a file");
      value = args_[++i];
    }
    config = value;
  }
  if (!config.empty()) apply_config_file(config, rows_);
  for (std::size_t i = 0; i < args_.size(); ++i) apply_argument(i, rest);
}

// apply_argument applies args_[i] (and its value, advancing i past it).
void CommandLine::apply_argument(std::size_t& i, std::vector<std::string>* rest) {
  std::string arg = args_[i];
  std::string value;
  const bool has_inline = split_inline(arg, value);
  if (arg == "--config") {
    if (!has_inline) ++i;
    return;
  }
  const Option* row = find_flag(arg);
  if (row == nullptr) {
    if (rest == nullptr) throw std::invalid_argument(unknown_argument(arg));
    rest->push_back(args_[i]);
    return;
  }
  if (!has_inline) {
    const bool next = i + 1 < args_.size();
    if (row->kind == OptionKind::flag)
      value = "true";
    else if (row->value_optional && (!next || (args_[i + 1] != "-" && args_[i + 1][0] == '-')))
      value = "";
    else if (next)
      value = args_[++i];
    else
      throw std::invalid_argument(arg + " needs a value (" + row->value_name + ")");
  }
  try {
    row->set(value);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(arg + ": " + e.what());
  }
}

std::string CommandLine::help_text(const std::string& extra_help) const {
  std::string text = "usage: " + program_ + " [options]\n";
  std::string section;
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    const Option& row = rows_[i];
    if (row.section != section) {
      section = row.section;
      text += "\n" + section + " options:\n";
    }
    text += help_line(left_column(row), with_default(row, defaults_[i]));
  }
  text += "\nEvery option:\n";
  for (const Builtin& b : kBuiltins) text += help_line(b.flag, b.help);
  text +=
      "\nIn the --config file each option is a key: its name with '_' for '-' (max_body = "
      "\"16M\",\nidle_timeout = \"60s\"); --options-reference lists them.\n";
  if (!extra_help.empty()) {
    text += "\n" + extra_help;
    if (extra_help.back() != '\n') text += "\n";
  }
  return text;
}

std::string CommandLine::reference_markdown() const {
  std::string text;
  std::string section;
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    const Option& row = rows_[i];
    if (row.section != section) {
      section = row.section;
      text += (text.empty() ? "" : "\n") + std::string("#### ") + section + " options\n\n";
      text += "| Command line | Config file key | Default | Meaning |\n";
      text += "| --- | --- | --- | --- |\n";
    }
    std::string help = row.help;
    for (std::size_t at = help.find('|'); at != std::string::npos; at = help.find('|', at + 2))
      help.replace(at, 1, "\\|");
    const std::string value = defaults_[i].empty() ? "" : "`" + defaults_[i] + "`";
    text += "| `" + left_column(row) + "` | `" + row.key + "` | " + value + " | " + help + " |\n";
  }
  return text;
}

}  // namespace co::cgi::detail
