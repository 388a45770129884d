// CommandLine: reads the option rows (cofcgi/cgi/options.h) from a --config file and then
// from the command line, which overrides the file; prints --help and the Markdown reference.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cofcgi/cgi/options.h"

namespace co::cgi::detail {

class CommandLine {
 public:
  CommandLine(int argc, char** argv);

  // add_rows appends rows; a flag or TOML key used twice throws std::logic_error (an app's
  // row that shadows the server's). Each row's current value is kept as its default.
  void add_rows(const std::vector<Option>& rows);

  // parse: --help, --version and --options-reference print and exit(0); --config FILE is
  // read first, then every other argument is applied in order. Arguments no row knows go to
  // `rest`, or throw without it. A bad value throws std::invalid_argument naming the flag
  // (or the file, line, column and key).
  void parse(std::vector<std::string>* rest, const std::string& extra_help);

  std::string help_text(const std::string& extra_help) const;
  // reference_markdown: the rows as Markdown tables, one per section (the README's copy).
  std::string reference_markdown() const;

 private:
  const Option* find_flag(std::string_view name) const;
  void apply_argument(std::size_t& i, std::vector<std::string>* rest);
  std::string unknown_argument(const std::string& arg) const;

  std::string program_;
  std::vector<std::string> args_;  // without the program and a CGI host's search words
  std::vector<Option> rows_;
  std::vector<std::string> defaults_;  // rows_[i].get() when added
};

}  // namespace co::cgi::detail
