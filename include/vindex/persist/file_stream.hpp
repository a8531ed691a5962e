// vindex/persist/file_stream.hpp — snapshot streams over POSIX files, replaced atomically.
//
// `FileSerializer` never writes under the real name: it writes a temporary file beside it
// (`<path>.tmp.XXXXXX`), and only `commit()` flushes it with fsync, renames it over `path` and
// fsyncs the directory. A crash or an error before `commit()` leaves whatever was at `path` before,
// intact, and the destructor removes the temporary file. `FileDeserializer` reads a file with a
// buffer and knows how many bytes remain. POSIX only (Linux, macOS, BSD).
//
// Not synchronised: one thread per stream. Errors: Error(kIo) naming the path and the system error;
// reading past the end is Error(kCorruptData). Next: persist/chunked_stream.hpp.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/persist/serializer.hpp"

namespace vindex {

namespace detail {
inline Error io_error(const std::string& what, const std::string& path, int err) {
  return Error(ErrorCode::kIo, what + " '" + path + "': " + std::strerror(err));
}
}  // namespace detail

/// A Serializer that writes a file atomically: temporary name, fsync, rename on `commit()`.
class FileSerializer final : public Serializer {
 public:
  /// Creates the temporary file beside `path` (mode 0600). Throws kIo when it cannot.
  explicit FileSerializer(std::string path, std::size_t buffer_bytes = std::size_t{1} << 20)
      : path_(std::move(path)), temp_path_(path_ + ".tmp.XXXXXX") {
    buffer_.reserve(std::max<std::size_t>(buffer_bytes, 4096));
    fd_ = ::mkstemp(temp_path_.data());
    if (fd_ < 0) throw detail::io_error("cannot create a temporary file for", path_, errno);
  }
  FileSerializer(const FileSerializer&) = delete;
  FileSerializer& operator=(const FileSerializer&) = delete;

  /// Without a successful `commit()`, removes the temporary file; `path` keeps its old content.
  ~FileSerializer() override {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(temp_path_.c_str());
    }
  }

  /// Appends bytes (buffered). Throws kIo when the disk write fails or after `commit()`.
  void write(std::span<const std::byte> bytes) override {
    if (fd_ < 0) throw Error(ErrorCode::kIo, "write to '" + path_ + "' after commit or failure");
    if (buffer_.size() + bytes.size() > buffer_.capacity()) {
      flush_buffer();
      if (bytes.size() >= buffer_.capacity()) {
        write_all(bytes);
        return;
      }
    }
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  }

  /// Makes the file durable and visible under `path`: flush, fsync, close, rename, fsync the
  /// directory. Throws kIo on failure (then `path` still holds its previous content).
  void commit() {
    if (fd_ < 0) throw Error(ErrorCode::kIo, "commit of '" + path_ + "' after commit or failure");
    flush_buffer();
    if (::fsync(fd_) != 0) fail("cannot fsync", errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      const int err = errno;
      ::unlink(temp_path_.c_str());
      throw detail::io_error("cannot close", temp_path_, err);
    }
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
      const int err = errno;
      ::unlink(temp_path_.c_str());
      throw detail::io_error("cannot rename the temporary file onto", path_, err);
    }
    sync_directory();
  }

  /// The final name.
  const std::string& path() const noexcept { return path_; }
  /// The temporary name written until `commit()`.
  const std::string& temp_path() const noexcept { return temp_path_; }

 private:
  void flush_buffer() {
    write_all(buffer_);
    buffer_.clear();
  }

  void write_all(std::span<const std::byte> bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("cannot write", errno);
      }
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
  }

  [[noreturn]] void fail(const char* what, int err) {
    ::close(fd_);
    ::unlink(temp_path_.c_str());
    fd_ = -1;
    throw detail::io_error(what, temp_path_, err);
  }

  void sync_directory() const {
    const auto slash = path_.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw detail::io_error("cannot open the directory", dir, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) throw detail::io_error("cannot fsync the directory", dir, err);
  }

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  std::vector<std::byte> buffer_;
};

/// A Deserializer that reads a file through a buffer.
class FileDeserializer final : public Deserializer {
 public:
  /// Opens `path`. Throws kIo when it cannot be opened or examined.
  explicit FileDeserializer(std::string path, std::size_t buffer_bytes = std::size_t{1} << 20)
      : path_(std::move(path)), buffer_(std::max<std::size_t>(buffer_bytes, 4096)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw detail::io_error("cannot open", path_, errno);
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      ::close(fd_);
      throw detail::io_error("cannot stat", path_, err);
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  FileDeserializer(const FileDeserializer&) = delete;
  FileDeserializer& operator=(const FileDeserializer&) = delete;
  ~FileDeserializer() override { ::close(fd_); }

  /// Fills `out`; throws kCorruptData when the file ends first, kIo when reading fails.
  void read(std::span<std::byte> out) override {
    while (!out.empty()) {
      if (begin_ == end_) {
        if (out.size() >= buffer_.size()) {  // large reads bypass the buffer
          out = out.subspan(read_some(out));
          continue;
        }
        begin_ = 0;
        end_ = read_some(buffer_);
      }
      const std::size_t n = std::min(out.size(), end_ - begin_);
      std::memcpy(out.data(), buffer_.data() + begin_, n);
      begin_ += n;
      out = out.subspan(n);
    }
  }

  /// Bytes of the file not consumed yet.
  std::optional<std::uint64_t> remaining() const override {
    const std::uint64_t consumed = file_offset_ - (end_ - begin_);
    return size_ > consumed ? size_ - consumed : 0;
  }

 private:
  std::size_t read_some(std::span<std::byte> into) {
    for (;;) {
      const ssize_t n = ::read(fd_, into.data(), into.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw detail::io_error("cannot read", path_, errno);
      }
      if (n == 0)
        throw Error(ErrorCode::kCorruptData,
                    "file '" + path_ + "' ends at byte " + std::to_string(file_offset_));
      file_offset_ += static_cast<std::uint64_t>(n);
      return static_cast<std::size_t>(n);
    }
  }

  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t file_offset_ = 0;
  std::vector<std::byte> buffer_;
  std::size_t begin_ = 0, end_ = 0;
};

}  // namespace vindex
