// Specification of the persistence building blocks: CRC-32C, the byte-stream adapters (memory,
// atomic file, chunked) and the section framing of the snapshot format.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "support/snapshot_support.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using vindex_test::Bytes;

namespace {

Bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::byte>(rng() & 0xffu);
  return b;
}

std::string temp_dir() {
  std::string dir = "/tmp/vindex-persist-XXXXXX";
  REQUIRE(::mkdtemp(dir.data()) != nullptr);
  return dir;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

}  // namespace

TEST_CASE("CRC-32C gives the standard check values") {
  CHECK(crc32c("123456789") == 0xE3069283u);
  CHECK(crc32c("") == 0u);
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);  // RFC 3720 B.4: 32 bytes of zeros
  CHECK(crc32c(std::string(32, '\xff')) == 0x62A8AB43u);  // RFC 3720 B.4: 32 bytes of 0xFF
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[static_cast<std::size_t>(i)] = static_cast<char>(i);
  CHECK(crc32c(ascending) == 0x46DD794Eu);  // RFC 3720 B.4: bytes 0..31
  CHECK(crc32c_software(0, as_bytes("123456789")) == 0xE3069283u);
}

TEST_CASE("CRC-32C is the same in pieces, at any alignment, in software and hardware") {
  const Bytes data = random_bytes(1000, 7);
  const std::uint32_t whole = crc32c_software(0, data);
  CHECK(crc32c(0, data) == whole);
  for (std::size_t cut : {0u, 1u, 3u, 7u, 8u, 9u, 500u, 999u, 1000u}) {
    const std::span<const std::byte> all(data);
    CHECK(crc32c(crc32c(0, all.first(cut)), all.subspan(cut)) == whole);
    CHECK(crc32c_software(crc32c_software(0, all.first(cut)), all.subspan(cut)) == whole);
  }
  for (std::size_t start = 0; start < 16; ++start) {
    const auto part = std::span<const std::byte>(data).subspan(start, 100);
    CHECK(crc32c(0, part) == crc32c_software(0, part));
  }
}

TEST_CASE("little-endian fields have a fixed byte order") {
  std::array<std::byte, 8> b{};
  le::store(b.data(), std::uint32_t{0x04030201u});
  CHECK(b[0] == std::byte{1});
  CHECK(b[3] == std::byte{4});
  CHECK(le::load<std::uint32_t>(b.data()) == 0x04030201u);
  le::store(b.data(), std::uint64_t{0x0807060504030201ull});
  CHECK(b[7] == std::byte{8});
  CHECK(le::load<std::uint64_t>(b.data()) == 0x0807060504030201ull);
  const float f = 1.5f;  // 0x3FC00000
  le::store_floats(b.data(), std::span<const float>(&f, 1));
  CHECK(le::load<std::uint32_t>(b.data()) == 0x3FC00000u);
}

// The memory deserializer keeps a view: it refuses temporaries, which would dangle at once (a test
// once read a freed buffer this way).
static_assert(!std::is_constructible_v<MemoryDeserializer, std::vector<std::byte>>);
static_assert(!std::is_constructible_v<MemoryDeserializer, std::string>);
static_assert(std::is_constructible_v<MemoryDeserializer, std::vector<std::byte>&>);
static_assert(std::is_constructible_v<MemoryDeserializer, const std::string&>);

TEST_CASE("the memory streams round-trip bytes and refuse to read past the end") {
  MemorySerializer out;
  const Bytes data = random_bytes(300, 1);
  out.write(std::span<const std::byte>(data).first(100));
  out.write(std::span<const std::byte>(data).subspan(100));
  const Bytes written = out.take();
  CHECK(written == data);
  CHECK(out.bytes().empty());

  MemorySerializer reuse{Bytes(written)};  // a reused buffer starts empty
  reuse.write(std::span<const std::byte>(data).first(3));
  CHECK(reuse.bytes().size() == 3);

  MemoryDeserializer in(written);
  Bytes got(120);
  in.read(got);
  CHECK(*in.remaining() == 180);
  Bytes rest(200);
  CHECK_THROWS_AS(in.read(rest), Error);
  CHECK(*in.remaining() == 180);  // a failed read consumes nothing
  try {
    in.read(rest);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kCorruptData);
  }
}

