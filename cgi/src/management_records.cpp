#include "management_records.h"

#include <cstring>
#include <string_view>

#include "cofcgi/cgi/params.h"

namespace co::cgi::detail {
namespace {

// GET_VALUES: answer the variables we know, from the real settings; the spec leaves unknown
// names out of the answer.
bool append_get_values_result(const Record& record, const ServerOptions& options,
                              std::string& out) {
  const std::string max_conns = std::to_string(options.max_connections);
  const std::string max_reqs = std::to_string(options.max_requests_in_flight);
  char body[1024];
  std::size_t used = 0;
  ParamsReader reader(record.content);
  std::string_view name, value;
  PairStatus status;
  while ((status = reader.next(&name, &value)) == PairStatus::pair) {
    std::string_view answer;
    if (name == "FCGI_MAX_CONNS")
      answer = max_conns;
    else if (name == "FCGI_MAX_REQS")
      answer = max_reqs;
    else if (name == "FCGI_MPXS_CONNS")
      answer = "1";
    else
      continue;
    used += write_pair(body + used, sizeof body - used, name, answer);
  }
  if (status == PairStatus::truncated) return false;
  char header[kHeaderSize];
  const std::uint8_t padding = padding_for(used);
  write_header(header, RecordType::get_values_result, 0, static_cast<std::uint16_t>(used), padding);
  out.append(header, kHeaderSize);
  out.append(body, used);
  out.append(padding, '\0');
  return true;
}

}  // namespace

bool append_management_answer(const Record& record, const ServerOptions& options,
                              std::string& out) {
  if (record.type == static_cast<std::uint8_t>(RecordType::get_values)) {
    return append_get_values_result(record, options, out);
  }
  append_unknown_type(record.type, out);
  return true;
}

void append_unknown_type(std::uint8_t type, std::string& out) {
  char answer[kUnknownTypeSize];
  write_unknown_type(answer, type);
  out.append(answer, sizeof answer);
}

void append_end_request(std::uint16_t id, ProtocolStatus status, std::string& out) {
  char answer[kEndRequestSize];
  write_end_request(answer, id, 0, status);
  out.append(answer, sizeof answer);
}

}  // namespace co::cgi::detail
