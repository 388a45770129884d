// make_seeds CORPUS_DIR OUT_DIR: the seed corpus of the fuzz targets, from the readable
// Markdown corpus of the codec tests (tests/cgi/corpus/*.md, read with the tests' own
// parser, codec_test_util.h). Writes, after emptying them:
//   OUT_DIR/records/  the input of every `records` case
//   OUT_DIR/pairs/    the input of every `pairs` case, and the PARAMS and GET_VALUES streams
//                     (the contents of one request's records, joined) of every records case
//   OUT_DIR/stream/   every records case prefixed with read sizes (record_stream_fuzz.cpp):
//                     one read of it all, reads of 1 byte, and a few uneven sizes
//   OUT_DIR/connection/  whole conversations for connection_fuzz (connection_seeds.h)
// and OUT_DIR/stamp last (the build's output). Seeds are never committed: the .md is the
// source.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "codec_test_util.h"
#include "cofcgi/cgi/record.h"
#include "connection_seeds.h"

namespace {

namespace fs = std::filesystem;

std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if (alnum) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
    if (out.size() >= 48) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// The PARAMS and GET_VALUES streams of a record stream: contents joined per (type, id).
std::map<std::pair<int, int>, std::string> params_streams(const std::string& input) {
  std::map<std::pair<int, int>, std::string> out;
  std::size_t offset = 0;
  for (;;) {
    co::cgi::Record r;
    const auto res = co::cgi::parse_record(input.data() + offset, input.size() - offset, &r);
    if (res.status != co::cgi::ParseStatus::record) return out;
    if (r.type == static_cast<std::uint8_t>(co::cgi::RecordType::params) ||
        r.type == static_cast<std::uint8_t>(co::cgi::RecordType::get_values)) {
      out[{r.type, r.request_id}] += r.content;
    }
    offset += res.consumed;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  try {
    const fs::path out_dir = argv[2];
    fs::remove(out_dir / "stamp");
    for (const char* sub : {"records", "pairs", "stream", "connection"}) {
      fs::remove_all(out_dir / sub);
      fs::create_directories(out_dir / sub);
    }
    int n = 0, files = 0;
    for (const auto& c : codec_test::load_corpus(argv[1])) {
      char prefix[16];
      std::snprintf(prefix, sizeof prefix, "%03d-", ++n);
      const std::string name = prefix + slug(fs::path(c.file).stem().string() + " " + c.name);
      if (c.mode == "pairs") {
        write_file(out_dir / "pairs" / name, c.input);
        ++files;
        continue;
      }
      write_file(out_dir / "records" / name, c.input);
      const std::pair<const char*, std::string> reads[] = {
          {"-whole", std::string(1, '\0')},
          {"-bytes", std::string("\x01\x01", 2)},
          {"-uneven", std::string("\x04\x03\x08\x01\xc8", 5)},
      };
      for (const auto& [suffix, sizes] : reads) {
        write_file(out_dir / "stream" / (name + suffix), sizes + c.input);
      }
      files += 4;
      for (const auto& [key, stream] : params_streams(c.input)) {
        if (stream.empty()) continue;
        write_file(
            out_dir / "pairs" /
                (name + "-type" + std::to_string(key.first) + "-id" + std::to_string(key.second)),
            stream);
        ++files;
      }
    }
    for (const auto& [name, input] : connection_seeds::all()) {
      write_file(out_dir / "connection" / name, input);
      ++files;
    }
    write_file(out_dir / "stamp",
               std::to_string(files) + " seeds from " + std::to_string(n) + " corpus cases\n");
    std::printf("make_seeds: %d seeds from %d corpus cases in %s\n", files, n, argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
