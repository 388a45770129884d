// The option table (cofcgi/cgi/options.h, cgi/src/server_args.cpp): the TOML --config file,
// the command line over it, errors that name the key and the line, every row through both
// ways (generated from the table: a row added later is covered without a new test), --help
// listing every row, and the README's reference being the table's current output.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cgi_test_util.h"
#include "cofcgi/cgi/options.h"
#include "cofcgi/cgi/server_options.h"
#ifdef COFCGI_HAVE_MYSQL_ARGS
#include "mysql_args.h"
#endif

using namespace cgi_test;
using co::cgi::AppOptions;
using co::cgi::Option;
using co::cgi::OptionKind;
using co::cgi::ServerOptions;

namespace {

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// parse: parse_server_args over a vector of arguments (the program name is added).
ServerOptions parse(std::vector<std::string> args, AppOptions* app = nullptr) {
  args.insert(args.begin(), "app");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  AppOptions none;
  return co::cgi::parse_server_args(static_cast<int>(args.size()), argv.data(),
                                    app != nullptr ? *app : none);
}

// parse_error: the message parse throws, or "" when it does not.
std::string parse_error(std::vector<std::string> args, AppOptions* app = nullptr) {
  try {
    (void)parse(std::move(args), app);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// values: every row's current value, by key.
std::vector<std::pair<std::string, std::string>> values(ServerOptions& o) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Option& row : co::cgi::server_option_rows(o)) out.emplace_back(row.key, row.get());
  return out;
}

std::string value_of(ServerOptions& o, const std::string& key) {
  for (const auto& [k, v] : values(o)) {
    if (k == key) return v;
  }
  FAIL("no row with key " << key);
  return "";
}

// Sample: a value for one row that its set() accepts and that differs from the default, in
// the text form (command line) and as a TOML literal, with what get() then reads back.
struct Sample {
  std::string text;
  std::string toml;
  std::string expected;
};

Sample sample_for(const std::string& key) {
  // Candidates per kind, tried in order on a scratch ServerOptions; the first that the row
  // takes and that changes its value wins.
  static const std::vector<std::string> kCandidates = {
      "3", "7", "2", "1", "3k", "1234", "0604", "sample-value", "warning", "%m %r %I"};
  ServerOptions scratch;
  for (Option& row : co::cgi::server_option_rows(scratch)) {
    if (row.key != key) continue;
    const std::string before = row.get();
    if (row.kind == OptionKind::flag) {
      const std::string flipped = before == "true" ? "false" : "true";
      return {flipped, flipped, flipped};
    }
    for (const std::string& c : kCandidates) {
      try {
        row.set(c);
      } catch (const std::invalid_argument&) {
        continue;
      }
      if (row.get() == before) continue;
      // Strings in the file always: every kind but flag takes one ("3k", "0604", "1234").
      return {c, "\"" + c + "\"", row.get()};
    }
  }
  FAIL("no sample value for key " << key);
  return {};
}

// field_count: how many members the aggregate T has (the largest brace initialiser it takes).
struct AnyField {
  template <class T>
  operator T() const;
};
template <class T, class... Fields>
constexpr std::size_t field_count() {
  if constexpr (requires { T{Fields{}..., AnyField{}}; })
    return field_count<T, Fields..., AnyField>();
  else
    return sizeof...(Fields);
}

}  // namespace

TEST_CASE("every ServerOptions field has a row in the option table") {
  // Fields set another way: access_log is on when --access-log has a row value, and
  // handle_signals... is a row. Only these have no row of their own:
  const std::vector<std::string> without_row = {"access_log (set by the access-log row)"};
  ServerOptions o;
  const std::size_t rows = co::cgi::server_option_rows(o).size();
  CHECK_MESSAGE(field_count<ServerOptions>() == rows + without_row.size(),
                "ServerOptions has " << field_count<ServerOptions>() << " fields but the table "
                                     << rows
                                     << " rows: add a row for the new field to "
                                        "cgi/src/server_args.cpp");
}

