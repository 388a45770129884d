// Prepared statements (mysql_stmt_*: parameters in, result binding out) and transactions
// (BEGIN/INSERT/ROLLBACK vs COMMIT, seen or not from another connection), all inside
// coroutines running concurrently on one thread.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

struct StmtCloser {
  void operator()(MYSQL_STMT* s) const { mysql_stmt_close(s); }
};
using StmtPtr = std::unique_ptr<MYSQL_STMT, StmtCloser>;

StmtPtr prepare(MYSQL* m, const std::string& sql) {
  StmtPtr s(mysql_stmt_init(m));
  REQUIRE(s);
  if (mysql_stmt_prepare(s.get(), sql.data(), sql.size()) != 0)
    co::mysql::throw_error(s.get(), "prepare");
  return s;
}

std::string scalar(MYSQL* m, const std::string& sql) {
  auto r = co::mysql::query(m, sql);
  REQUIRE(r.size() == 1);
  return r.value(0, 0);
}

struct Item {
  long long id = 0;
  char name[65] = {};
  unsigned long name_len = 0;
  double price = 0;
  long long qty = 0;
  char note[256] = {};
  unsigned long note_len = 0;
  my_bool note_null = 0;
};

}  // namespace

TEST_CASE("prepared statements: parameters and result binding, from 10 concurrent coroutines") {
  {
    MysqlPtr m = connect(Transport::tcp);
    co::mysql::execute(m.get(), "DROP TABLE IF EXISTS items");
    co::mysql::execute(m.get(),
                       "CREATE TABLE items (id BIGINT AUTO_INCREMENT PRIMARY KEY, owner INT NOT "
                       "NULL, name VARCHAR(64) "
                       "NOT NULL, price DOUBLE NOT NULL, qty BIGINT NOT NULL, note TEXT NULL, KEY "
                       "(owner)) ENGINE=InnoDB");
  }
  constexpr int kCoroutines = 10, kRows = 25;
  Ticker ticker;
  const co::Deadline start = co::now_ns();
  run_coroutines(
      kCoroutines,
      [&](int owner) {
        MysqlPtr m =
            connect(owner % 2 ? Transport::tcp : Transport::unix_localhost, {.read_timeout = 30});
        // INSERT with 5 parameters, executed kRows times with rebound values.
        StmtPtr ins = prepare(
            m.get(), "INSERT INTO items (owner, name, price, qty, note) VALUES (?, ?, ?, ?, ?)");
        REQUIRE(mysql_stmt_param_count(ins.get()) == 5);
        int p_owner = owner;
        char p_name[65];
        unsigned long p_name_len = 0;
        double p_price = 0;
        long long p_qty = 0;
        char p_note[64];
        unsigned long p_note_len = 0;
        my_bool p_note_null = 0;
        MYSQL_BIND in[5];
        std::memset(in, 0, sizeof in);
        in[0].buffer_type = MYSQL_TYPE_LONG;
        in[0].buffer = &p_owner;
        in[1].buffer_type = MYSQL_TYPE_STRING;
        in[1].buffer = p_name;
        in[1].length = &p_name_len;
        in[2].buffer_type = MYSQL_TYPE_DOUBLE;
        in[2].buffer = &p_price;
        in[3].buffer_type = MYSQL_TYPE_LONGLONG;
        in[3].buffer = &p_qty;
        in[4].buffer_type = MYSQL_TYPE_STRING;
        in[4].buffer = p_note;
        in[4].length = &p_note_len;
        in[4].is_null = &p_note_null;
        REQUIRE(mysql_stmt_bind_param(ins.get(), in) == 0);
        for (int r = 0; r < kRows; ++r) {
          p_name_len = static_cast<unsigned long>(
              std::snprintf(p_name, sizeof p_name, "item-%d-%d 'quoted' \"x\"", owner, r));
          p_price = owner * 100 + r + 0.25;
          p_qty = (1LL << 40) + owner * 1000 + r;
          p_note_null = (r % 3 == 0);
          p_note_len =
              static_cast<unsigned long>(std::snprintf(p_note, sizeof p_note, "note %d", r));
          if (mysql_stmt_execute(ins.get()) != 0) co::mysql::throw_error(ins.get(), "insert");
          CHECK(mysql_stmt_affected_rows(ins.get()) == 1);
          CHECK(mysql_stmt_insert_id(ins.get()) > 0);
        }

        // SELECT with a parameter and every column bound to typed output buffers.
        StmtPtr sel = prepare(
            m.get(), "SELECT id, name, price, qty, note FROM items WHERE owner = ? ORDER BY id");
        MYSQL_BIND sel_in[1];
        std::memset(sel_in, 0, sizeof sel_in);
        sel_in[0].buffer_type = MYSQL_TYPE_LONG;
        sel_in[0].buffer = &p_owner;
        REQUIRE(mysql_stmt_bind_param(sel.get(), sel_in) == 0);
        if (mysql_stmt_execute(sel.get()) != 0) co::mysql::throw_error(sel.get(), "select");
        Item it;
        MYSQL_BIND out[5];
        std::memset(out, 0, sizeof out);
        out[0].buffer_type = MYSQL_TYPE_LONGLONG;
        out[0].buffer = &it.id;
        out[1].buffer_type = MYSQL_TYPE_STRING;
        out[1].buffer = it.name;
        out[1].buffer_length = sizeof it.name;
        out[1].length = &it.name_len;
        out[2].buffer_type = MYSQL_TYPE_DOUBLE;
        out[2].buffer = &it.price;
        out[3].buffer_type = MYSQL_TYPE_LONGLONG;
        out[3].buffer = &it.qty;
        out[4].buffer_type = MYSQL_TYPE_STRING;
        out[4].buffer = it.note;
        out[4].buffer_length = sizeof it.note;
        out[4].length = &it.note_len;
        out[4].is_null = &it.note_null;
        REQUIRE(mysql_stmt_bind_result(sel.get(), out) == 0);
        REQUIRE(mysql_stmt_store_result(sel.get()) == 0);
        CHECK(mysql_stmt_num_rows(sel.get()) == kRows);
        int r = 0;
        long long last_id = 0;
        int fetch;
        while ((fetch = mysql_stmt_fetch(sel.get())) == 0) {
          char expect[65];
          std::snprintf(expect, sizeof expect, "item-%d-%d 'quoted' \"x\"", owner, r);
          CHECK(std::string(it.name, it.name_len) == expect);
          CHECK(it.price == doctest::Approx(owner * 100 + r + 0.25));
          CHECK(it.qty == (1LL << 40) + owner * 1000 + r);
          CHECK(static_cast<bool>(it.note_null) == (r % 3 == 0));
          if (!it.note_null)
            CHECK(std::string(it.note, it.note_len) == "note " + std::to_string(r));
          CHECK(it.id > last_id);
          last_id = it.id;
          ++r;
        }
        CHECK(fetch == MYSQL_NO_DATA);
        CHECK(r == kRows);

        // The same prepared statement again, after a parameter change, with a SLEEP in the
        // server so the coroutines overlap there.
        StmtPtr slow = prepare(m.get(), "SELECT COUNT(*), SLEEP(?) FROM items WHERE owner = ?");
        double p_sleep = 0.5;
        MYSQL_BIND slow_in[2];
        std::memset(slow_in, 0, sizeof slow_in);
        slow_in[0].buffer_type = MYSQL_TYPE_DOUBLE;
        slow_in[0].buffer = &p_sleep;
        slow_in[1].buffer_type = MYSQL_TYPE_LONG;
        slow_in[1].buffer = &p_owner;
        REQUIRE(mysql_stmt_bind_param(slow.get(), slow_in) == 0);
        long long count = 0, slept = -1;
        MYSQL_BIND slow_out[2];
        std::memset(slow_out, 0, sizeof slow_out);
        slow_out[0].buffer_type = MYSQL_TYPE_LONGLONG;
        slow_out[0].buffer = &count;
        slow_out[1].buffer_type = MYSQL_TYPE_LONGLONG;
        slow_out[1].buffer = &slept;
        if (mysql_stmt_execute(slow.get()) != 0) co::mysql::throw_error(slow.get(), "slow");
        REQUIRE(mysql_stmt_bind_result(slow.get(), slow_out) == 0);
        REQUIRE(mysql_stmt_fetch(slow.get()) == 0);
        CHECK(count == kRows);
        CHECK(slept == 0);
        CHECK(mysql_stmt_fetch(slow.get()) == MYSQL_NO_DATA);
      },
      &ticker);
  const double elapsed = seconds_since(start);
  MESSAGE("prepared statements, 10 coroutines x 25 inserts + selects + SLEEP(0.5): ", elapsed,
          " s, ticker max gap ", ticker.max_gap() * 1e3, " ms");
  CHECK(elapsed < 3.0);  // the ten SLEEP(0.5) overlap (serial: 5 s for the sleeps alone)
  // Sanity only (a loaded box stalls ~0.5 s at times); `elapsed` is the proof.
  CHECK(ticker.max_gap() < 1.0);
  MysqlPtr m = connect(Transport::unix_default_host);
  CHECK(scalar(m.get(), "SELECT COUNT(*) FROM items") == std::to_string(kCoroutines * kRows));
}

