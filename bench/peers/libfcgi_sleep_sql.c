/* libfcgi_sleep_sql: the multi-threaded model libco replaced, the peer of cofcgi's
 * examples/sleep_sql in `bench/run io`. A pool of N threads, each blocking in its own
 * FCGX_Accept_r loop on the shared listening socket and holding its own MariaDB connection
 * for its whole life (libfcgi's threaded.c pattern plus one MYSQL* per thread). Answers
 * /?s=SECONDS by running SELECT SLEEP(SECONDS), the same bytes as sleep_sql.
 *
 *   libfcgi_sleep_sql --listen HOST:PORT --threads N --mysql-socket PATH [--backlog B]
 *
 * Build (Debian libfcgi-dev, libmariadb-dev):
 *   cc -O2 -pthread -o libfcgi_sleep_sql bench/peers/libfcgi_sleep_sql.c -lfcgi -lmariadb
 * bench/run builds it into BUILD_DIR/bench/peers/.
 */
#include <fcgiapp.h>
#include <mysql.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct options {
  const char* listen;
  const char* mysql_socket;
  int threads;
  int backlog;
};

static struct options opts = {"127.0.0.1:9002", "/run/mysqld/mysqld.sock", 32, 1024};
static int listen_fd = -1;

static MYSQL* connect_db(void) {
  MYSQL* db = mysql_init(NULL);
  if (db == NULL) return NULL;
  if (mysql_real_connect(db, NULL, "root", NULL, NULL, 0, opts.mysql_socket, 0) == NULL) {
    fprintf(stderr, "libfcgi_sleep_sql: connect: %s\n", mysql_error(db));
    mysql_close(db);
    return NULL;
  }
  return db;
}

/* The seconds argument, checked as sleep_sql checks it: digits and at most one dot. */
static int parse_seconds(const char* query, char* out, size_t size) {
  const char* s = query ? strstr(query, "s=") : NULL;
  if (s == NULL || (s != query && s[-1] != '&')) {
    snprintf(out, size, "0");
    return 1;
  }
  s += 2;
  size_t n = strcspn(s, "&");
  if (n == 0 || n >= size || n > 12) return 0;
  int dots = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.')
      dots++;
    else if (s[i] < '0' || s[i] > '9')
      return 0;
  }
  if (dots > 1) return 0;
  memcpy(out, s, n);
  out[n] = '\0';
  return 1;
}

/* One query on this thread's connection; reconnects once when the server went away. */
static int run_sleep(MYSQL** db, const char* seconds, char* value, size_t size) {
  char sql[64];
  snprintf(sql, sizeof sql, "SELECT SLEEP(%s)", seconds);
  for (int attempt = 0; attempt < 2; attempt++) {
    if (*db == NULL && (*db = connect_db()) == NULL) return 0;
    if (mysql_query(*db, sql) == 0) {
      MYSQL_RES* res = mysql_store_result(*db);
      MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
      snprintf(value, size, "%s", row && row[0] ? row[0] : "NULL");
      if (res) mysql_free_result(res);
      return row != NULL;
    }
    fprintf(stderr, "libfcgi_sleep_sql: query: %s\n", mysql_error(*db));
    mysql_close(*db);
    *db = NULL;
  }
  return 0;
}

static void* serve(void* arg) {
  (void)arg;
  MYSQL* db = connect_db(); /* the pool is warm before the first request */
  FCGX_Request request;
  if (FCGX_InitRequest(&request, listen_fd, 0) != 0) return NULL;
  while (FCGX_Accept_r(&request) >= 0) {
    char seconds[16], value[32];
    if (!parse_seconds(FCGX_GetParam("QUERY_STRING", request.envp), seconds, sizeof seconds)) {
      FCGX_PutS(
          "Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n"
          "s must be a number of seconds between 0 and 600\n",
          request.out);
    } else if (!run_sleep(&db, seconds, value, sizeof value)) {
      FCGX_PutS(
          "Status: 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\n"
          "database unavailable\n",
          request.out);
    } else {
      FCGX_FPrintF(request.out, "Content-Type: text/plain\r\n\r\nSLEEP(%s) = %s\n", seconds, value);
    }
    FCGX_Finish_r(&request);
  }
  if (db) mysql_close(db);
  return NULL;
}

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--listen") == 0)
      opts.listen = argv[i + 1];
    else if (strcmp(argv[i], "--threads") == 0)
      opts.threads = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--mysql-socket") == 0)
      opts.mysql_socket = argv[i + 1];
    else if (strcmp(argv[i], "--backlog") == 0)
      opts.backlog = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "libfcgi_sleep_sql: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (opts.threads < 1) {
    fprintf(stderr, "libfcgi_sleep_sql: --threads must be at least 1\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); /* nginx closing a connection early must not kill us */
  if (FCGX_Init() != 0 || mysql_library_init(0, NULL, NULL) != 0) {
    fprintf(stderr, "libfcgi_sleep_sql: library init failed\n");
    return 1;
  }
  /* libfcgi catches SIGTERM only to finish the current request, and its threads then sit in
   * accept() for good: let SIGTERM end the process, as for any other server. */
  signal(SIGTERM, SIG_DFL);
  listen_fd = FCGX_OpenSocket(opts.listen, opts.backlog);
  if (listen_fd < 0) {
    fprintf(stderr, "libfcgi_sleep_sql: cannot listen on %s\n", opts.listen);
    return 1;
  }
  /* Small stacks would be a tuning most deployments never do: keep glibc's default (8 MiB
   * reserved, only the touched pages resident). */
  pthread_t* threads = calloc((size_t)opts.threads, sizeof *threads);
  if (threads == NULL) return 1;
  for (int i = 0; i < opts.threads; i++) {
    if (pthread_create(&threads[i], NULL, serve, NULL) != 0) {
      fprintf(stderr, "libfcgi_sleep_sql: pthread_create failed at thread %d\n", i);
      return 1;
    }
  }
  for (int i = 0; i < opts.threads; i++) pthread_join(threads[i], NULL);
  free(threads);
  return 0;
}
