// Option and AppOptions: one row per setting drives the command line (--flag VALUE), --help,
// the TOML config file (--config FILE) and the Markdown reference (--options-reference).
// The server's rows are in cgi/src/server_args.cpp; an app adds its own (MariaDB's --mysql-*,
// examples/mysql_args.h) through AppOptions so they work from the file too.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cofcgi/runtime/export.h"

namespace co::cgi {

struct ServerOptions;

// OptionKind: how a value is written on the command line and in the file.
enum class OptionKind {
  flag,     // no value on the command line (--cgi, or --cgi=false); true/false in the file
  text,     // a string
  integer,  // decimal, within the row's range; a TOML integer or a string
  bytes,    // 16777216, or 16M / 64k / 1G (powers of 1024); a TOML integer or a string
  millis,   // milliseconds: 250, or "250ms", "10s", "2m"; a TOML integer or a string
  octal,    // a file mode: 0660 on the command line, "0660" or 0o660 in the file
};

// Option: one setting. `set` parses the text form and stores it (throws std::invalid_argument
// with a message that does not repeat the option's name: the caller adds the flag or the
// file's key and line); `get` gives the current value in the same text form, so a value read
// back parses to itself.
struct Option {
  std::string flag;  // command line: --flag VALUE, --flag=VALUE
  std::string key;   // TOML key; dotted ("mysql.host") is also `[mysql]` + `host = ...`
  OptionKind kind = OptionKind::text;
  std::string value_name;  // --help's placeholder: "MS", "BYTES", "PATH"
  std::string help;        // one line
  std::function<void(const std::string&)> set;
  std::function<std::string()> get;
  // Spelled without a value on the command line (next argument missing or starting with
  // "--"), set("") is called, and `true` in the file does the same: --access-log alone.
  bool value_optional = false;
  std::vector<std::string> aliases;  // other flags for the same row (older spellings)
  std::string section = "Server";    // --help and the reference group rows by it

  // Chained setters, for readable tables: text_option(...).with_key("mysql.host").
  Option& with_key(std::string k) {
    key = std::move(k);
    return *this;
  }
  Option& with_value_name(std::string v) {
    value_name = std::move(v);
    return *this;
  }
  Option& with_alias(std::string a) {
    aliases.push_back(std::move(a));
    return *this;
  }
  Option& in_section(std::string s) {
    section = std::move(s);
    return *this;
  }
};

// Row builders. `flag` is the command-line name without "--" ("idle-timeout"); the TOML key
// is the same with '_' for '-' ("idle_timeout") unless with_key() changes it. The row keeps
// the pointer: the field must outlive the parse.
COFCGI_API Option flag_option(std::string flag, bool* field, std::string help);
COFCGI_API Option text_option(std::string flag, std::string* field, std::string value_name,
                              std::string help);
COFCGI_API Option bytes_option(std::string flag, std::size_t* field, std::string help);
COFCGI_API Option millis_option(std::string flag, std::chrono::milliseconds* field,
                                std::string help);
COFCGI_API Option octal_option(std::string flag, mode_t* field, std::string help);
// integer_option: any integer field, checked against [min, max].
COFCGI_API Option integer_option(std::string flag, long long min, long long max,
                                 std::function<void(long long)> store,
                                 std::function<long long()> load, std::string help);
template <class T>
Option integer_option(std::string flag, T* field, long long min, long long max, std::string help) {
  return integer_option(
      std::move(flag), min, max, [field](long long v) { *field = static_cast<T>(v); },
      [field] { return static_cast<long long>(*field); }, std::move(help));
}

// AppOptions: an app's own rows, read with the server's (parse_server_args below). Rows of
// an app share the file and the command line with the server's: a flag or key used twice is
// an error at parse time.
class COFCGI_API AppOptions {
 public:
  // add appends a row (section "App" unless the row names one).
  Option& add(Option option);
  const std::vector<Option>& rows() const { return rows_; }
  // extra_help is printed after the rows in --help (examples, notes).
  std::string extra_help;
  // server_defaults changes the server's defaults before the file and the command line are
  // read, so both can still override them and --help shows them (guestbook: a 64 KiB
  // max_body that --max-body raises).
  std::function<void(ServerOptions&)> server_defaults;

 private:
  std::vector<Option> rows_;
};

// server_option_rows: the server's rows, bound to `o` (cgi/src/server_args.cpp).
COFCGI_API std::vector<Option> server_option_rows(ServerOptions& o);

}  // namespace co::cgi