TEST_CASE("transactions: ROLLBACK is never seen, COMMIT is, by another coroutine's connection") {
  {
    MysqlPtr m = connect(Transport::tcp);
    co::mysql::execute(m.get(), "DROP TABLE IF EXISTS ledger");
    co::mysql::execute(m.get(),
                       "CREATE TABLE ledger (id INT PRIMARY KEY, amount INT) ENGINE=InnoDB");
  }
  // Steps alternate between the writer and the reader coroutine through a channel, so the
  // reader looks while the writer's transaction is open, after ROLLBACK and after COMMIT.
  co::Channel<int> to_reader, to_writer;
  std::vector<std::string> seen;
  run_coroutines(2, [&](int role) {
    if (role == 0) {  // writer
      MysqlPtr w = connect(Transport::unix_localhost, {.read_timeout = 10});
      co::mysql::execute(w.get(), "BEGIN");
      co::mysql::execute(w.get(), "INSERT INTO ledger VALUES (1, 100), (2, 200)");
      CHECK(scalar(w.get(), "SELECT COUNT(*) FROM ledger") == "2");  // its own writes
      to_reader.send(1);
      to_writer.receive();
      co::mysql::execute(w.get(), "ROLLBACK");
      CHECK(scalar(w.get(), "SELECT COUNT(*) FROM ledger") == "0");
      to_reader.send(2);
      to_writer.receive();
      // The C API's own transaction calls this time.
      REQUIRE(mysql_autocommit(w.get(), 0) == 0);
      co::mysql::execute(w.get(), "INSERT INTO ledger VALUES (3, 300)");
      to_reader.send(3);
      to_writer.receive();
      REQUIRE(mysql_commit(w.get()) == 0);
      REQUIRE(mysql_autocommit(w.get(), 1) == 0);
      to_reader.send(4);
      to_writer.receive();
    } else {  // reader
      MysqlPtr r = connect(Transport::tcp, {.read_timeout = 10});
      for (int step = 1; step <= 4; ++step) {
        REQUIRE(to_reader.receive() == step);
        seen.push_back(
            scalar(r.get(), "SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(amount), 0)) FROM ledger"));
        to_writer.send(step);
      }
    }
  });
  CHECK(seen == std::vector<std::string>{"0:0", "0:0", "0:0", "1:300"});
}
