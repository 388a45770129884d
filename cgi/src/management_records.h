// Answers to management records (request id 0) and to record types this server does not
// know, appended to the reader's batch of replies. No I/O here.
#pragma once

#include <cstdint>
#include <string>

#include "cofcgi/cgi/record.h"
#include "cofcgi/cgi/server_options.h"

namespace co::cgi::detail {

// append_management_answer appends GET_VALUES_RESULT (for GET_VALUES) or UNKNOWN_TYPE (for
// anything else) to `out`; false when a GET_VALUES body is malformed.
bool append_management_answer(const Record& record, const ServerOptions& options, std::string& out);
void append_unknown_type(std::uint8_t type, std::string& out);
void append_end_request(std::uint16_t id, ProtocolStatus status, std::string& out);

}  // namespace co::cgi::detail