TEST_CASE("an unknown key in the config file is an error naming the key, the file and the line") {
  TempDir dir;
  const std::string path =
      write_file(dir, "app.toml", "# comment\nthreads = 2\nthread = 3\nmax_body = \"1M\"\n");
  const std::string error = parse_error({"--config", path});
  INFO(error);
  CHECK(error.find(path + ":3:1:") == 0);
  CHECK(error.find("unknown key 'thread'") != std::string::npos);
  CHECK(error.find("did you mean 'threads'") != std::string::npos);

  // In a table too: [mysql] is only known when the app declared the MariaDB rows.
  const std::string nested =
      write_file(dir, "nested.toml", "threads = 1\n[mysql]\nhost = \"db\"\n");
  const std::string plain = parse_error({"--config", nested});
  CHECK_MESSAGE(plain.find("unknown key 'mysql'") != std::string::npos, plain);
  CHECK_MESSAGE(plain.find(":2:") != std::string::npos, plain);
}

TEST_CASE("a bad value in the config file is an error naming the key and the line") {
  struct Case {
    std::string line;
    std::string says;  // a piece of the message
  };
  const std::vector<Case> cases = {
      {"threads = \"many\"", "needs a whole number from 1 to 1024"},
      {"threads = 0", "needs a whole number from 1 to 1024, got '0'"},
      {"threads = 2.5", "got a number with a fraction"},
      {"idle_timeout = -5", "needs a duration"},
      {"idle_timeout = \"5 parsecs\"", "needs a duration"},
      {"socket_mode = 660", "octal"},
      {"socket_mode = \"0698\"", "octal"},
      {"max_body = \"12X\"", "needs a size in bytes"},
      {"max_body = -1", "needs a size in bytes"},
      {"cgi = \"yes\"", "needs true or false"},
      {"listen = 9000", "needs a string"},
      {"log_level = \"loud\"", "needs debug, info, warning, error or off"},
      {"access_format = \"%m %Z\"", "unknown token %Z"},
      {"access_format = \"%M\"", "not measured per request"},
  };
  TempDir dir;
  for (const Case& c : cases) {
    CAPTURE(c.line);
    const std::string key = c.line.substr(0, c.line.find(' '));
    const std::string path = write_file(dir, "bad.toml", "# line 1\n\n" + c.line + "\n");
    const std::string error = parse_error({"--config", path});
    INFO(error);
    CHECK(error.find(path + ":3:") == 0);
    CHECK(error.find(": " + key + ": ") != std::string::npos);
    CHECK(error.find(c.says) != std::string::npos);
  }
}

TEST_CASE("a TOML syntax error names the line; a missing file names the file") {
  TempDir dir;
  const std::string path = write_file(dir, "syntax.toml", "threads = 2\nmax_body = \n");
  const std::string error = parse_error({"--config", path});
  CHECK_MESSAGE(error.find(path + ":2:") == 0, error);
  CHECK_MESSAGE(error.find("TOML syntax") != std::string::npos, error);
  const std::string missing = parse_error({"--config", dir.path() + "/none.toml"});
  CHECK_MESSAGE(missing.find("none.toml: cannot read") != std::string::npos, missing);
}

TEST_CASE("bad values on the command line name the flag") {
  CHECK(parse_error({"--threads", "0"}).find("--threads: needs a whole number") == 0);
  CHECK(parse_error({"--idle-timeout=-1"}).find("--idle-timeout: needs a duration") == 0);
  CHECK(parse_error({"--socket-mode", "0999"}).find("--socket-mode: needs an octal") == 0);
  CHECK(parse_error({"--max-body"}).find("--max-body needs a value") == 0);
  CHECK(parse_error({"--no-such-flag"}).find("unknown argument --no-such-flag") == 0);
  CHECK(
      parse_error({"--thread", "2"}).find("unknown argument --thread (did you mean --threads?)") ==
      0);
}