TEST_CASE("the file serializer makes the file appear only on commit, atomically") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/index.vdx";
  const Bytes data = random_bytes(3'000'000, 2);  // larger than the write buffer
  {
    FileSerializer out(path);
    out.write(std::span<const std::byte>(data).first(10));
    out.write(std::span<const std::byte>(data).subspan(10));
    CHECK(::access(path.c_str(), F_OK) != 0);  // nothing under the real name yet
    CHECK(::access(out.temp_path().c_str(), F_OK) == 0);
    out.commit();
    CHECK(::access(out.temp_path().c_str(), F_OK) != 0);
    CHECK_THROWS_AS(out.write(std::span<const std::byte>(data).first(1)), Error);
  }
  const std::string content = read_file(path);
  REQUIRE(content.size() == data.size());
  CHECK(std::equal(data.begin(), data.end(), as_bytes(content).begin()));

  FileDeserializer in(path, 4096);
  CHECK(*in.remaining() == data.size());
  Bytes got(data.size());
  in.read(std::span<std::byte>(got).first(5));
  in.read(std::span<std::byte>(got).subspan(5, 5000));
  CHECK(*in.remaining() == data.size() - 5005);
  in.read(std::span<std::byte>(got).subspan(5005));
  CHECK(got == data);
  Bytes one(1);
  CHECK_THROWS_AS(in.read(one), Error);

  std::remove(path.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("an aborted file save never replaces the existing file and leaves no temporary behind") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/index.vdx";
  { std::ofstream(path) << "previous snapshot"; }
  std::string temp;
  {
    FileSerializer out(path);
    temp = out.temp_path();
    const Bytes data = random_bytes(5000, 3);
    out.write(data);
    // destroyed without commit: as if the save had thrown half-way
  }
  CHECK(read_file(path) == "previous snapshot");
  CHECK(::access(temp.c_str(), F_OK) != 0);
  std::remove(path.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("file streams report system errors as kIo naming the path") {
  try {
    FileSerializer out("/nonexistent-dir-vindex/x.vdx");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
    CHECK(std::string(e.what()).find("/nonexistent-dir-vindex/x.vdx") != std::string::npos);
  }
  CHECK_THROWS_AS(FileDeserializer("/nonexistent-dir-vindex/x.vdx"), Error);
}

TEST_CASE("the chunked streams move bytes in bounded chunks of any size") {
  const Bytes data = random_bytes(10'000, 4);
  for (std::size_t chunk : {1u, 3u, 7u, 64u, 999u, 4096u, 10'000u, 20'000u}) {
    std::vector<Bytes> chunks;
    ChunkedSerializer out(chunk, [&](std::span<const std::byte> c) { chunks.emplace_back(c.begin(), c.end()); });
    // odd write sizes, so chunks straddle writes
    std::size_t at = 0, step = 1;
    while (at < data.size()) {
      const std::size_t n = std::min(step, data.size() - at);
      out.write(std::span<const std::byte>(data).subspan(at, n));
      at += n;
      step = step * 3 % 1013 + 1;
    }
    out.finish();
    CHECK(out.chunks_emitted() == chunks.size());
    CHECK(chunks.size() == (data.size() + chunk - 1) / chunk);
    for (std::size_t i = 0; i + 1 < chunks.size(); ++i) CHECK(chunks[i].size() == chunk);

    std::size_t next = 0;
    ChunkedDeserializer in([&]() -> std::span<const std::byte> {
      if (next == chunks.size()) return {};
      return chunks[next++];
    });
    Bytes got(data.size());
    in.read(std::span<std::byte>(got).first(17));
    in.read(std::span<std::byte>(got).subspan(17));
    CHECK(got == data);
    CHECK(!in.remaining().has_value());
    Bytes one(1);
    CHECK_THROWS_AS(in.read(one), Error);
  }
}

TEST_CASE("a host chunk callback that throws becomes kIo") {
  ChunkedSerializer out(4, [](std::span<const std::byte>) { throw std::runtime_error("disk full"); });
  const Bytes data = random_bytes(8, 5);
  try {
    out.write(data);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
    CHECK(std::string(e.what()).find("disk full") != std::string::npos);
  }
  ChunkedDeserializer in([]() -> std::span<const std::byte> { throw std::runtime_error("read failed"); });
  Bytes one(1);
  try {
    in.read(one);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
  }
}

TEST_CASE("the section framing round-trips and checks every checksum") {
  using namespace snapshot;
  MemorySerializer out;
  SnapshotWriter writer(out);
  const Bytes a = random_bytes(100, 6);
  writer.section(fourcc("AAAA"), a, section_flag::kSkippable);
  writer.section(fourcc("BBBB"), {});
  writer.finish();
  const Bytes bytes = out.take();
  CHECK(bytes.size() == kHeaderBytes + (16 + 100 + 4) + (16 + 4) + (16 + 8 + 4));
  CHECK(writer.bytes_written() == bytes.size());

  MemoryDeserializer in(bytes);
  SnapshotReader reader(in);
  CHECK(reader.format_version() == kFormatVersion);
  const Section& s1 = reader.next();
  CHECK(s1.tag == fourcc("AAAA"));
  CHECK(s1.skippable());
  CHECK(Bytes(s1.payload.begin(), s1.payload.end()) == a);
  CHECK(reader.next().tag == fourcc("BBBB"));
  CHECK(!reader.finished());
  CHECK(reader.next().tag == tag::kEnd);
  CHECK(reader.finished());
  CHECK(*in.remaining() == 0);
  CHECK_THROWS_AS(reader.next(), Error);
}

TEST_CASE("an unknown section is skipped only when it says it may be") {
  using namespace snapshot;
  SnapshotReader::skip_unknown(Section{fourcc("NEW1"), section_flag::kSkippable, 0, 0, {}});
  try {
    SnapshotReader::skip_unknown(Section{fourcc("NEW2"), 0, 3, 77, {}});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kCorruptData);
    CHECK(std::string(e.what()).find("'NEW2' #3 at stream offset 77") != std::string::npos);
  }
}

TEST_CASE("a payload cursor checks counts against the bytes left before anything is allocated") {
  const Bytes payload = random_bytes(64, 8);
  PayloadCursor c(payload, {snapshot::fourcc("TEST"), 2, 1000});
  CHECK(c.check_count(16, 4, "items") == 16);
  CHECK_THROWS_AS(c.check_count(17, 4, "items"), Error);
  CHECK_THROWS_AS(c.check_count(std::uint64_t{1} << 62, 8, "items"), Error);  // would overflow
  CHECK_THROWS_AS(c.check_count(~std::uint64_t{0}, 1 << 20, "items"), Error);
  c.u64("first");
  try {
    c.bytes(57, "blob");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kCorruptData);
    const std::string what = e.what();
    CHECK(what.find("'TEST' #2") != std::string::npos);
    CHECK(what.find("payload byte 8") != std::string::npos);
    CHECK(what.find("stream offset 1008") != std::string::npos);
    CHECK(what.find("blob") != std::string::npos);
  }
  CHECK_THROWS_AS(c.expect_end(), Error);
  c.bytes(56, "rest");
  c.expect_end();
}
