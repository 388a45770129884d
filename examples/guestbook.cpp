// guestbook: a small real app in the intended style. A MariaDB table, a form to post a
// message (POST, urlencoded, protected by a double-submit CSRF token), and a page listing
// the latest messages with every user-supplied byte HTML-escaped. Handlers are plain
// synchronous code: the pool parks the coroutine, not the thread.
//   guestbook --listen 127.0.0.1:9000 --mysql-socket /run/mysqld/mysqld.sock --mysql-db demo
#include <sys/random.h>

#include <cstdio>
#include <exception>
#include <string>

#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/cgi/server.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/scheduler.h"
#include "mysql_args.h"
#include "pool_status.h"

namespace {

using co::cgi::html_escape;
using co::cgi::Request;
using co::cgi::Response;

constexpr std::size_t kMaxName = 64;
constexpr std::size_t kMaxMessage = 2000;

std::string random_token() {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes))
    throw std::runtime_error("getrandom");
  static const char hex[] = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token += hex[b >> 4];
    token += hex[b & 15];
  }
  return token;
}

void create_table(co::mysql::Pool& pool) {
  // Before serving, on a scheduler of its own: one coroutine, one connection.
  std::exception_ptr failure;
  co::go([&] {
    try {
      pool.acquire().execute(
          "CREATE TABLE IF NOT EXISTS guestbook ("
          " id INT AUTO_INCREMENT PRIMARY KEY,"
          " name VARCHAR(64) NOT NULL,"
          " message TEXT NOT NULL,"
          " created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)");
    } catch (...) {
      failure = std::current_exception();
    }
  });
  co::run();
  // This thread's scheduler stops running while the server serves on its threads: close
  // the connection kept idle here rather than hold it out of the pool's budget.
  pool.close_idle();
  if (failure) std::rethrow_exception(failure);
}

void show_page(Request& request, Response& response, co::mysql::Pool& pool,
               std::string_view notice) {
  // The CSRF token lives in a cookie and in the form: a cross-site form post cannot read the
  // cookie to copy it into the field.
  std::string token = request.cookie("csrf").value_or("");
  if (token.size() != 32) {
    token = random_token();
    response.add_header("Set-Cookie", "csrf=" + token + "; Path=/; HttpOnly; SameSite=Strict");
  }
  auto connection = pool.acquire();
  const co::mysql::Result rows =
      connection.prepare("SELECT name, message, created_at FROM guestbook ORDER BY id DESC LIMIT ?")
          .execute(20);
  response.set_content_type("text/html; charset=utf-8");
  response
      << "<!doctype html><html><head><meta charset=\"utf-8\"><title>Guestbook</title></head><body>"
         "<h1>Guestbook</h1>";
  if (!notice.empty()) response << "<p><strong>" << html_escape(notice) << "</strong></p>";
  response << "<form method=\"post\" action=\"/messages\">"
              "<input type=\"hidden\" name=\"csrf\" value=\""
           << token
           << "\">"
              "<p><label>Name <input name=\"name\" maxlength=\"64\" required></label></p>"
              "<p><label>Message <textarea name=\"message\" maxlength=\"2000\" "
              "required></textarea></label></p>"
              "<p><button>Sign</button></p></form><ul>";
  for (const co::mysql::Row& row : rows) {
    response << "<li><b>" << html_escape(row.get<std::string>("name")) << "</b> ("
             << html_escape(row.get<std::string>("created_at"))
             << "): " << html_escape(row.get<std::string>("message")) << "</li>";
  }
  response << "</ul></body></html>\n";
}

void post_message(Request& request, Response& response, co::mysql::Pool& pool) {
  const std::string cookie = request.cookie("csrf").value_or("");
  const std::string field = request.form("csrf").value_or("");
  if (cookie.size() != 32 || cookie != field) {
    response.send_error(403, "CSRF token missing or wrong: reload the form and try again\n");
    return;
  }
  const std::string name = request.form("name").value_or("");
  const std::string message = request.form("message").value_or("");
  if (name.empty() || message.empty() || name.size() > kMaxName || message.size() > kMaxMessage) {
    response.set_status(400);
    show_page(request, response, pool,
              "Name (up to 64) and message (up to 2000 characters) are required.");
    return;
  }
  // The values travel apart from the SQL text: nothing to quote, nothing to inject.
  pool.acquire()
      .prepare("INSERT INTO guestbook (name, message) VALUES (?, ?)")
      .execute_update(name, message);
  // Post/redirect/get: a reload does not post twice.
  response.set_status(303);
  response.set_header("Location", "/");
  response.set_content_type("text/plain");
  response << "See /\n";
}

}  // namespace

int main(int argc, char** argv) {
  try {
    co::mysql::Config config = examples::mysql_defaults();
    co::cgi::AppOptions app;
    examples::add_mysql_options(app, config);
    // Messages are short: a small default body limit (--max-body still changes it).
    app.server_defaults = [](co::cgi::ServerOptions& o) { o.max_body = 64 * 1024; };
    const co::cgi::ServerOptions options = co::cgi::parse_server_args(argc, argv, app);
    co::mysql::Pool pool(config);  // one for the process, used from every server thread
    create_table(pool);
    co::cgi::Router router;
    router.get("/", [&pool](Request& q, Response& r) { show_page(q, r, pool, {}); });
    router.post("/messages", [&pool](Request& q, Response& r) { post_message(q, r, pool); });
    co::cgi::Server server(options, std::ref(router));
    examples::add_pool_status(server, pool);
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "guestbook: %s\n", e.what());
    return 2;
  }
}