TEST_CASE("every option round-trips from the config file and from the command line") {
  ServerOptions defaults;
  const std::vector<Option> rows = co::cgi::server_option_rows(defaults);
  REQUIRE(rows.size() >= 25);
  TempDir dir;
  for (const Option& row : rows) {
    CAPTURE(row.flag);
    const Sample s = sample_for(row.key);
    const std::string path = write_file(dir, "one.toml", row.key + " = " + s.toml + "\n");
    ServerOptions from_file = parse({"--config", path});
    CHECK(value_of(from_file, row.key) == s.expected);

    std::vector<std::string> args = {"--" + row.flag};
    if (row.kind != OptionKind::flag) args.push_back(s.text);
    if (row.kind == OptionKind::flag && s.text == "false") args = {"--" + row.flag + "=false"};
    ServerOptions from_line = parse(args);
    CHECK(value_of(from_line, row.key) == s.expected);

    // Nothing else moved: every other row still has its default.
    ServerOptions fresh;
    for (const auto& [key, value] : values(from_file)) {
      if (key != row.key) CHECK_MESSAGE(value == value_of(fresh, key), key);
    }
  }
}

TEST_CASE("the command line overrides the config file, wherever --config stands") {
  TempDir dir;
  const std::string path =
      write_file(dir, "app.toml",
                 "threads = 3\nidle_timeout = \"5s\"\nmax_body = 65536\nsocket_mode = 0o600\n");
  for (const auto& args : {std::vector<std::string>{"--config", path, "--threads", "5"},
                           std::vector<std::string>{"--threads", "5", "--config", path},
                           std::vector<std::string>{"--threads=5", "--config=" + path}}) {
    ServerOptions o = parse(args);
    CHECK(o.threads == 5);
    CHECK(o.idle_timeout == std::chrono::seconds(5));
    CHECK(o.max_body == 65536);
    CHECK(o.unix_socket_mode == 0600);
  }
}

TEST_CASE("--access-log alone (the old bool) still works; --access-log PATH names a file") {
  // The default format is one the row accepts (the server compiles it at start).
  CHECK(parse_error({"--access-format", ServerOptions().access_format}).empty());
  CHECK(parse_error({"--access-format", "%{mili}d %{micro}d %{seconds}d"}).empty());
  ServerOptions old = parse({"--access-log", "--threads", "2"});
  CHECK(old.access_log);
  CHECK(old.access_log_path.empty());
  CHECK(old.threads == 2);
  ServerOptions file = parse({"--access-log", "/var/log/app/access.log"});
  CHECK(file.access_log);
  CHECK(file.access_log_path == "/var/log/app/access.log");
  TempDir dir;
  ServerOptions from_file = parse({"--config", write_file(dir, "a.toml", "access_log = true\n")});
  CHECK(from_file.access_log);
  CHECK(from_file.access_log_path.empty());
}

#ifdef COFCGI_HAVE_MYSQL_ARGS
TEST_CASE("an app's options (MariaDB's) come from the file's [mysql] table and the command line") {
  TempDir dir;
  const std::string path = write_file(dir, "app.toml",
                                      "threads = 2\n"
                                      "[mysql]\n"
                                      "host = \"db.internal\"\n"
                                      "port = 3307\n"
                                      "user = \"app\"\n"
                                      "pool = 4\n");
  co::mysql::Config db = examples::mysql_defaults();
  AppOptions app;
  examples::add_mysql_options(app, db);
  ServerOptions o = parse({"--config", path, "--mysql-user", "override", "--pool=8"}, &app);
  CHECK(o.threads == 2);
  CHECK(db.host == "db.internal");
  CHECK(db.port == 3307);
  CHECK(db.user == "override");
  CHECK(db.max_connections == 8);

  // A bad value in the app's table names its dotted key and line.
  const std::string bad = write_file(dir, "bad.toml", "[mysql]\nport = 70000\n");
  co::mysql::Config db2 = examples::mysql_defaults();
  AppOptions app2;
  examples::add_mysql_options(app2, db2);
  const std::string error = parse_error({"--config", bad}, &app2);
  CHECK_MESSAGE(error.find(bad + ":2:") == 0, error);
  CHECK_MESSAGE(error.find("mysql.port: needs a whole number from 1 to 65535") != std::string::npos,
                error);
  const std::string typo = write_file(dir, "typo.toml", "[mysql]\nhots = \"x\"\n");
  const std::string typo_error = parse_error({"--config", typo}, &app2);
  CHECK_MESSAGE(typo_error.find("did you mean 'mysql.host'") != std::string::npos, typo_error);

  // The older way (parse_server_args with `rest`, then parse_mysql_args) keeps working.
  std::vector<std::string> rest = {"--mysql-socket", "/run/db.sock", "--pool", "3"};
  const co::mysql::Config old = examples::parse_mysql_args(rest);
  CHECK(old.unix_socket == "/run/db.sock");
  CHECK(old.max_connections == 3);
  CHECK(old.user == "root");
}
#endif

