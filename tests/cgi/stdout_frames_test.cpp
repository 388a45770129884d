// StdoutFrames (how a connection frames a response part for one writev/sendmsg) and
// write_fully's gather write: records whole and padded, END_REQUEST after the last STDOUT,
// batches of kBatchRecords records, and partial writes and a full socket across pieces.
#include "stdout_frames.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <string>
#include <vector>

#include "cofcgi/cgi/record.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/unique_fd.h"
#include "io.h"
#include "unit_test_util.h"

using co::cgi::RecordType;
using co::cgi::detail::FdKind;
using co::cgi::detail::ResponsePart;
using co::cgi::detail::StdoutFrames;
using cofcgi_test::ParsedRecord;
using cofcgi_test::type_of;

namespace {

constexpr std::uint16_t kId = 9;

// Framed: every batch of a part, as bytes.
std::vector<std::string> frame(const ResponsePart& part) {
  std::vector<std::string> batches;
  StdoutFrames frames(kId, part);
  while (!frames.done()) {
    std::string bytes;
    for (const iovec& piece : frames.next())
      bytes.append(static_cast<const char*>(piece.iov_base), piece.iov_len);
    batches.push_back(std::move(bytes));
  }
  return batches;
}

// check_records: whole records of kId, each 8-byte aligned with zero padding, STDOUT ones at
// most kStdoutChunk; returns them.
std::vector<ParsedRecord> check_records(std::string_view bytes) {
  std::string_view rest = bytes;
  while (!rest.empty()) {
    co::cgi::Record record;
    const co::cgi::ParseResult r = co::cgi::parse_record(rest.data(), rest.size(), &record);
    REQUIRE(r.status == co::cgi::ParseStatus::record);
    CHECK(r.consumed % 8 == 0);
    CHECK(record.request_id == kId);
    CHECK(record.content.size() <= StdoutFrames::kStdoutChunk);
    const std::string_view padding = rest.substr(r.consumed - record.padding, record.padding);
    CHECK(padding.find_first_not_of('\0') == std::string_view::npos);
    rest.remove_prefix(r.consumed);
  }
  return cofcgi_test::parse_records(bytes);
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

}  // namespace

TEST_CASE("stdout_frames: a small last part is one batch: head, body, end of stream, END_REQUEST") {
  const std::string head = "Status: 200 OK\r\nContent-Length: 3\r\n\r\n";
  const std::vector<std::string> batches = frame({head, "hi\n", true, 42});
  REQUIRE(batches.size() == 1);
  const std::vector<ParsedRecord> records = check_records(batches[0]);
  REQUIRE(records.size() == 4);
  CHECK(records[0].type == type_of(RecordType::stdout_stream));
  CHECK(records[0].content == head);
  CHECK(records[1].content == "hi\n");
  CHECK(records[2].type == type_of(RecordType::stdout_stream));
  CHECK(records[2].content.empty());
  CHECK(records[3].type == type_of(RecordType::end_request));
  REQUIRE(records[3].content.size() == 8);
  CHECK(records[3].content[3] == 42);  // app status, big-endian
  CHECK(records[3].content[4] == 0);   // FCGI_REQUEST_COMPLETE
}

TEST_CASE("stdout_frames: a part that is not the last has no end records") {
  const std::vector<std::string> batches = frame({"", "body", false, 0});
  REQUIRE(batches.size() == 1);
  const std::vector<ParsedRecord> records = check_records(batches[0]);
  REQUIRE(records.size() == 1);
  CHECK(records[0].content == "body");
  CHECK(frame({"", "", false, 0}).empty());  // nothing to send: no write at all
}

TEST_CASE("stdout_frames: a large body comes in batches of kBatchRecords records, END last") {
  const std::string head = "Status: 200 OK\r\n\r\n";
  const std::string body = pattern(10 * StdoutFrames::kStdoutChunk + 5);  // 11 records
  const std::vector<std::string> batches = frame({head, body, true, 0});
  REQUIRE(batches.size() == 2);  // 8 records, then 4 records and END_REQUEST
  std::string all;
  for (const std::string& b : batches) {
    check_records(b);
    all += b;
  }
  const std::vector<ParsedRecord> records = check_records(all);
  REQUIRE(records.size() == 1 + 11 + 2);
  std::string stream;
  for (std::size_t i = 0; i + 2 < records.size(); ++i) stream += records[i].content;
  CHECK(stream == head + body);
  CHECK(records[records.size() - 2].content.empty());
  CHECK(records.back().type == type_of(RecordType::end_request));
}

TEST_CASE("write_fully: pieces across partial writes and a full socket arrive whole, in order") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  co::UniqueFd writer(sv[0]), reader(sv[1]);
  const int small = 4096;
  ::setsockopt(writer.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  REQUIRE(co::cgi::detail::set_nonblocking(writer.get()));
  REQUIRE(co::cgi::detail::set_nonblocking(reader.get()));

  // 300 pieces of 1..6,000 bytes (some empty), ~900 KB: many partial sendmsg calls, some
  // ending inside a piece.
  const std::string data = pattern(900 * 1000);
  std::vector<iovec> pieces;
  std::size_t at = 0;
  for (std::size_t i = 0; at < data.size(); ++i) {
    const std::size_t n = std::min(data.size() - at, (i * 2654435761u) % 6000);
    pieces.push_back(iovec{const_cast<char*>(data.data() + at), n});
    at += n;
  }
  bool ok = false;
  std::size_t written = 0;
  std::string got;
  co::go([&] {
    ok = co::cgi::detail::write_fully(writer.get(), FdKind::socket, pieces.data(), pieces.size(),
                                      co::deadline_after(std::chrono::seconds(20)), &written);
  });
  co::go([&] {
    char buf[7000];
    while (got.size() < data.size()) {
      const ssize_t n = ::recv(reader.get(), buf, sizeof buf, 0);
      if (n > 0) {
        got.append(buf, static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EAGAIN) {
        co::WakeReason reason;
        REQUIRE(co::wait_fd(reader.get(), POLLIN, co::kNoDeadline, &reason) == 0);
      } else {
        FAIL("recv: " << n);
      }
    }
  });
  co::run();
  CHECK(ok);
  CHECK(written == data.size());
  CHECK(got == data);
}

TEST_CASE("write_fully: nobody reads: false with EAGAIN at the deadline, what went out counted") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  co::UniqueFd writer(sv[0]), reader(sv[1]);
  REQUIRE(co::cgi::detail::set_nonblocking(writer.get()));
  const std::string data = pattern(4 * 1024 * 1024);
  bool ok = true;
  int err = 0;
  std::size_t written = 0;
  co::go([&] {
    ok = co::cgi::detail::write_fully(writer.get(), FdKind::socket, data,
                                      co::deadline_after(std::chrono::milliseconds(50)), &written);
    err = errno;
  });
  co::run();
  CHECK_FALSE(ok);
  CHECK(err == EAGAIN);
  CHECK(written > 0);
  CHECK(written < data.size());
}

TEST_CASE("write_fully: a pipe is written with writev, a gone reader is EPIPE") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  co::UniqueFd out(p[1]), in(p[0]);
  CHECK(co::cgi::detail::fd_kind(out.get()) == FdKind::other);
  iovec two[2] = {{const_cast<char*>("ab"), 2}, {const_cast<char*>("cd"), 2}};
  CHECK(co::cgi::detail::write_fully(out.get(), FdKind::other, two, 2, co::kNoDeadline));
  char buf[8] = {};
  CHECK(::read(in.get(), buf, sizeof buf) == 4);
  CHECK(std::string(buf) == "abcd");
  in.reset();
  const auto old = ::signal(SIGPIPE, SIG_IGN);
  CHECK_FALSE(co::cgi::detail::write_fully(out.get(), FdKind::other, "x", co::kNoDeadline));
  CHECK(errno == EPIPE);
  ::signal(SIGPIPE, old);
}