TEST_CASE("an app's server defaults apply before the file and the command line") {
  AppOptions app;
  app.server_defaults = [](ServerOptions& o) { o.max_body = 64 * 1024; };
  CHECK(parse({}, &app).max_body == 64 * 1024);
  CHECK(parse({"--max-body", "1M"}, &app).max_body == 1024 * 1024);
  TempDir dir;
  CHECK(parse({"--config", write_file(dir, "a.toml", "max_body = \"2M\"\n")}, &app).max_body ==
        2 * 1024 * 1024);
}

TEST_CASE("a flag or key declared twice is refused") {
  std::string shadow;
  AppOptions app;
  app.add(co::cgi::text_option("threads", &shadow, "N", "an app row shadowing the server's"));
  CHECK_THROWS_AS(parse({}, &app), std::logic_error);
}

TEST_CASE("--help lists every option of the table, and the app's") {
  const RunResult hello = run_program({COFCGI_HELLO_EXE, "--help"}, "");
  REQUIRE(WIFEXITED(hello.status));
  CHECK(WEXITSTATUS(hello.status) == 0);
  ServerOptions o;
  for (const Option& row : co::cgi::server_option_rows(o)) {
    CHECK_MESSAGE(hello.out.find("  --" + row.flag) != std::string::npos, row.flag);
    CHECK_MESSAGE(hello.out.find(row.help.substr(0, 30)) != std::string::npos, row.flag);
  }
  for (const char* builtin : {"--config FILE", "--help", "--version", "--options-reference"})
    CHECK(hello.out.find(builtin) != std::string::npos);
#ifdef COFCGI_SLEEP_SQL_EXE
  const RunResult sleep_sql = run_program({COFCGI_SLEEP_SQL_EXE, "--help"}, "");
  CHECK(WEXITSTATUS(sleep_sql.status) == 0);
  for (const char* flag :
       {"--mysql-host HOST", "--mysql-port N", "--mysql-user USER", "--mysql-password PW",
        "--mysql-db NAME", "--mysql-socket PATH", "--pool N", "MariaDB options:"})
    CHECK_MESSAGE(sleep_sql.out.find(flag) != std::string::npos, flag);
#endif
}

TEST_CASE("a broken config file stops the program with the key and the line on stderr") {
  TempDir dir;
  const std::string path = write_file(dir, "app.toml", "threads = 2\nidle_timeout = \"soon\"\n");
  const RunResult r = run_program({COFCGI_HELLO_EXE, "--config", path}, "");
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) != 0);
  CHECK_MESSAGE(r.err.find(path + ":2:16: idle_timeout: needs a duration") != std::string::npos,
                r.err);
}

TEST_CASE("the README's option reference is the table's output") {
  const RunResult r = run_program({COFCGI_HELLO_EXE, "--options-reference"}, "");
  REQUIRE(WEXITSTATUS(r.status) == 0);
  const std::string readme = read_file(COFCGI_SOURCE_DIR "/README.md");
  const std::string begin = "<!-- options-reference: begin -->\n";
  const std::string end = "<!-- options-reference: end -->";
  const std::size_t from = readme.find(begin);
  const std::size_t to = readme.find(end);
  REQUIRE_MESSAGE(from != std::string::npos, "README.md has no " << begin);
  REQUIRE(to != std::string::npos);
  const std::string copy = readme.substr(from + begin.size(), to - from - begin.size());
  CHECK_MESSAGE(copy == r.out,
                "README.md's option reference is out of date: run scripts/options-reference "
                "(it rewrites the block from `hello --options-reference`)");
}
